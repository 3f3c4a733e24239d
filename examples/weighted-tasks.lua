-- weighted-tasks.lua: locust-style weighted tasks. Each iteration picks one
-- task by weight: 50% chain (three dependent requests), 30% connector (a
-- WebSocket round trip), 15% streaming (a chunked /stream response), 5%
-- health. A counter per task shows the mix actually run.
-- Run: volley run examples/weighted-tasks.lua -e BASE_URL=http://127.0.0.1:8080
local base = ENV.BASE_URL or "http://127.0.0.1:8080"
local wsurl = base:gsub("^http", "ws") .. "/ws"
local picked = metrics.counter("task")

options = { vus = tonumber(ENV.VUS or "10"), duration = ENV.DURATION or "10s" }

local tasks = {
  { weight = 50, name = "chain", fn = function()
      local a = http.get(base .. "/health")
      local b = http.post(base .. "/echo", a.body)
      local c = http.get(base .. "/bytes/" .. #b.body)
      check(c, { ["chain ok"] = function(r) return r.status == 200 and #r.body == 2 end })
    end },
  { weight = 30, name = "connector", fn = function()
      local s = assert(ws.open(wsurl))
      s:send("connector", { rtt = true })
      check(s:recv(5), { ["connector echo"] = function(m) return m == "connector" end })
      s:close()
    end },
  { weight = 15, name = "streaming", fn = function()
      local r = http.get(base .. "/stream?chunks=5&interval_ms=10")
      check(r, { ["stream complete"] = function(r) return r.status == 200 and #r.body == 5 * 32 end })
    end },
  { weight = 5, name = "health", fn = function()
      check(http.get(base .. "/health"), { ["health 200"] = function(r) return r.status == 200 end })
    end },
}

local total = 0
for _, t in ipairs(tasks) do total = total + t.weight end

function default()
  local x = math.random() * total
  for _, t in ipairs(tasks) do
    x = x - t.weight
    if x < 0 then
      picked:add(1, { name = t.name })
      t.fn()
      break
    end
  end
  sleep(0.05)
end
