-- session-lifecycle.lua: the whole life of a session, step by step, as a
-- trend per step: create (POST /api/sessions), join (WebSocket upgrade),
-- talk, leave, delete (DELETE /api/sessions/{id}) and check that a second
-- delete is a 404. Iterations arrive at a fixed rate (open model).
-- Run: volley run examples/session-lifecycle.lua -e BASE_URL=http://127.0.0.1:8080
local base = ENV.BASE_URL or "http://127.0.0.1:8080"
local wsbase = base:gsub("^http", "ws")
local step = metrics.trend("lifecycle_step_ms")

options = {
  scenarios = {
    lifecycle = {
      executor = "constant-arrival-rate",
      rate = tonumber(ENV.RATE or "20"), timeUnit = "1s",
      duration = ENV.DURATION or "10s",
      preAllocatedVUs = 10, maxVUs = 50,
    },
  },
}

-- now() is monotonic wall time in milliseconds; os.clock() would be the
-- CPU time of the whole process, which a waiting step hardly uses.
local function timed(name, fn)
  local t0 = now()
  local r = fn()
  step:add(now() - t0, { step = name })
  return r
end

function default()
  local created = timed("create", function() return http.post(base .. "/api/sessions", nil) end)
  check(created, { ["create 201"] = function(r) return r.status == 201 end })
  local id = created:json().id
  local s = timed("join", function() return ws.open(wsbase .. "/ws/sessions/" .. id) end)
  check(s, { ["join ok"] = function(s) return s ~= nil end })
  if s then
    s:send("hello", { rtt = true })
    check(s:recv(5), { ["talk echo"] = function(m) return m == "hello" end })
    timed("leave", function() return s:close() end)
  end
  local del = timed("delete", function() return http.del(base .. "/api/sessions/" .. id) end)
  check(del, { ["delete 204"] = function(r) return r.status == 204 end })
  check(http.del(base .. "/api/sessions/" .. id), { ["gone 404"] = function(r) return r.status == 404 end })
end
