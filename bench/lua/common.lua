-- Shared by the scenario scripts (loaded with dofile from each of them).
--
-- A pool is a file of lines (tokens or form bodies). Each line becomes one prebuilt request,
-- and each request takes the next one in turn, every wrk thread starting at its own place.
-- `response` counts answers by status class; `done` prints one parseable line:
--
--   BENCH requests=N duration_us=N rps=X p50_us=N p90_us=N p99_us=N max_us=N non2xx=N
--         s2xx=N s401=N s4xx=N s5xx=N sother=N status_errors=N connect_err=N read_err=N
--         write_err=N timeouts=N
--
-- (one line; `status_errors` is wrk's own count of statuses above 399).

local threads = {}

-- Several instances of a service: BENCH_ADDRS lists them (`host:port` separated by spaces),
-- and wrk thread i sends all its connections to instance i mod N. That is the benchmark's
-- round-robin over the instances, with no proxy in the measured path; the URL's host and
-- port are then only the Host header. Without BENCH_ADDRS every thread uses the URL's.
local addrs = {}
for hostport in (os.getenv("BENCH_ADDRS") or ""):gmatch("%S+") do
  local host, port = hostport:match("^(.+):(%d+)$")
  assert(host, "BENCH_ADDRS: not host:port: " .. hostport)
  addrs[#addrs + 1] = assert(wrk.lookup(host, port)[1], "BENCH_ADDRS: no address for " .. hostport)
end

function setup(thread)
  thread:set("tid", #threads)
  if #addrs > 0 then
    thread.addr = addrs[#threads % #addrs + 1]
  end
  threads[#threads + 1] = thread
end

local function read_pool(path)
  assert(path, "usage: wrk [options] -s SCRIPT URL POOL_FILE")
  local lines = {}
  for line in io.lines(path) do
    if line ~= "" then
      lines[#lines + 1] = line
    end
  end
  assert(#lines > 0, "empty pool: " .. path)
  return lines
end

-- Builds one request per line of the pool with `build(line)`.
function use_pool(path, build)
  local lines = read_pool(path)
  pool = {}
  for i, line in ipairs(lines) do
    pool[i] = build(line)
  end
  -- Threads start 37 lines apart, so they do not walk the pool in step.
  cursor = ((tid or 0) * 37) % #pool
end

function request()
  cursor = cursor % #pool + 1
  return pool[cursor]
end

s2xx, s401, s4xx, s5xx, sother = 0, 0, 0, 0, 0

function response(status, headers, body)
  if status >= 200 and status < 300 then
    s2xx = s2xx + 1
  elseif status == 401 then
    s401 = s401 + 1
  elseif status >= 400 and status < 500 then
    s4xx = s4xx + 1
  elseif status >= 500 then
    s5xx = s5xx + 1
  else
    sother = sother + 1
  end
end

function done(summary, latency, requests)
  local c = { s2xx = 0, s401 = 0, s4xx = 0, s5xx = 0, sother = 0 }
  for _, thread in ipairs(threads) do
    for name in pairs(c) do
      c[name] = c[name] + (tonumber(thread:get(name)) or 0)
    end
  end
  local e = summary.errors
  local seconds = summary.duration / 1e6
  io.write(string.format(
    "BENCH requests=%d duration_us=%d rps=%.2f p50_us=%d p90_us=%d p99_us=%d max_us=%d"
      .. " non2xx=%d s2xx=%d s401=%d s4xx=%d s5xx=%d sother=%d status_errors=%d"
      .. " connect_err=%d read_err=%d write_err=%d timeouts=%d\n",
    summary.requests, summary.duration, summary.requests / seconds,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    c.s401 + c.s4xx + c.s5xx + c.sother, c.s2xx, c.s401, c.s4xx, c.s5xx, c.sother, e.status,
    e.connect, e.read, e.write, e.timeout))
end
