-- Writers: each wrk thread holds one connection and one logged-in technicien (run.py starts
-- wrk with as many threads as connections, since wrk's Lua callbacks are per thread, not per
-- connection). Each request posts the real new-request form (multipart, with the session's
-- CSRF token) for a new, unique assuré; an acknowledged submission is the 303 redirect to
-- the new request, recorded with the assuré's name so that run.py can look for it in the
-- database afterwards.
dofile(os.getenv("WRK_LUA_DIR") .. "/common.lua")

local sessions = nil
local assigned = 0

-- Main state: hand each thread its session (one line of $WRK_SESSIONS, tab-separated:
-- cookie, csrf token, caisse id, offer code, motif code, name tag).
function setup(thread)
  if sessions == nil then
    sessions = {}
    for line in io.lines(os.getenv("WRK_SESSIONS")) do
      local fields = {}
      for field in (line .. "\t"):gmatch("([^\t]*)\t") do fields[#fields + 1] = field end
      sessions[#sessions + 1] = fields
    end
  end
  assigned = assigned + 1
  local s = sessions[(assigned - 1) % #sessions + 1]
  thread:set("cookie", s[1])
  thread:set("token", s[2])
  thread:set("caisse", s[3])
  thread:set("offer", s[4])
  thread:set("motif", s[5])
  thread:set("tag", s[6])
  remember(thread)
end

-- Thread state.
statuses = {}
acked = {}    -- "id:name" of each acknowledged submission
refused = {}  -- "status:name" of each other answer
local counter = 0
local pending = nil
local boundary = "----epbench" .. tostring(os.time())

-- Names may not hold digits (the form refuses them): the counter is written in letters.
local function letters(n)
  local s = ""
  repeat
    local r = n % 26
    s = string.char(97 + r) .. s
    n = (n - r) / 26
  until n == 0
  return s
end

local function part(name, value)
  return "--" .. boundary .. "\r\nContent-Disposition: form-data; name=\"" .. name
    .. "\"\r\n\r\n" .. value .. "\r\n"
end

function request()
  counter = counter + 1
  pending = tag .. "x" .. letters(counter)
  local body = part("csrf_token", token)
    .. part("caisse", caisse)
    .. part("offer", offer)
    .. part("motif", motif)
    .. part("civilite", "Mme")
    .. part("nom", pending)
    .. part("prenom", "Charge")
    .. part("date_naissance", "1970-01-01")
    .. part("departement", "68")
    .. part("informed", "y")
    .. part("commentaire", "Demande du banc de charge : merci de ne pas la traiter.")
    -- an empty file input, as a browser sends it
    .. "--" .. boundary .. "\r\nContent-Disposition: form-data; name=\"pieces_jointes\"; "
    .. "filename=\"\"\r\nContent-Type: application/octet-stream\r\n\r\n\r\n"
    .. "--" .. boundary .. "--\r\n"
  return wrk.format("POST", nil, {
    ["Cookie"] = cookie,
    ["Content-Type"] = "multipart/form-data; boundary=" .. boundary,
  }, body)
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
  local location = headers["Location"] or headers["location"] or ""
  local id = location:match("/demandes/(%d+)")
  if status == 303 and id then
    acked[#acked + 1] = id .. ":" .. pending
  else
    refused[#refused + 1] = tostring(status) .. ":" .. (pending or "")
  end
  pending = nil
end

function done(summary, latency, requests)
  local all_acked, all_refused = {}, {}
  for _, thread in ipairs(threads) do
    for _, item in ipairs(thread:get("acked") or {}) do all_acked[#all_acked + 1] = item end
    for _, item in ipairs(thread:get("refused") or {}) do all_refused[#all_refused + 1] = item end
  end
  write_out(summary_table(summary, latency, { acked = all_acked, refused = all_refused }))
end
