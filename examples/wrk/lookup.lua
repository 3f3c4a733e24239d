-- wrk script: setup() resolves the host, keeps the addresses that accept
-- a connection, and spreads the threads over them (thread.addr).
--   volley run -s lookup.lua http://localhost:8080/ -t2 -c2 -d5s
local addrs, n = nil, 0

function setup(thread)
  if not addrs then
    addrs = wrk.lookup(wrk.host, wrk.port or "http")
    for i = #addrs, 1, -1 do
      if not wrk.connect(addrs[i]) then table.remove(addrs, i) end
    end
    assert(#addrs > 0, "no address of " .. wrk.host .. " accepts connections")
  end
  n = n + 1
  thread.addr = addrs[(n - 1) % #addrs + 1]
end
