-- volley prelude: the script API built on the C primitives in C.
local C = ...
local error, pcall, xpcall, type, tostring, setmetatable, pairs, ipairs =
      error, pcall, xpcall, type, tostring, setmetatable, pairs, ipairs
local co_running = coroutine.running

print = C.print
sleep = C.sleep

local Response = debug.getregistry()["volley.response"]
Response.__index = {
  json = function(self) return C.json_decode(self.body) end,
}

json = { decode = C.json_decode, encode = C.json_encode }

http = {}
function http.request(method, url, body, params) return C.http(method, url, body, params) end
function http.get(url, params) return C.http("GET", url, nil, params) end
function http.head(url, params) return C.http("HEAD", url, nil, params) end
function http.del(url, body, params) return C.http("DELETE", url, body, params) end
function http.post(url, body, params) return C.http("POST", url, body, params) end
function http.put(url, body, params) return C.http("PUT", url, body, params) end
function http.patch(url, body, params) return C.http("PATCH", url, body, params) end

-- group names are per VU (coroutine), since VUs interleave on one state
local groups = setmetatable({}, { __mode = "k" })
function group(name, fn)
  local co = co_running()
  local prev = groups[co]
  groups[co] = (prev and (prev .. "::") or "") .. tostring(name)
  local ok, r = pcall(fn)
  groups[co] = prev
  if not ok then error(r, 0) end
  return r
end

function check(value, sets, tags)
  if type(sets) ~= "table" then error("check: the second argument must be a table of functions", 2) end
  local g = groups[co_running()]
  local all = true
  for name, f in pairs(sets) do
    local pass
    if type(f) == "function" then
      local ok, r = pcall(f, value)
      pass = ok and r and true or false
    else
      pass = f and true or false
    end
    C.check(g and (g .. "::" .. tostring(name)) or tostring(name), pass)
    if not pass then all = false end
  end
  return all
end

local Metric = {}
Metric.__index = Metric
function Metric:add(v, tags) C.metric(self.kind, self.name, v, tags) end
metrics = {}
for _, k in ipairs({ "counter", "gauge", "rate", "trend" }) do
  metrics[k] = function(name)
    if type(name) ~= "string" then error("metrics." .. k .. ": the name must be a string", 2) end
    C.metric_decl(k, name)
    return setmetatable({ name = name, kind = k }, Metric)
  end
end

vu = setmetatable({}, {
  __index = function(_, k) return C.vu(k) end,
  __newindex = function() error("vu is read-only", 2) end,
})

local files = {}
function open(path)
  local v = files[path]
  if v == nil then v = C.readfile(path); files[path] = v end
  return v
end

local function csv_fields(line)
  local out, i, n = {}, 1, #line
  while i <= n + 1 do
    if line:sub(i, i) == '"' then
      local j, buf = i + 1, {}
      while j <= n do
        local c = line:sub(j, j)
        if c == '"' then
          if line:sub(j + 1, j + 1) == '"' then buf[#buf + 1] = '"'; j = j + 2
          else j = j + 1; break end
        else buf[#buf + 1] = c; j = j + 1 end
      end
      out[#out + 1] = table.concat(buf)
      i = j + 1
    else
      local j = line:find(",", i, true) or (n + 1)
      out[#out + 1] = line:sub(i, j - 1)
      i = j + 1
    end
  end
  return out
end

local csvs = {}
function csv(path)
  local rows = csvs[path]
  if rows then return rows end
  rows = {}
  local header
  for line in (open(path) .. "\n"):gmatch("([^\n]*)\n") do
    line = line:gsub("\r$", "")
    if line ~= "" then
      local f = csv_fields(line)
      if not header then header = f
      else
        local r = {}
        for i, h in ipairs(header) do r[h] = f[i] end
        rows[#rows + 1] = r
      end
    end
  end
  csvs[path] = rows
  return rows
end

-- WebSocket: blocking style on the C socket, and k6's callback style.
ws = { open = C.ws_open }
local Socket = {}
Socket.__index = Socket
function Socket:on(ev, fn) self._h[ev] = fn end
function Socket:send(msg, opts) return self._s:send(msg, opts) end
function Socket:ping() return self._s:ping() end
function Socket:close(code, reason) return self._s:close(code, reason) end
function Socket:setTimeout(fn, ms) self._timers[#self._timers + 1] = { at = C.now() + ms / 1000, fn = fn } end
function Socket:setInterval(fn, ms)
  self._timers[#self._timers + 1] = { at = C.now() + ms / 1000, fn = fn, every = ms / 1000 }
end

local function run_socket(sock)
  local s, h = sock._s, sock._h
  if h.open then h.open() end
  while true do
    local now, nexttime = C.now(), nil
    for _, t in ipairs(sock._timers) do
      if not nexttime or t.at < nexttime then nexttime = t.at end
    end
    local wait = nexttime and math.max(0, nexttime - now) or -1
    local kind, data = s:_event(wait)
    if kind == "message" then
      if h.message then h.message(data) end
    elseif kind == "close" then
      if h.close then h.close(data) end
      return
    elseif kind == "error" then
      if h.error then h.error(data) end
      if h.close then h.close(1006) end
      return
    else
      now = C.now()
      local due, keep = {}, {}
      for _, t in ipairs(sock._timers) do
        if t.at <= now then due[#due + 1] = t else keep[#keep + 1] = t end
      end
      sock._timers = keep
      for _, t in ipairs(due) do
        if t.every then t.at = now + t.every; keep[#keep + 1] = t end
        t.fn()
      end
    end
  end
end

function ws.connect(url, params, fn)
  if type(params) == "function" then fn, params = params, nil end
  local s, err = C.ws_open(url, params)
  if not s then
    return { status = 0, error = err, url = url }
  end
  local sock = setmetatable({ _s = s, _h = {}, _timers = {} }, Socket)
  local ok, e = pcall(function()
    if fn then fn(sock) end
    run_socket(sock)
  end)
  if not ok then
    pcall(s.close, s)
    error(e, 0)
  end
  return { status = 101, url = url }
end

-- The driver of a VU: one call of the scenario's function per iteration.
local function handler(e)
  if type(e) ~= "string" then e = tostring(e) end
  return e
end
return function(fn)
  while true do
    local ok, err = xpcall(fn, handler)
    C.iter_end(ok, err)
  end
end

