-- regsh.http: HTTP requests for scripts and for the registry client. The C
-- module (regsh.core.http, src/http.c) runs transfers on the loop; here a
-- request waits for its op (yielding inside a task, blocking elsewhere),
-- feeds on_data callbacks and makes the response's headers case-insensitive.
local core = require "regsh.core.http"
local loop = require "regsh.core.loop"
local async = require "regsh.async"

local await, active, cancel = async.await, loop.active, loop.cancel
local lower, type, pcall, error = string.lower, type, pcall, error

local M = {}

-- res.headers holds lower-case names; this lets any spelling find them.
local header_meta = {
  __index = function(t, name)
    if type(name) == "string" then return rawget(t, lower(name)) end
  end,
}

-- Feed the body to on_data as it arrives; the C side pauses the transfer
-- while a backlog waits here, so a slow callback does not grow memory.
local function stream(op, on_data)
  repeat
    await(op)
    local chunk = op:take()
    if chunk then on_data(chunk) end
  until not active(op)
  local chunk = op:take()  -- anything that came with the end
  if chunk then on_data(chunk) end
end

--- request{url=, method=, headers=, body=, timeout=, connect_timeout=,
--- ca_file=, insecure=, follow=, output=, on_data=, max_body=, user_agent=}
--- -> response | nil, err, code. See docs/reference/http.md.
function M.request(opts)
  if type(opts) ~= "table" then
    error("bad argument #1 to 'request' (table expected, got " .. type(opts) .. ")", 2)
  end
  local ok, op, err, code = pcall(core.request, opts)
  if not ok then error(op, 2) end  -- misuse: blame the caller
  if not op then return nil, err, code end
  local on_data = opts.on_data
  if on_data then ok, err = pcall(stream, op, on_data)
  else ok, err = pcall(await, op) end
  if not ok then  -- cancelled, interrupted, or on_data raised
    cancel(op)
    op:close()
    error(err, 0)
  end
  local res
  res, err, code = op:result()
  if not res then return nil, err, code end
  setmetatable(res.headers, header_meta)
  return res
end

local function with(method, url, opts)
  local o = {}
  if opts ~= nil then
    if type(opts) ~= "table" then
      error("bad argument #2 (table expected, got " .. type(opts) .. ")", 3)
    end
    for k, v in pairs(opts) do o[k] = v end
  end
  o.url, o.method = url, method
  return o
end

--- get(url [, opts]) -> response | nil, err, code
function M.get(url, opts)
  return M.request(with("GET", url, opts))
end

--- head(url [, opts]) -> response | nil, err, code (no body)
function M.head(url, opts)
  return M.request(with("HEAD", url, opts))
end

--- header_values(res, name) -> every value of the header, in order
function M.header_values(res, name)
  local want, out = lower(name), {}
  for _, h in ipairs(res.header_list or {}) do
    if lower(h.name) == want then out[#out + 1] = h.value end
  end
  return out
end

--- configure{max_host_connections = n, max_total_connections = n}: limits
--- for the connections the state's requests share (0: no limit).
M.configure = core.configure

M.curl_version = core.curl_version

return M
