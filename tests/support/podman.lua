-- tests/support/podman.lua: podman for the task specs, configured as
-- scripts/test configures it (CONTAINERS_CONF: runc, no default ulimits),
-- and the listing of what a run left behind.
local proc = require "regsh.proc"

local M = {}

M.BUSYBOX = "localhost/regsh-test/busybox:latest"
M.CONTAINERS_CONF = os.getenv("CONTAINERS_CONF")
  or (os.getenv("REGSH_TEST_CACHE") or "/tmp/regsh-test-cache") .. "/containers.conf"
M.ENV = {CONTAINERS_CONF = M.CONTAINERS_CONF}

--- podman ARGS...: its stdout; raises with its stderr when it fails.
function M.run(...)
  local r = assert(proc.run{argv = {"podman", ...}, env = M.ENV, env_merge = true, timeout = 120})
  assert(r.ok, "podman " .. table.concat({...}, " ") .. ": " .. (r.stderr or ""))
  return r.stdout
end

--- The containers, networks and volumes that carry a label ("k=v").
function M.leftovers(label)
  local out = {}
  for _, args in ipairs({{"ps", "-a", "--format", "{{.Names}}"}, {"network", "ls", "-q"},
      {"volume", "ls", "-q"}}) do
    args[#args + 1] = "--filter"
    args[#args + 1] = "label=" .. label
    for name in M.run(table.unpack(args)):gmatch("[^\n]+") do out[#out + 1] = name end
  end
  return out
end

return M
