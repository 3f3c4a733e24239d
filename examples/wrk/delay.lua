-- wrk script: delay() spaces each connection's requests by 100 ms, so
-- one connection sends about ten requests a second.
--   volley run -s delay.lua http://127.0.0.1:8080/ -c1 -t1 -d3s
function delay()
  return 100
end
