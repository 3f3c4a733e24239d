-- Exercises the utility API; each value is printed as "name<TAB>value" for
-- the test to check.
local base = ENV.URL
local helper = require("lib.helper")
options = { vus = 1, iterations = 1 }

local function out(k, v) print(k .. "\t" .. tostring(v)) end

function default()
  local r = http.post(base .. "/echo", { item = 7, tags = { "a", "b" } }, { query = { q = "a b", z = 1 } })
  out("json_body", r.body)
  out("json_path", r.headers["x-echo-path"])
  out("ci_header", r.headers["X-ECHO-METHOD"])
  local f = http.post(base .. "/echo", { name = "al ice", n = 3 }, { form = true })
  out("form_body", f.body)
  out("b64", encoding.b64encode("hello?"))
  out("b64rawurl", encoding.b64encode("hello?", "rawurl"))
  out("b64dec", encoding.b64decode("aGVsbG8_"))
  out("urlenc", encoding.urlencode("a b&c/\195\169"))
  out("urldec", encoding.urldecode("a+b%26c"))
  out("sha256", crypto.sha256("abc"))
  out("md5", crypto.md5("abc"))
  out("hmac", crypto.hmac("sha256", "key", "The quick brown fox jumps over the lazy dog"))
  out("hmac_b64", crypto.hmac("sha256", "key", "x", "base64"))
  out("uuid", uuid())
  out("rand", rand())
  out("rand10", rand(10))
  out("rand56", rand(5, 6))
  out("math_random", math.random(1000000))
  local t0 = now()
  sleep(0.2)
  out("slept_ms", now() - t0)
  out("wallclock", wallclock())
  out("require", helper.greet("vu"))
  local rows = csv("notes.csv")
  out("csv_rows", #rows)
  out("csv_first_key", rows[1].id)
  out("csv_multiline", (rows[2].note:gsub("\n", "\\n")))
  out("csv_empty", rows[3].note)
end
