-- k6-port.lua: a k6 script, ported line by line: groups, checks, a custom
-- Trend and Counter, tagged values, thresholds on built-in, custom and
-- tag-filtered metrics, and setup() data reaching every iteration.
--
--   import http from 'k6/http'; import { check, group, sleep } from 'k6';
--   import { Trend, Counter } from 'k6/metrics';
--   const step = new Trend('step_ms', true); const carts = new Counter('carts');
--   export const options = { vus: 5, duration: '10s', thresholds: {...} };
--   export function setup() { return { user: 'al' }; }
--   export default function (data) { group('browse', () => {...}); ... }
--
-- Run: volley run examples/k6-port.lua -e BASE_URL=http://127.0.0.1:8080
local base = ENV.BASE_URL or "http://127.0.0.1:8080"
local step = metrics.trend("step_ms")
local carts = metrics.counter("carts")

options = {
  vus = tonumber(ENV.VUS or "5"),
  duration = ENV.DURATION or "10s",
  thresholds = {
    http_req_duration = { "p(95)<500" },
    http_req_failed = { "rate<0.01" },
    checks = { "rate>0.99" },
    ["checks{group:::checkout}"] = { "rate==1" },
    step_ms = { "p(95)<500" },
    ["step_ms{step:browse}"] = { "avg<300" },
    carts = { "count>0" },
  },
}

function setup()
  return { user = "al" }
end

function default(data)
  group("browse", function()
    local t0 = now()
    local r = http.get(base .. "/health", { name = "home" })
    check(r, { ["status is 200"] = function(r) return r.status == 200 end })
    step:add(now() - t0, { step = "browse" })
  end)
  group("checkout", function()
    local t0 = now()
    local r = http.post(base .. "/echo", { user = data.user, items = 2 }, { name = "checkout" })
    check(r, {
      ["order echoed"] = function(r) return r:json().user == data.user end,
      ["json body"] = function(r) return r.headers["x-echo-method"] == "POST" end,
    })
    carts:add(1)
    step:add(now() - t0, { step = "checkout" })
  end)
  sleep(0.05)
end
