-- wrk script: every request is a POST with a JSON body and a header, set
-- once on the wrk table (wrk.format() builds the request from it).
--   volley run -s post.lua http://127.0.0.1:8080/echo -c2 -d5s
wrk.method = "POST"
wrk.body   = '{"item": 7}'
wrk.headers["Content-Type"] = "application/json"
