-- setup() logs in once; every VU gets its own copy of the data; vu_init
-- runs once per VU; teardown(data) gets setup's data as it was.
options = { vus = 2, iterations = 6 }

function setup()
  local r = http.post(ENV.URL .. "/echo", "tok-123")
  return { token = r.body, n = 0 }
end

function vu_init(data)
  print("init\t" .. vu.id .. "\t" .. data.token)
end

function default(data)
  local r = http.get(ENV.URL .. "/echo", { headers = { ["X-Token"] = data.token } })
  data.n = data.n + 1
  print("iter\t" .. vu.id .. "\t" .. data.n .. "\t" .. (r.headers["x-echo-header"] or r.status))
end

function teardown(data)
  print("teardown\t" .. data.token .. "\t" .. data.n)
end
