-- regsh.http: HTTP requests for scripts and for the registry client. The C
-- module (regsh.core.http, src/http.c) runs transfers on the loop; here a
-- request waits for its op (yielding inside a task, blocking elsewhere),
-- feeds on_data callbacks and makes the response's headers case-insensitive.
local core = require "regsh.core.http"
local loop = require "regsh.core.loop"
local async = require "regsh.async"

local await, active, cancel = async.await, loop.active, loop.cancel
local lower, type, pcall, error = string.lower, type, pcall, error
local getenv = os.getenv

local M = {}

--------------------------------------------------------------------------------
-- Which CAs HTTPS trusts. Given ca_file/ca_dir win; else the standard
-- variables (CURL_CA_BUNDLE or SSL_CERT_FILE a file, SSL_CERT_DIR a hashed
-- directory); else the system's hashed directory, which OpenSSL reads lazily
-- (the issuer's file only) where the system bundle is parsed whole on every
-- new connection (~40 ms). A directory given explicitly must exist and hold
-- hashed names (checked once per process): else ETLS naming it, not a bare
-- "unable to get local issuer certificate" later.

local function env(name)
  local v = getenv(name)
  if v and v ~= "" then return v end
end

local checked_dirs = {}  -- dir -> true | the fail message

-- nil, or "why dir cannot serve as a CA directory"
local function ca_dir_problem(dir)
  local known = checked_dirs[dir]
  if known == nil then
    local names, err = require("regsh.core.fs").readdir(dir)
    if not names then
      known = "CA directory " .. dir .. ": " .. (tostring(err):match(":%s*([^:]*)$") or tostring(err))
    else
      known = "CA directory " .. dir .. " holds no hashed certificates "
        .. "(openssl rehash " .. dir .. ")"
      for _, name in ipairs(names) do
        if name:match("^%x%x%x%x%x%x%x%x%.%d+$") then known = true break end
      end
    end
    checked_dirs[dir] = known
  end
  if known ~= true then return known end
end

local defaults  -- {file =, dir =, explicit =}, read once: the environment is fixed

local function default_cas()
  if not defaults then
    local system = core.system_ca_dir ~= "" and core.system_ca_dir or nil
    local file, dir = env("CURL_CA_BUNDLE") or env("SSL_CERT_FILE"), env("SSL_CERT_DIR")
    -- the system bundle (what many environments export) holds exactly the
    -- system directory's certificates: the directory is the cheap way to them
    if file and file == core.system_ca_file then file = nil end
    if dir == system then dir = nil end
    if file or dir then
      defaults = {file = file, dir = dir, explicit = true}
    else
      -- a system directory that is gone (a minimal image): libcurl's default
      if system and ca_dir_problem(system) then system = nil end
      defaults = {dir = system}
    end
  end
  return defaults
end

-- opts, or a copy with the CAs to trust filled in; or nil, err, "ETLS"
local function with_cas(opts)
  local url = opts.url
  if opts.insecure or type(url) ~= "string" or lower(url:sub(1, 8)) ~= "https://" then
    return opts
  end
  local file, dir, explicit = opts.ca_file, opts.ca_dir, true
  if file == nil and dir == nil then
    local d = default_cas()
    file, dir, explicit = d.file, d.dir, d.explicit
    if file == nil and dir == nil then return opts end
  end
  if type(dir) == "string" and explicit then
    local problem = ca_dir_problem(dir)
    if problem then return nil, "ETLS: " .. url .. ": " .. problem, "ETLS" end
  end
  if file == opts.ca_file and dir == opts.ca_dir then return opts end
  local o = {}
  for k, v in pairs(opts) do o[k] = v end
  o.ca_file, o.ca_dir = file, dir
  return o
end

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
--- ca_file=, ca_dir=, insecure=, follow=, output=, on_data=, max_body=, user_agent=}
--- -> response | nil, err, code. See docs/reference/http.md.
function M.request(opts)
  if type(opts) ~= "table" then
    error("bad argument #1 to 'request' (table expected, got " .. type(opts) .. ")", 2)
  end
  local o, err, code = with_cas(opts)
  if not o then return nil, err, code end
  local ok, op
  ok, op, err, code = pcall(core.request, o)
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
