-- wrk script: setup() numbers the threads, init() counts statuses per
-- thread, response() stops a thread after a limit (wrk.thread:stop()),
-- done() prints what each thread saw and the latency percentiles.
--   volley run -s report.lua http://127.0.0.1:8080/ -t2 -c4 -d10s -- 1000
local threads = {}

function setup(thread)
  thread:set("id", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  limit = tonumber(args[1]) or math.huge
  responses, statuses = 0, {}
end

function response(status, headers, body)
  responses = responses + 1
  statuses[status] = (statuses[status] or 0) + 1
  if responses >= limit then wrk.thread:stop() end
end

function done(summary, latency, requests)
  for _, t in ipairs(threads) do
    local s = t:get("statuses")
    io.write(string.format("thread %d: %d responses, %d x 200\n",
                           t:get("id"), t:get("responses"), s[200] or 0))
  end
  io.write(string.format("requests %d in %.2fs, %d bytes, errors: connect %d read %d status %d timeout %d\n",
                         summary.requests, summary.duration / 1e6, summary.bytes,
                         summary.errors.connect, summary.errors.read,
                         summary.errors.status, summary.errors.timeout))
  for _, p in ipairs({ 50, 90, 99, 99.9 }) do
    io.write(string.format("p%g %.1fus\n", p, latency:percentile(p)))
  end
  io.write(string.format("min %.1fus mean %.1fus stdev %.1fus max %.1fus\n",
                         latency.min, latency.mean, latency.stdev, latency.max))
end
