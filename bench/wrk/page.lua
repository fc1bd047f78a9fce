-- Read load on one page: wrk sends the same GET (its URL, with the session cookie and any
-- other header given with -H); this script counts the answers by status code so that a
-- redirect to the login page or an error is never taken for a fast page.
dofile(os.getenv("WRK_LUA_DIR") .. "/common.lua")

statuses = {}

function setup(thread)
  remember(thread)
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  write_out(summary_table(summary, latency))
end
