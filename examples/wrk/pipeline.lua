-- wrk script: HTTP pipelining, as wrk's own example. init() builds one
-- string of three requests; request() returns it: the three leave in one
-- write on the connection and come back in order, three requests counted,
-- each with its own latency (volley's --pipeline machinery).
--   volley run -s pipeline.lua http://127.0.0.1:8080/ -t1 -c2 -d5s
init = function(args)
  local r = {}
  r[1] = wrk.format(nil, "/?foo")
  r[2] = wrk.format(nil, "/?bar")
  r[3] = wrk.format(nil, "/?baz")
  req = table.concat(r)
end

request = function()
  batches = (batches or 0) + 1
  return req
end

response = function(status, headers, body)
  responses = (responses or 0) + 1
end

local threads = {}
function setup(thread) threads[#threads + 1] = thread end

function done(summary, latency, requests)
  local r, b = 0, 0
  for _, t in ipairs(threads) do
    r, b = r + (t:get("responses") or 0), b + (t:get("batches") or 0)
  end
  print(string.format("pipelined %d responses in %d batches", r, b))
end
