-- tests/support/cmd.lua: run the regsh binary under test (or any shell
-- command) and collect its output and exit status.
local M = {}

M.bin = require "support.bin_path"

-- Whether the binary under test (this process) is an ASan build: its shadow
-- memory and quarantine inflate RSS, so memory bounds are checked in the
-- release build only (scripts/test runs both).
M.sanitized = (function()
  local f = io.open("/proc/self/maps")
  if not f then return false end
  local maps = f:read("a")
  f:close()
  return maps:find("libasan", 1, true) ~= nil
end)()

function M.quote(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

--- A new temporary file holding content; returns its path (the caller removes it).
function M.temp_file(content)
  local path = os.tmpname()
  local f = assert(io.open(path, "wb"))
  f:write(content)
  f:close()
  return path
end

--- A fresh path in the temporary directory that does not exist yet.
function M.temp_name()
  local path = os.tmpname()
  os.remove(path)
  return path
end

--- The whole of a file (raises if it cannot be read).
function M.read_file(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("a")
  f:close()
  return s
end

--- Run a shell command line; returns stdout, exit status, stderr.
function M.sh(line, stdin)
  local errfile = os.tmpname()
  local infile
  if stdin then
    infile = os.tmpname()
    local f = assert(io.open(infile, "wb"))
    f:write(stdin)
    f:close()
    line = line .. " < " .. M.quote(infile)
  end
  local p = assert(io.popen(line .. " 2> " .. M.quote(errfile), "r"))
  local out = p:read("a")
  local _, _, status = p:close()
  local f = io.open(errfile, "rb")
  local err = f and f:read("a") or ""
  if f then f:close() end
  os.remove(errfile)
  if infile then os.remove(infile) end
  return out, status, err
end

--- Run regsh with the given arguments (each quoted); returns stdout, status, stderr.
function M.regsh(args, stdin, env)
  local words = {}
  for k, v in pairs(env or {}) do words[#words + 1] = k .. "=" .. M.quote(v) end
  words[#words + 1] = M.quote(M.bin)
  for _, a in ipairs(args) do words[#words + 1] = M.quote(a) end
  return M.sh(table.concat(words, " "), stdin or "")
end

return M
