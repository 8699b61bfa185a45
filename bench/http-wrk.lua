-- wrk script of benchmark 3 (bench/http-wrk.js writes the requests and starts wrk with it):
--   wrk -t<n> -c<connections> -d<seconds>s --latency -s bench/http-wrk.lua <url> -- <file> <n> [status]
-- <file>: raw HTTP/1.1 requests, each followed by one NUL byte, all distinct (a request sent twice is
-- a refused replay). Thread i of n sends requests i, i+n, i+2n, ... in order; a thread that runs out
-- starts over, and every request it sends again counts in `reused`.
-- `status`: count the responses per status code in response() (wrk itself counts only those with a
-- status >= 400, in errors.status). It makes wrk call into Lua per response: ~0.2-0.5 µs of client
-- CPU per request on this machine; bench/http-wrk.js passes it unless HMAC_KIT_BENCH_WRK_STATUS=0.
-- done() prints one JSON line.

local threads = {}

function setup(thread)
  thread:set("thread_index", #threads)
  table.insert(threads, thread)
end

local pool = {}
local size = 0
local sent = 0
reused = 0
statuses = {}
init_cpu = 0

function init(args)
  local file = assert(io.open(args[1], "rb"))
  local data = file:read("*a")
  file:close()
  local stride = tonumber(args[2]) or 1
  local mine = thread_index or 0
  local position, index = 1, 0
  while true do
    local stop = string.find(data, "\0", position, true)
    if not stop then break end
    if index % stride == mine then
      size = size + 1
      pool[size] = string.sub(data, position, stop - 1)
    end
    index = index + 1
    position = stop + 1
  end
  data = nil
  collectgarbage()
  if args[3] == "status" then
    response = function(status)
      statuses[status] = (statuses[status] or 0) + 1
    end
  end
  -- CPU time of the process (all threads) once this thread is ready: done() subtracts it.
  init_cpu = os.clock()
end

-- Also called once by wrk before the run (to check the script): that request is never sent, and
-- only counts as one more used by this thread.
function request()
  sent = sent + 1
  if sent > size then
    reused = reused + 1
    return pool[(sent - 1) % size + 1]
  end
  return pool[sent]
end

function done(summary, latency, requests)
  local total_reused, ready = 0, 0
  local codes = {}
  for _, thread in ipairs(threads) do
    total_reused = total_reused + (thread:get("reused") or 0)
    ready = math.max(ready, thread:get("init_cpu") or 0)
    for code, count in pairs(thread:get("statuses") or {}) do
      codes[#codes + 1] = string.format('"%d":%d', code, count)
    end
  end
  local errors = summary.errors
  io.write(string.format(
    '{"requests":%d,"durationMicros":%d,"p50Micros":%d,"p99Micros":%d,"statusErrors":%d,'
      .. '"socketErrors":%d,"timeouts":%d,"reused":%d,"clientCpuSeconds":%.6f,"statusCodes":{%s}}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), errors.status,
    errors.connect + errors.read + errors.write, errors.timeout, total_reused, os.clock() - ready,
    table.concat(codes, ",")))
end
