-- locust-users.lua: a Locust file, ported. Two user classes (3 browsers
-- for every API client), each with weighted tasks, a wait time between
-- tasks, an on_start and an on_stop, as Locust's HttpUser, @task(N),
-- wait_time, on_start and on_stop. The browser's tasks run 50/30/15/5.
--
--   class Browser(HttpUser):            weight = 3
--       wait_time = between(0.01, 0.02)
--       def on_start(self): self.client.post("/echo", "login")
--       def on_stop(self): self.client.post("/echo", "logout", name="logout")
--       @task(50) def home(self): ...
--
-- Run: volley run examples/locust-users.lua -e BASE_URL=http://127.0.0.1:8080
local base = ENV.BASE_URL or "http://127.0.0.1:8080"
local picked = metrics.counter("task")

local Browser = user {
  weight = 3,
  wait = between(0.01, 0.02),
  on_start = function(self)
    self.token = http.post(base .. "/echo", "login-" .. vu.id).body
  end,
  on_stop = function(self)   -- once per browser, when the run ends
    http.post(base .. "/echo", "logout-" .. self.token, { name = "logout" })
  end,
  tasks = {
    home = { weight = 50, fn = function(self)
      picked:add(1, { name = "home" })
      check(http.get(base .. "/health", { name = "home" }), { ["home 200"] = function(r) return r.status == 200 end })
    end },
    item = { weight = 30, fn = function(self)
      picked:add(1, { name = "item" })
      http.get(base .. "/bytes/" .. rand(100, 200), { name = "item" })
    end },
    stream = { weight = 15, fn = function(self)
      picked:add(1, { name = "stream" })
      http.get(base .. "/stream?chunks=3&interval_ms=5", { name = "stream" })
    end },
    echo = { weight = 5, fn = function(self)
      picked:add(1, { name = "echo" })
      http.post(base .. "/echo", { token = self.token }, { name = "echo" })
    end },
  },
}

local ApiClient = user {
  weight = 1,
  wait = constant(0.02),
  tasks = { status = function() http.get(base .. "/status/204", { name = "api status" }) end },
}

options = {
  vus = tonumber(ENV.VUS or "8"),
  duration = ENV.DURATION or "10s",
  thresholds = { http_req_failed = { "rate<0.01" }, ["http_req_duration{name:home}"] = { "p(95)<500" } },
}

default = run_users({ Browser, ApiClient })
