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
