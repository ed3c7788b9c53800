-- regsh.version: what `regsh --version` prints. Loads the HTTP module to ask
-- libcurl its version, which is why this is not computed at start-up.
local M = {}

function M.components()
  local host = require "regsh.core.host"
  local c = {regsh = host.version, lua = host.lua_release:match("[%d%.]+")}
  c.libuv = require("regsh.core.loop").libuv_version
  local ok, yaml = pcall(require, "regsh.core.yaml")
  c.libyaml = ok and yaml.libyaml_version or "?"
  local ok2, http = pcall(require, "regsh.core.http")
  c.libcurl = ok2 and http.curl_version or "unavailable"
  return c
end

function M.describe()
  local c = M.components()
  return string.format("regsh %s (Lua %s, libcurl %s, libuv %s, libyaml %s)",
    c.regsh, c.lua, c.libcurl, c.libuv, c.libyaml)
end

return M
