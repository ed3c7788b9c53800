-- regsh.registry.schemes: the hosts (host:port) that answered plain HTTP,
-- where plain HTTP is allowed at all (loopback, or `insecure`), kept for a
-- day in the state directory so that the next command goes straight to
-- http:// instead of failing a TLS handshake first. transport.lua trusts an
-- entry only as far as its answer: a failure forgets it and probes again.
local M = {}

M.TTL = 86400  -- seconds an entry is trusted without being learnt again

local entries  -- host -> expiry (epoch seconds), read once per process

--- The cache file: $XDG_STATE_HOME/regsh/schemes, else
--- ~/.local/state/regsh/schemes; nil without a state directory.
function M.path()
  local state = os.getenv("XDG_STATE_HOME")
  if state and state:sub(1, 1) == "/" then return state .. "/regsh/schemes" end
  local home = os.getenv("HOME")
  if home and home ~= "" then return home .. "/.local/state/regsh/schemes" end
end

-- Lines "host http expiry"; anything else (a corrupt or foreign file) and
-- expired entries are skipped, and dropped at the next write.
local function parse(text, now)
  local out = {}
  for line in text:gmatch("[^\n]+") do
    local host, expiry = line:match("^(%S+) http (%d+)$")
    expiry = tonumber(expiry)
    if host and expiry and expiry > now and expiry <= now + M.TTL then out[host] = expiry end
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
  for host, expiry in pairs(entries) do
    if expiry > now then lines[#lines + 1] = host .. " http " .. expiry .. "\n" end
  end
  table.sort(lines)
  local fs = require "regsh.fs"
  -- best effort: a cache that cannot be written costs a probe, nothing more
  if fs.mkdir(path:match("^(.*)/[^/]+$"), tonumber("700", 8)) then
    fs.write_atomic(path, table.concat(lines), tonumber("600", 8))
  end
end

--- Whether host answered plain HTTP (and the entry has not expired).
function M.plain(host)
  local expiry = load()[host]
  return expiry ~= nil and expiry > os.time()
end

--- host answered plain HTTP: remember it (the file is written only when
--- that is news).
function M.remember(host)
  if M.plain(host) then return end
  load()[host] = os.time() + M.TTL
  save()
end

--- host's entry failed (or https answered): forget it.
function M.forget(host)
  if load()[host] == nil then return end
  entries[host] = nil
  save()
end

return M
