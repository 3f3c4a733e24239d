-- wrk script: request() rotates over three paths, one per request in turn
-- (each wrk thread has its own counter). Run it unchanged:
--   wrk -t2 -c4 -d10s -s rotate.lua http://127.0.0.1:8080
--   volley run -s rotate.lua http://127.0.0.1:8080 -t2 -c4 -d10s
local paths = { "/health", "/echo", "/bytes/64" }
local n = 0

request = function()
  n = n + 1
  return wrk.format(nil, paths[(n - 1) % #paths + 1])
end
