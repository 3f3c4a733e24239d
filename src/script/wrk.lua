-- wrk.lua: wrk's scripting API on volley's virtual users (see lua_wrk.c).
-- Loaded after the `wrk` table exists, in every state that runs a wrk
-- script: the checking state, each worker thread's state (C.http set) and
-- the main state of setup(thread) and done(). Returns the iteration a VU
-- (one of wrk's connections) runs, and the maker of thread objects.
local C = ...
local wrk = wrk
local sleep = sleep

-- wrk.format(method, path, headers, body): one HTTP/1.1 request as bytes,
-- from wrk's fields for whatever is nil; Host and Content-Length added.
function wrk.format(method, path, headers, body)
  method, path = method or wrk.method, path or wrk.path
  headers, body = headers or wrk.headers, body or wrk.body
  local lines, host = { method .. " " .. path .. " HTTP/1.1" }, nil
  for name, value in pairs(headers) do
    local l = name:lower()
    if l == "host" then host = true end
    if l ~= "content-length" then lines[#lines + 1] = name .. ": " .. tostring(value) end
  end
  if not host then table.insert(lines, 2, "Host: " .. wrk.host) end
  if body then lines[#lines + 1] = "Content-Length: " .. #body end
  return table.concat(lines, "\r\n") .. "\r\n\r\n" .. (body or "")
end

-- One or more requests (a pipeline: wrk.format(...) .. wrk.format(...))
-- split into each one's bytes, method and URL; the bytes are sent as the
-- script made them (C.http with params.raw; several: C.pipe, one write).
local RAW, RAW_NOBODY = { raw = true }, { raw = "discard" }
local base
-- who: how an error names the maker of s (the script's request() with its
-- file and line, or the default request).
local function parse_requests(s, who)
  if type(s) ~= "string" then error(who .. " returned " .. type(s) .. ", not a string", 0) end
  local out, pos = {}, 1
  while pos <= #s do
    local e = s:find("\r\n\r\n", pos, true)
    if not e then error(who .. ": not an HTTP request (no blank line after the headers)", 0) end
    local head = s:sub(pos, e - 1)
    local method, path = head:match("^(%S+)%s+(%S+)")
    if not method then error(who .. ": bad request line '" .. head:match("^[^\r\n]*") .. "'", 0) end
    local len = tonumber(head:match("\r\n[Cc][Oo][Nn][Tt][Ee][Nn][Tt]%-[Ll][Ee][Nn][Gg][Tt][Hh]:[ \t]*(%d+)")) or 0
    out[#out + 1] = { method = method, url = base .. path, bytes = s:sub(pos, e + 3 + len) }
    pos = e + 4 + len
  end
  if #out > C.PIPE_MAX then
    error(who .. ": " .. #out .. " requests in one string (a pipeline holds 1 to " .. C.PIPE_MAX .. ")", 0)
  end
  return out
end

local function request_site()
  local i = debug.getinfo(request, "S")
  local src = i.source:sub(1, 1) == "@" and i.source:sub(2) or i.short_src
  return "request() (" .. src .. ":" .. i.linedefined .. ")"
end

-- request() usually returns one of a few strings: each is parsed once.
local memo, nmemo = {}, 0
local function requests_of(s)
  local r = memo[s]
  if r then return r end
  r = parse_requests(s, request_site())
  if nmemo >= 256 then memo, nmemo = {}, 0 end
  memo[s], nmemo = r, nmemo + 1
  return r
end

local default_reqs
local function prepare()
  local addr = wrk.thread and wrk.thread.addr
  base = wrk.scheme .. "://" .. (addr and tostring(addr) or wrk.host .. ":" .. (wrk.port or 80))
  -- the default request, built once after init() (also as wrk.request())
  local raw = wrk.format()
  default_reqs = parse_requests(raw, "the default request (wrk.method, wrk.path, wrk.headers, wrk.body)")
  wrk.request = function() return raw end
end

-- One iteration of a VU: delay(), request(), the response to response().
local http_call, pipe_call = C.http, C.pipe
-- a response's headers (any case) from its raw string, as res.headers
local Response = debug.getregistry()["volley.response"]
local function headers_of(raw) return setmetatable({ _r = raw }, Response).headers end
local function iteration()
  if not base then prepare() end
  if delay then
    local ms = delay()
    if ms and ms > 0 then sleep(ms / 1000) end
  end
  local reqs = request and requests_of(request()) or default_reqs
  -- the body is kept only for a response() hook, as wrk does
  local params = response and RAW or RAW_NOBODY
  if #reqs == 1 then
    local q = reqs[1]
    local status, body, raw = http_call(q.method, q.url, q.bytes, params)
    -- wrk calls response() for responses only, not for failed requests.
    if response and status > 0 then response(status, headers_of(raw), body) end
    return
  end
  -- a pipeline: one write, the responses read back in order
  local res = { pipe_call(reqs, params) }
  if not response then return end
  for i = 1, #reqs do
    local status = res[3 * i - 2]
    if status > 0 then response(status, headers_of(res[3 * i]), res[3 * i - 1]) end
  end
end

-- The thread object of the worker's own state: its globals, and stop().
local Own = {}
Own.__index = Own
function Own:get(name) return _G[name] end
function Own:set(name, value) _G[name] = value end
function Own:stop() C.stop() end

-- A thread object of the main state (setup, done): values set before the
-- run are copied into the thread's state; get() after the run reads the
-- thread's globals as they were at its end.
local Main = {}
Main.__index = Main
function Main:get(name)
  if self._got and self._got[name] ~= nil then return self._got[name] end
  return self._sets[name]
end
function Main:set(name, value) self._sets[name] = value end
function Main:stop() end

return {
  iteration = iteration,
  own = function(addr) return setmetatable({ addr = addr }, Own) end,
  main = function(id, addr) return setmetatable({ id = id, addr = addr, _sets = {} }, Main) end,
}
