-- regsh.registry.schemes: the scheme (http or https) each registry host
-- (host:port) last answered /v2/ on, kept for a day in the state directory,
-- so that the next command sends its first request straight there: no
-- failed TLS handshake before a plain-HTTP loopback registry, and no /v2/
-- ping before the request (transport.lua). An entry is trusted only as far
-- as its answer: a failure forgets it and the ping probes again.
local M = {}

M.TTL = 86400  -- seconds an entry is trusted without being learnt again

local entries  -- host -> {scheme =, expiry = epoch seconds}, read once per process

--- The cache file: $XDG_STATE_HOME/regsh/schemes, else
--- ~/.local/state/regsh/schemes; nil without a state directory.
function M.path()
  local state = os.getenv("XDG_STATE_HOME")
  if state and state:sub(1, 1) == "/" then return state .. "/regsh/schemes" end
  local home = os.getenv("HOME")
  if home and home ~= "" then return home .. "/.local/state/regsh/schemes" end
end

local known = {http = true, https = true}

-- Lines "host scheme expiry"; anything else (a corrupt or foreign file) and
-- expired entries are skipped, and dropped at the next write.
local function parse(text, now)
  local out = {}
  for line in text:gmatch("[^\n]+") do
    local host, scheme, expiry = line:match("^(%S+) (%l+) (%d+)$")
    expiry = tonumber(expiry)
    if host and known[scheme] and expiry and expiry > now and expiry <= now + M.TTL then
      out[host] = {scheme = scheme, expiry = expiry}
    end
  end
  return out
end

local function load()
  if not entries then
    local path = M.path()
    local f = path and io.open(path, "rb")
    entries = {}
    if f then
      entries = parse(f:read("a") or "", os.time())
      f:close()
    end
  end
  return entries
end

local function save()
  local path = M.path()
  if not path then return end
  local lines, now = {}, os.time()
  for host, e in pairs(entries) do
    if e.expiry > now then lines[#lines + 1] = host .. " " .. e.scheme .. " " .. e.expiry .. "\n" end
  end
  table.sort(lines)
  local fs = require "regsh.fs"
  -- best effort: a cache that cannot be written costs a probe, nothing more
  if fs.mkdir(path:match("^(.*)/[^/]+$"), tonumber("700", 8)) then
    fs.write_atomic(path, table.concat(lines), tonumber("600", 8))
  end
end

--- The scheme host last answered on ("http" or "https"), or nil when
--- there is no entry or it has expired.
function M.get(host)
  local e = load()[host]
  if e and e.expiry > os.time() then return e.scheme end
end

--- host answered on scheme: remember it (the file is written only when
--- that is news).
function M.remember(host, scheme)
  assert(known[scheme], "regsh.registry.schemes: scheme must be http or https")
  if M.get(host) == scheme then return end
  load()[host] = {scheme = scheme, expiry = os.time() + M.TTL}
  save()
end

--- host's entry failed: forget it.
function M.forget(host)
  if load()[host] == nil then return end
  entries[host] = nil
  save()
end

return M
