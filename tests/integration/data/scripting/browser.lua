-- Cookies and redirects as a browser does them; prints "name<TAB>value".
local base = ENV.URL
options = { vus = 1, iterations = 2 }
local function out(k, v) print(k .. "\t" .. tostring(v)) end

function default()
  out("iter", vu.iteration)
  out("jar_at_start", http.cookies(base .. "/home").sid or "none")
  local r = http.post(base .. "/login", "user=al")
  out("login_status", r.status)
  out("login_url", r.url:gsub("^https?://[^/]+", ""))
  out("login_redirects", r.redirects)
  out("home_cookie", r.body)
  out("set_cookie_count", #(r.headers["Set-Cookie"] or {}))
  local o = http.get(base .. "/logout")
  out("after_logout", o.body)
  local l = http.get(base .. "/loop", { redirects = 3 })
  out("loop_status", l.status)
  out("loop_redirects", l.redirects)
  local n = http.get(base .. "/login", { redirects = 0 })
  out("no_follow_status", n.status)
  out("no_follow_set_cookies", #n.headers["set-cookie"])
  local p = http.post(base .. "/keep", "payload")
  out("keep_method_body", p.body)
  local nc = http.get(base .. "/home", { cookies = false })
  out("no_jar", nc.body)
end
