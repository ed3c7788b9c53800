-- tests/helper.lua: loaded by busted before the specs (see tests/CMakeLists.txt).
-- Makes tests/support/*.lua requirable as "support.<name>" and records which
-- regsh binary runs the suite, so specs can also run it as a command.
package.path = "tests/?.lua;" .. package.path

local function absolute(path)
  if path:sub(1, 1) == "/" then return path end
  local p = io.popen("pwd")
  local cwd = p:read("l")
  p:close()
  return cwd .. "/" .. path
end

local bin = os.getenv("REGSH_BIN") or arg[-1] or "regsh"
package.loaded["support.bin_path"] = absolute(bin)

-- Every test starts with an empty scheme cache (lua/regsh/registry/schemes.lua):
-- a host an earlier test remembered would otherwise get its reads sent straight,
-- without the /v2/ ping, and what a test sees would hang on the order the tests
-- ran in. The specs of the cache itself (registry_schemes_spec.lua, the herd in
-- registry_auth_spec.lua) fill it on purpose within their test.
require("busted").subscribe({"test", "start"}, function()
  local path = require("regsh.registry.schemes").path()
  if path then os.remove(path) end
  package.loaded["regsh.registry.schemes"] = nil
  return nil, true
end)
