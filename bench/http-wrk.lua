-- wrk script of benchmark 3 (bench/http-wrk.js writes the requests and starts wrk with it):
--   wrk -t<n> -c<connections> -d<seconds>s --latency -s bench/http-wrk.lua <url> -- <file> <n> [status]
-- <file>: raw HTTP/1.1 requests, each followed by one NUL byte, all distinct (a request sent twice is
-- a refused replay). Thread i of n sends requests i, i+n, i+2n, ... in order; a thread that runs out
-- starts over, and every request it sends again counts in `reused`.
-- `status`: count the responses per status code in response() (wrk itself counts only those with a
-- status >= 400, in errors.status). It makes wrk call into Lua per response: ~0.2-0.5 µs of client
-- CPU per request on this machine; bench/http-wrk.js passes it unless HMAC_KIT_BENCH_WRK_STATUS=0.
-- `rate=<requests per second>` (all threads): paced, at one fixed request rate instead of as fast as
-- the server answers. wrk asks delay() before every request of every connection (the first included);
-- each call takes the thread's next send slot, one every threads/rate seconds on a monotonic clock
-- (LuaJIT's ffi: clock_gettime), and waits until it (wrk's timers count whole milliseconds: the wait
-- is rounded to the nearest one, so at N req/s about N/1000 requests leave per millisecond tick; the
-- spacing of the slots, not the rounding, sets the rate). A slot up to CATCH_UP_MS late is still
-- taken (sent at once: a stall of the client or the server that short does not lower the rate);
-- older ones are dropped, not made up in a burst. At most <connections> requests are in flight, so the
-- asked rate can only be held while answers come back faster than connections / rate. What was held
-- is measured, not assumed: responses answered from the first slot to the last response
-- (`pacedAnswered`, `pacedMillis` in done()'s line; wrk's own duration also counts its start and
-- up to 100 ms of stopping), which bench/http.js compares with the rate asked.
-- done() prints one JSON line.

local threads = {}

function setup(thread)
  thread:set("thread_index", #threads)
  table.insert(threads, thread)
end

-- Pacing (the `rate=` argument): delay() is defined only then, as wrk sends as fast as it can
-- without one.
local CATCH_UP_MS = 10
local now_ms
local interval_ms, next_ms
paced_first_ms, paced_last_ms, paced_answered = 0, 0, 0
local function pace(rate)
  local ffi = require("ffi")
  ffi.cdef [[
    typedef struct { long tv_sec; long tv_nsec; } hmac_kit_timespec;
    int clock_gettime(int clock, hmac_kit_timespec *time);
  ]]
  local time = ffi.new("hmac_kit_timespec")
  now_ms = function()
    ffi.C.clock_gettime(1, time) -- CLOCK_MONOTONIC
    return tonumber(time.tv_sec) * 1000 + tonumber(time.tv_nsec) / 1e6
  end
  interval_ms = 1000 / rate
  delay = function()
    local now = now_ms()
    if next_ms == nil then
      next_ms = now
      paced_first_ms = now
    elseif next_ms < now - CATCH_UP_MS then
      next_ms = now - CATCH_UP_MS
    end
    local wait = next_ms - now
    next_ms = next_ms + interval_ms
    if wait <= 0 then return 0 end
    return math.floor(wait + 0.5)
  end
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
  local count_status = false
  for index = 3, #args do
    if args[index] == "status" then
      count_status = true
    elseif string.sub(args[index], 1, 5) == "rate=" then
      pace(tonumber(string.sub(args[index], 6)) / stride)
    end
  end
  if now_ms then
    response = function(status)
      paced_answered = paced_answered + 1
      paced_last_ms = now_ms()
      if count_status then statuses[status] = (statuses[status] or 0) + 1 end
    end
  elseif count_status then
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
  local answered, first_ms, last_ms = 0, nil, 0
  local codes = {}
  for _, thread in ipairs(threads) do
    total_reused = total_reused + (thread:get("reused") or 0)
    ready = math.max(ready, thread:get("init_cpu") or 0)
    answered = answered + (thread:get("paced_answered") or 0)
    local first = thread:get("paced_first_ms") or 0
    if first > 0 and (first_ms == nil or first < first_ms) then first_ms = first end
    last_ms = math.max(last_ms, thread:get("paced_last_ms") or 0)
    for code, count in pairs(thread:get("statuses") or {}) do
      codes[#codes + 1] = string.format('"%d":%d', code, count)
    end
  end
  local errors = summary.errors
  io.write(string.format(
    '{"requests":%d,"durationMicros":%d,"p50Micros":%d,"p99Micros":%d,"statusErrors":%d,'
      .. '"socketErrors":%d,"timeouts":%d,"reused":%d,"clientCpuSeconds":%.6f,"statusCodes":{%s},'
      .. '"pacedAnswered":%d,"pacedMillis":%.3f}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), errors.status,
    errors.connect + errors.read + errors.write, errors.timeout, total_reused, os.clock() - ready,
    table.concat(codes, ","), answered, first_ms and math.max(0, last_ms - first_ms) or 0))
end
