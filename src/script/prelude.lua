-- volley prelude: the script API built on the C primitives in C.
local C = ...
local error, pcall, xpcall, type, tostring, setmetatable, pairs, ipairs =
      error, pcall, xpcall, type, tostring, setmetatable, pairs, ipairs
local co_running = coroutine.running

print = C.print
sleep = C.sleep

-- Response headers answer in any case: r.headers["content-type"].
local CIHeaders = {
  __index = function(t, k)
    if type(k) ~= "string" then return nil end
    local lk = k:lower()
    for name, v in pairs(t) do
      if type(name) == "string" and name:lower() == lk then return v end
    end
    return nil
  end,
}

local Response = debug.getregistry()["volley.response"]
local methods = {
  json = function(self) return C.json_decode(self.body) end,
}
-- res.headers, res.timings and res.method are built on first use from the
-- raw string _r that the C side leaves (most scripts never read them), and
-- kept; res.redirects is set only when there were some (C.response_index).
Response.__index = C.response_index(CIHeaders, methods)

json = { decode = C.json_decode, encode = C.json_encode }


http = {}

local function sorted_keys(t)
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = tostring(k) end
  table.sort(keys)
  return keys
end

-- k=v&k2=v2 in sorted key order (a list value repeats its key).
local function form_encode(t)
  local out = {}
  for _, k in ipairs(sorted_keys(t)) do
    local v = t[k]
    if type(v) == "table" then
      for _, x in ipairs(v) do
        out[#out + 1] = encoding.urlencode(k) .. "=" .. encoding.urlencode(tostring(x))
      end
    else
      out[#out + 1] = encoding.urlencode(k) .. "=" .. encoding.urlencode(tostring(v))
    end
  end
  return table.concat(out, "&")
end

local function header_of(headers, name)
  if not headers then return nil end
  local ln = name:lower()
  for k, v in pairs(headers) do
    if type(k) == "string" and k:lower() == ln then return v end
  end
  return nil
end

-- A table body is JSON (Content-Type: application/json unless given), or
-- a form (application/x-www-form-urlencoded) with params.form = true or
-- that Content-Type; params.query = {...} is appended to the URL encoded.
local function prepare(url, body, params)
  if type(params) ~= "table" then
    if params ~= nil then error("http: params must be a table", 3) end
    params = nil
  end
  if params and params.query ~= nil then
    if type(params.query) ~= "table" then error("http: params.query must be a table", 3) end
    local q = form_encode(params.query)
    if q ~= "" then url = url .. (url:find("?", 1, true) and "&" or "?") .. q end
  end
  if type(body) == "table" then
    local ctype = params and header_of(params.headers, "Content-Type")
    local form = (params and params.form) or
                 (ctype and ctype:lower():find("application/x-www-form-urlencoded", 1, true))
    local headers = {}
    if params and params.headers then
      for k, v in pairs(params.headers) do headers[k] = v end
    end
    if form then
      body = form_encode(body)
      if not ctype then headers["Content-Type"] = "application/x-www-form-urlencoded" end
    else
      body = C.json_encode(body)
      if not ctype then headers["Content-Type"] = "application/json" end
    end
    local p = {}
    if params then for k, v in pairs(params) do p[k] = v end end
    p.headers = headers
    params = p
  elseif body ~= nil and type(body) ~= "string" then
    error("http: the body must be a string or a table, not a " .. type(body), 3)
  end
  return url, body, params
end

-- ---- cookies: one jar per VU, emptied at the start of each iteration
-- (k6's default) unless the VU called http.keep_cookies(true) ----
local jars = setmetatable({}, { __mode = "k" })
-- Until some VU of this worker gets a cookie there is no jar to look up
-- (saves a coroutine.running per request and per iteration).
local any_jar = false
local keep_jar = setmetatable({}, { __mode = "k" })
local vu_stops = {}   -- vu.id -> its user's on_stop (run_users)

local function url_parts(url)
  local scheme, host, path = url:match("^(%a[%w+.-]*)://([^/?#]*)([^#]*)")
  host = host and host:gsub("^.*@", ""):gsub(":%d+$", ""):lower()
  if not path or path == "" then path = "/" end
  if path:sub(1, 1) == "?" then path = "/" .. path end
  return scheme, host, path
end

-- http.batch's helper coroutines use the jar of the VU they work for.
local jar_alias = setmetatable({}, { __mode = "k" })
local function jar_key()
  local co = co_running()
  return jar_alias[co] or co
end

local function jar_of()
  local co = jar_key()
  local j = jars[co]
  if not j then j = {}; jars[co] = j; any_jar = true end
  return j
end

local function remember_cookies(url, set_cookie)
  if type(set_cookie) ~= "table" then return end
  local _, host, path = url_parts(url)
  local jar = jar_of()
  for _, line in ipairs(set_cookie) do
    local name, value = line:match("^%s*([^=;%s]+)%s*=%s*([^;]*)")
    if name then
      local c = { name = name, value = value, domain = host, host_only = true,
                  path = path:match("^(.*)/") or "/" }
      if c.path == "" then c.path = "/" end
      local expired = false
      for attr in line:gmatch(";%s*([^;]+)") do
        local k, v = attr:match("^([^=]+)=?(.*)$")
        k = k:lower():gsub("%s+$", "")
        if k == "domain" and v ~= "" then c.domain = v:gsub("^%.", ""):lower(); c.host_only = false
        elseif k == "path" and v:sub(1, 1) == "/" then c.path = v
        elseif k == "secure" then c.secure = true
        elseif k == "max-age" then expired = (tonumber(v) or 1) <= 0
        elseif k == "expires" then
          local y = tonumber(v:match("(%d%d%d%d)"))
          if y and y < 2000 then expired = true end
        end
      end
      local key = c.domain .. "\0" .. c.path .. "\0" .. name
      if expired then jar[key] = nil else jar[key] = c end
    end
  end
end

local function cookie_header(url)
  local jar = jars[jar_key()]
  if not jar then return nil end
  local scheme, host, path = url_parts(url)
  local out = {}
  for _, c in pairs(jar) do
    local dom_ok = host == c.domain or
                   (not c.host_only and host:sub(-#c.domain - 1) == "." .. c.domain)
    local path_ok = path:sub(1, #c.path) == c.path
    if dom_ok and path_ok and (not c.secure or scheme == "https" or scheme == "wss") then
      out[#out + 1] = c
    end
  end
  if #out == 0 then return nil end
  table.sort(out, function(a, b)
    if #a.path ~= #b.path then return #a.path > #b.path end
    return a.name < b.name
  end)
  local parts = {}
  for i, c in ipairs(out) do parts[i] = c.name .. "=" .. c.value end
  return table.concat(parts, "; ")
end

function http.keep_cookies(on) keep_jar[jar_key()] = on and true or nil end
function http.cookies(url)
  local h = cookie_header(url)
  local t = {}
  if h then for k, v in h:gmatch("([^=; ]+)=([^;]*)") do t[k] = v end end
  return t
end
function http.clear_cookies() jars[jar_key()] = nil end

-- ---- redirects: params.redirects (default 10, as k6, or volley run
-- --redirects) hops, each one a request of its own in the numbers; the
-- next hop (Location, method) is proto/redirect's, as for URL runs ----
local REDIRECT = { [301] = true, [302] = true, [303] = true, [307] = true, [308] = true }

local http_call = C.http
local http_get = C.http_getter(Response)
-- r0, cookie0: the first response when the caller made the call already
-- (http.get's plain path), to go on with its cookie or redirect.
local function request(method, url, body, params, r0, cookie0)
  if type(url) ~= "string" then
    error("http." .. method:lower() .. ": the URL must be a string, not a " .. type(url), 3)
  end
  if body ~= nil or params ~= nil then url, body, params = prepare(url, body, params) end
  local max = params and params.redirects
  if max == nil then max = C.redirect() end
  local use_jar = not (params and params.cookies == false)
  local hops = 0
  while true do
    local p, r, cookie = params, r0, cookie0
    r0, cookie0 = nil, nil
    -- A VU with no cookies (the usual case) has no jar: nothing to add.
    if r then -- made by the caller
    elseif use_jar and any_jar and jars[jar_key()] and not (params and header_of(params.headers, "Cookie")) then
      local ch = cookie_header(url)
      if ch then
        p = {}
        if params then for k, v in pairs(params) do p[k] = v end end
        local h = {}
        if params and params.headers then for k, v in pairs(params.headers) do h[k] = v end end
        h["Cookie"] = ch
        p.headers = h
      end
    end
    if not r then
      local status, rbody, raw, err, code, trunc
      status, rbody, raw, cookie, err, code, trunc = http_call(method, url, body, p)
      -- url, proto (and timings, headers, method) are read from _r
      if err == nil and trunc == nil then
        r = setmetatable({ status = status, body = rbody, _r = raw }, Response)
      else
        r = setmetatable({ status = status, body = rbody, _r = raw, error = err,
                           error_code = code, truncated = trunc }, Response)
      end
    end
    -- r.headers is built (lazily, with CIHeaders) only when something
    -- reads it: here only when the response set a cookie or redirects.
    if use_jar and cookie then
      remember_cookies(url, r.headers["Set-Cookie"])
    end
    local loc = hops < max and REDIRECT[r.status] and r.headers["Location"]
    local next_url, next_method, keep_body
    if loc then next_url, next_method, keep_body = C.redirect(r.status, method, url, loc) end
    if not next_url then
      if hops > 0 then r.redirects = hops end
      return r
    end
    hops = hops + 1
    url, method = next_url, next_method
    -- 303, and 301/302 after a POST, become GET without a body (browsers).
    if not keep_body then body = nil end
  end
end

function http.request(method, url, body, params) return request(method, url, body, params) end
function http.get(url, params)
  -- The plain case (no params, no cookie jar in this worker yet): one
  -- call here; request() only for a redirect or a cookie.
  if params == nil and not any_jar then
    -- the response made in C; more: 1 a cookie, 2 a redirect, 3 url is
    -- not a string (request() raises the error)
    local r, more = http_get(url)
    if not more then return r end
    return request("GET", url, nil, nil, r, more == 1)
  end
  return request("GET", url, nil, params)
end
function http.head(url, params) return request("HEAD", url, nil, params) end
function http.del(url, body, params) return request("DELETE", url, body, params) end
function http.post(url, body, params) return request("POST", url, body, params) end
function http.put(url, body, params) return request("PUT", url, body, params) end
function http.patch(url, body, params) return request("PATCH", url, body, params) end

-- http.batch: up to options.batch helpers (lua_batch.c) take the requests
-- in turn, each on a connection of its own, at most options.batchPerHost
-- to one host at a time; results come back in the order given.
local function batch_worker(list, results, parent)
  jar_alias[co_running()] = parent
  local i
  while true do
    i = C.batch_next(i)
    if not i then break end
    local q = list[i]
    local ok, r = pcall(request, q[1], q[2], q[3], q[4])
    results[i] = ok and r or { raised = tostring(r) }
  end
  C.batch_park()
end

-- One request of a batch: a URL, k6's array { method, url, body, params }
-- or a table { method =, url =, body =, params = }.
local function batch_item(k, q)
  if type(q) == "string" then return { "GET", q } end
  if type(q) ~= "table" then
    error("http.batch: request " .. tostring(k) .. " must be a URL or a table", 3)
  end
  if q.url or q.method then return { (q.method or "GET"):upper(), q.url, q.body, q.params } end
  return { tostring(q[1] or "GET"):upper(), q[2], q[3], q[4] }
end

function http.batch(reqs)
  if type(reqs) ~= "table" then error("http.batch: expects a table of requests", 2) end
  local keys, list = {}, {}
  if #reqs > 0 then
    for i = 1, #reqs do keys[i] = i end
  else
    for k in pairs(reqs) do keys[#keys + 1] = k end
    table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
  end
  -- batchPerHost counts by host[:port] of the URL, as k6 does
  local hosts, ids, nh = {}, {}, 0
  for i, k in ipairs(keys) do
    local q = batch_item(k, reqs[k])
    list[i] = q
    local h = type(q[2]) == "string" and q[2]:match("^%a[%w+.-]*://([^/?#]*)") or ""
    h = h:gsub("^.*@", ""):lower()
    if not ids[h] then nh = nh + 1; ids[h] = nh end
    hosts[i] = ids[h]
  end
  local results = {}
  C.batch(#list, batch_worker, list, results, hosts)
  local out = {}
  for i, k in ipairs(keys) do
    local r = results[i]
    if r == nil or r.raised then
      error("http.batch: request " .. tostring(k) .. ": " .. tostring(r and r.raised or "not run"), 2)
    end
    out[k] = r
  end
  return out
end

-- group names are per VU (coroutine), since VUs interleave on one state;
-- groups[1]: how many group() calls are running in this state (0 or nil:
-- check() looks up no group)
local groups = setmetatable({}, { __mode = "k" })
function group(name, fn)
  local co = co_running()
  local prev = groups[co]
  groups[co] = (prev and (prev .. "::") or "") .. tostring(name)
  groups[1] = (groups[1] or 0) + 1
  local ok, r = pcall(fn)
  groups[1] = groups[1] - 1
  groups[co] = prev
  if not ok then error(r, 0) end
  return r
end

-- check(value, sets, tags): in C (C.checker), one call per check; it reads
-- the VU's group from this table.
check = C.checker(groups)

local Metric = {}
Metric.__index = Metric
local metric_id = C.metric_id
-- _id: the metric's place in this worker's results (metric_decl), so that
-- an untagged add is one C call with no lookup by name.
function Metric:add(v, tags)
  local id = self._id
  if id and tags == nil then metric_id(id, v) else C.metric(self.kind, self.name, v, tags) end
end
metrics = {}
for _, k in ipairs({ "counter", "gauge", "rate", "trend" }) do
  metrics[k] = function(name)
    if type(name) ~= "string" then error("metrics." .. k .. ": the name must be a string", 2) end
    local id = C.metric_decl(k, name)
    local m = setmetatable({ name = name, kind = k, _id = id }, Metric)
    -- its own add (C): m:add(v) is one C call, no Lua method call
    m.add = C.metric_adder(m, id, Metric.add)
    return m
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

-- RFC 4180: quoted fields may hold commas, doubled quotes and newlines;
-- a UTF-8 byte order mark at the start is dropped; CRLF or LF rows.
local function csv_rows(text)
  if text:sub(1, 3) == "\239\187\191" then text = text:sub(4) end
  local rows, row, field, i, n = {}, {}, {}, 1, #text
  local quoted = false
  while i <= n do
    local c = text:sub(i, i)
    if quoted then
      if c == '"' then
        if text:sub(i + 1, i + 1) == '"' then field[#field + 1] = '"'; i = i + 1
        else quoted = false end
      else field[#field + 1] = c end
    elseif c == '"' then quoted = true
    elseif c == "," then row[#row + 1] = table.concat(field); field = {}
    elseif c == "\n" or c == "\r" then
      if c == "\r" and text:sub(i + 1, i + 1) == "\n" then i = i + 1 end
      row[#row + 1] = table.concat(field); field = {}
      if not (#row == 1 and row[1] == "") then rows[#rows + 1] = row end
      row = {}
    else field[#field + 1] = c end
    i = i + 1
  end
  if quoted then error("csv: a quoted field is not closed at the end of the file", 3) end
  if #field > 0 or #row > 0 then
    row[#row + 1] = table.concat(field)
    rows[#rows + 1] = row
  end
  return rows
end

-- shared(name, loader): k6's SharedArray. The loader runs once in the
-- process; every VU of every thread reads the same rows through a
-- read-only proxy (#rows, rows[i], ipairs). csv(file) in a loader is parsed
-- straight into the shared store.
local SHARED, CSV_MARKER = __volley_shared, __volley_csv_marker
__volley_shared, __volley_csv_marker = nil, nil
local shared_loading = false
local script_dir = debug.getregistry()["volley.dir"] or ""
function shared(name, loader)
  if type(name) ~= "string" then error("shared: the name must be a string", 2) end
  if type(loader) ~= "function" then error("shared: the loader must be a function", 2) end
  return SHARED(name, function()
    shared_loading = true
    local ok, r = pcall(loader)
    shared_loading = false
    if not ok then error(r, 0) end
    return r
  end)
end

local csvs = {}
function csv(path)
  if shared_loading then
    if path:sub(1, 1) ~= "/" and script_dir ~= "" then path = script_dir .. "/" .. path end
    return CSV_MARKER(path)
  end
  local rows = csvs[path]
  if rows then return rows end
  rows = {}
  local all = csv_rows(open(path))
  local header = all[1] or {}
  for r = 2, #all do
    local t = {}
    for i, h in ipairs(header) do t[h] = all[r][i] end
    rows[#rows + 1] = t
  end
  csvs[path] = rows
  return rows
end

-- ---- Locust-style users: classes with a weight, a wait time, weighted
-- tasks and on_start; run_users(...) makes the function a scenario runs ----
function between(lo, hi)
  return function() return lo + rand() * (hi - lo) end
end
function constant(s) return function() return s end end
-- constant_pacing(s): each iteration takes s in all, task time included.
function constant_pacing(s) return function(_, took) return math.max(0, s - took) end end

function user(def)
  if type(def) ~= "table" or type(def.tasks) ~= "table" then
    error("user: expects { tasks = {...}, weight = N, wait = between(a, b), on_start = fn }", 2)
  end
  local cls = { weight = def.weight or 1, wait = def.wait, on_start = def.on_start,
                on_stop = def.on_stop,
                name = def.name, tasks = {}, total = 0 }
  for k, t in pairs(def.tasks) do
    local fn, w = t, 1
    if type(t) == "table" then fn, w = t.fn or t[1], t.weight or t[2] or 1 end
    if type(fn) ~= "function" then error("user: task " .. tostring(k) .. " is not a function", 2) end
    cls.tasks[#cls.tasks + 1] = { fn = fn, weight = w, name = type(k) == "string" and k or nil }
    cls.total = cls.total + w
  end
  table.sort(cls.tasks, function(a, b) return (a.name or "") < (b.name or "") end)
  return cls
end

-- Each VU is one user of one class, chosen by weight from its VU id (so
-- the mix of classes follows the weights exactly); on_start runs once in
-- the VU; each iteration runs one task picked by weight, then waits.
function run_users(classes)
  local total = 0
  for _, c in ipairs(classes) do total = total + c.weight end
  local selves = {}
  return function(data)
    local id = vu.id
    local me = selves[id]
    if not me then
      local slot, cls = (id - 1) % total, classes[1]
      for _, c in ipairs(classes) do
        if slot < c.weight then cls = c; break end
        slot = slot - c.weight
      end
      me = { class = cls, data = data }
      selves[id] = me
      if cls.on_stop then
        local stop = cls.on_stop
        vu_stops[id] = function() stop(me) end
        debug.getregistry()["volley.want_stop"] = true
      end
      if cls.on_start then cls.on_start(me) end
    end
    local cls = me.class
    local t0 = now()
    local x = rand() * cls.total
    for _, t in ipairs(cls.tasks) do
      x = x - t.weight
      if x < 0 then t.fn(me); break end
    end
    if cls.wait then
      local w = cls.wait(me, (now() - t0) / 1000)
      if w and w > 0 then sleep(w) end
    end
  end
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

-- Per-VU stop hooks (Locust's on_stop): vu_stop(data) if the script
-- defines it, and the on_stop of the VU's user class (run_users).
local function stop_hook(d)
  if type(vu_stop) == "function" then vu_stop(d) end
  local f = vu_stops[vu.id]
  if f then f() end
end

-- The driver of a VU: one call of the scenario's function per iteration.
local function handler(e)
  if type(e) ~= "string" then e = tostring(e) end
  return e
end
local function clear_jar()
  local co = co_running()
  if jars[co] and not keep_jar[co] then jars[co] = nil end
end
-- A scenario's iterations one after another under one xpcall (an xpcall
-- per iteration was ~400 instructions of a minimal script's request);
-- returns when C.iter_end says the scenario is over. The cookie jar is
-- emptied before each iteration but the first (the driver did that one).
local iter_end = C.iter_end
local function iterate(fn, data)
  while true do
    fn(data)
    if iter_end(true) == true then return end
    if any_jar then clear_jar() end
  end
end
-- Run without its line information (and its upvalues joined again), so
-- that error(msg, 2) in the VU function gets no "volley:N:" position, as
-- when xpcall (a C function) called it.
do
  local bare = load(string.dump(iterate, true), "=volley", "b")
  local i = 1
  while debug.getupvalue(iterate, i) do
    debug.upvaluejoin(bare, i, iterate, i)
    i = i + 1
  end
  iterate = bare
end
-- setup()'s return value reaches every iteration as its argument (each VU
-- has its own copy, as in k6); setup's own return is kept as JSON.
return function(fn, phase)
  local capture = phase == "setup"
  local sj = C.setup_data()
  local data = sj and C.json_decode(sj) or nil
  local first, stopping = true, false
  while true do
    if any_jar and not stopping then clear_jar() end
    local ok, r
    if first and not phase and type(vu_init) == "function" then
      ok, r = xpcall(vu_init, handler, data)
      if not ok then C.iter_end(false, r) end
    end
    first = false
    -- resumed with true: the scenario is over, this VU's stop hooks run
    if stopping then ok, r = xpcall(stop_hook, handler, data)
    elseif not phase then
      -- returns (ok) only when the scenario is over; an error ends the
      -- iteration it happened in, and the next pass goes on with the next
      ok, r = xpcall(iterate, handler, fn, data)
      if ok then stopping = true; goto continue end
    else ok, r = xpcall(fn, handler, data) end
    if ok and capture then
      local eok, js = pcall(C.json_encode, r)
      if not eok then ok, r = false, "setup: its return value is not JSON data: " .. tostring(js)
      else C.phase_result(js) end
    end
    stopping = C.iter_end(ok, r) == true
    ::continue::
  end
end

