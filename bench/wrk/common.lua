-- Shared by page.lua and submit.lua (loaded with dofile from $WRK_LUA_DIR): a small JSON
-- writer and the summary that bench/run.py reads from $WRK_OUT when wrk is done.

local function encode(value)
  local kind = type(value)
  if kind == "table" then
    if #value > 0 or next(value) == nil then
      local items = {}
      for _, item in ipairs(value) do items[#items + 1] = encode(item) end
      return "[" .. table.concat(items, ",") .. "]"
    end
    local items = {}
    for key, item in pairs(value) do
      items[#items + 1] = encode(tostring(key)) .. ":" .. encode(item)
    end
    return "{" .. table.concat(items, ",") .. "}"
  elseif kind == "string" then
    return '"' .. value:gsub('[%c"\\]', function(c)
      return string.format("\\u%04x", c:byte())
    end) .. '"'
  elseif kind == "number" then
    return string.format("%.17g", value)
  elseif kind == "boolean" then
    return tostring(value)
  end
  return "null"
end

json_encode = encode

threads = {}

-- Runs in the main state once per thread (wrk's API); `threads` is read back in done().
function remember(thread)
  table.insert(threads, thread)
end

-- Every thread keeps `statuses` (status code -> count); this adds them up.
function sum_statuses()
  local total = {}
  for _, thread in ipairs(threads) do
    local counts = thread:get("statuses") or {}
    for code, n in pairs(counts) do
      total[tostring(code)] = (total[tostring(code)] or 0) + n
    end
  end
  return total
end

function summary_table(summary, latency, extra)
  local result = {
    duration_us = summary.duration,
    requests = summary.requests,
    bytes = summary.bytes,
    errors = {
      connect = summary.errors.connect,
      read = summary.errors.read,
      write = summary.errors.write,
      status = summary.errors.status,
      timeout = summary.errors.timeout,
    },
    latency_us = {
      min = latency.min,
      max = latency.max,
      mean = latency.mean,
      stdev = latency.stdev,
      p50 = latency:percentile(50),
      p90 = latency:percentile(90),
      p95 = latency:percentile(95),
      p99 = latency:percentile(99),
    },
    statuses = sum_statuses(),
  }
  for key, value in pairs(extra or {}) do result[key] = value end
  return result
end

function write_out(result)
  local path = os.getenv("WRK_OUT")
  if not path then return end
  local f = assert(io.open(path, "w"))
  f:write(json_encode(result))
  f:close()
end
