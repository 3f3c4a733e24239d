-- message-throughput.lua: how many WebSocket messages per second the echo
-- route sustains. Each VU keeps one connection and sends messages in
-- windows of WINDOW (pipelined), then reads the echoes; counts of sent and
-- received messages and the round trip of the first message of each window
-- are in the "ws" part of the summary. Run: volley run
--   examples/message-throughput.lua -e BASE_URL=http://127.0.0.1:8080
local base = ENV.BASE_URL or "http://127.0.0.1:8080"
local url = base:gsub("^http", "ws") .. "/ws"
local window = tonumber(ENV.WINDOW or "10")
local payload = string.rep("x", tonumber(ENV.SIZE or "64"))
local received = metrics.counter("echoes")

options = { vus = tonumber(ENV.VUS or "8"), duration = ENV.DURATION or "10s" }

local sockets = {} -- one per VU, kept across iterations

function default()
  local s = sockets[vu.id]
  if not s or s:state() ~= "open" then
    s = assert(ws.open(url))
    sockets[vu.id] = s
  end
  for i = 1, window do
    s:send(payload, { rtt = i == 1 })
  end
  for _ = 1, window do
    local m, err = s:recv(5)
    if not m then sockets[vu.id] = nil; error("recv: " .. err) end
    received:add(1)
  end
end
