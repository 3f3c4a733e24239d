-- wrk script for bench/pipeline.sh: DEPTH GET requests written at once on
-- each connection (wrk's documented init/request pipelining pattern; wrk
-- writes the next batch when all DEPTH responses of the last one arrived).
-- usage: wrk ... -s bench/pipeline.lua URL -- DEPTH
init = function(args)
    local depth = tonumber(args[1]) or 16
    local r = {}
    for i = 1, depth do
        r[i] = wrk.format(nil, "/")
    end
    req = table.concat(r)
end

request = function()
    return req
end
