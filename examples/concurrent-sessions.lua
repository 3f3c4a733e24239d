-- concurrent-sessions.lua: many WebSocket sessions open at once.
-- Each VU creates a session (POST /api/sessions), joins it over WebSocket
-- (GET /ws/sessions/{id}), exchanges a few messages with round-trip times
-- measured (send(msg, {rtt = true})), holds the session open, then closes
-- it and deletes the session. Run: volley run examples/concurrent-sessions.lua
--   -e BASE_URL=http://127.0.0.1:8080 -e VUS=50 -e DURATION=30s
local base = ENV.BASE_URL or "http://127.0.0.1:8080"
local wsbase = base:gsub("^http", "ws")

options = {
  scenarios = {
    sessions = {
      executor = "constant-vus",
      vus = tonumber(ENV.VUS or "20"),
      duration = ENV.DURATION or "10s",
    },
  },
  thresholds = { checks = { "rate>0.99" } },
}

function default()
  local r = http.post(base .. "/api/sessions", nil)
  if not check(r, { ["session created"] = function(r) return r.status == 201 end }) then
    sleep(1)
    return
  end
  local id = r:json().id
  local s, err = ws.open(wsbase .. "/ws/sessions/" .. id)
  if not check(s, { ["joined"] = function(s) return s ~= nil end }) then
    error("join failed: " .. tostring(err))
  end
  for i = 1, 5 do
    local msg = string.format("vu %d msg %d", vu.id, i)
    s:send(msg, { rtt = true })
    check(s:recv(5), { ["echoed"] = function(m) return m == msg end })
    sleep(0.2) -- a user typing: the session stays open
  end
  s:close()
  http.del(base .. "/api/sessions/" .. id)
end
