-- mixed-workload.lua: HTTP and WebSocket users side by side, each scenario
-- reported separately. ENV.PRESET picks the size: light (default),
-- standard or stress. Run: volley run examples/mixed-workload.lua
--   -e PRESET=standard -e BASE_URL=http://127.0.0.1:8080
local base = ENV.BASE_URL or "http://127.0.0.1:8080"
local wsurl = base:gsub("^http", "ws") .. "/ws"

local presets = {
  light    = { api = 5,  chat = 2,  rate = 20,  duration = "5s" },
  standard = { api = 20, chat = 10, rate = 100, duration = "30s" },
  stress   = { api = 100, chat = 50, rate = 500, duration = "1m" },
}
local p = presets[ENV.PRESET or "light"] or error("PRESET must be light, standard or stress")

options = {
  scenarios = {
    api = { executor = "constant-vus", vus = p.api, duration = p.duration, exec = "api" },
    chat = { executor = "constant-vus", vus = p.chat, duration = p.duration, exec = "chat" },
    health = { executor = "constant-arrival-rate", rate = p.rate, duration = p.duration,
               preAllocatedVUs = 5, exec = "health" },
  },
  thresholds = { http_req_failed = { "rate<0.01" } },
}

function api()
  group("echo", function()
    local r = http.post(base .. "/echo", json.encode({ user = vu.id, n = vu.iteration }),
                        { headers = { ["Content-Type"] = "application/json" } })
    check(r, { ["echo 200"] = function(r) return r.status == 200 end,
               ["echo body"] = function(r) return r:json().user == vu.id end })
  end)
  sleep(0.1)
end

function chat()
  local s = assert(ws.open(wsurl))
  for i = 1, 3 do
    s:send("chat " .. i, { rtt = true })
    check(s:recv(5), { ["chat echo"] = function(m) return m == "chat " .. i end })
    sleep(0.2)
  end
  s:close()
end

function health()
  check(http.get(base .. "/health"), { ["health 200"] = function(r) return r.status == 200 end })
end
