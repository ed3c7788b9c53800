-- tests/support/registry.lua: start and stop real registries (docker-registry,
-- distribution 2.8) on 127.0.0.1 for the specs, through scripts/start-registry.
-- Each registry dies with the test process even if a spec aborts (--watch).
local M = {}

local function sh(cmd)
  local p = assert(io.popen(cmd, "r"))
  local out = p:read("a")
  local ok, how, code = p:close()
  return out, ok, code
end

local function shell_quote(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end
M.shell_quote = shell_quote

local my_pid
--- The pid of this regsh process (the parent of a popen'd shell).
function M.pid()
  my_pid = my_pid or tonumber((sh("echo $PPID")))
  return my_pid
end

--- Start a registry. opts: htpasswd = {user = pass, ...} | path, token = "realm,service,issuer,cert",
--- tls = "cert,key", dir = path, no_delete = true (deletes disabled: 405),
--- port = n (else a free one).
--- Returns {port, pid, dir, host, url}.
function M.start(opts)
  opts = opts or {}
  local args = {"scripts/start-registry", "--watch", M.pid()}
  local dir = opts.dir or (sh("mktemp -d /tmp/regsh-spec.XXXXXX"):gsub("%s+$", ""))
  args[#args + 1] = "--dir " .. shell_quote(dir)
  if type(opts.htpasswd) == "table" then
    local file = dir .. "/htpasswd"
    for user, pass in pairs(opts.htpasswd) do
      local out, ok = sh("htpasswd -Bbn " .. shell_quote(user) .. " " .. shell_quote(pass)
        .. " >> " .. shell_quote(file))
      assert(ok, "htpasswd failed: " .. out)
    end
    args[#args + 1] = "--htpasswd " .. shell_quote(file)
  elseif opts.htpasswd then
    args[#args + 1] = "--htpasswd " .. shell_quote(opts.htpasswd)
  end
  if opts.token then args[#args + 1] = "--token " .. shell_quote(opts.token) end
  if opts.tls then args[#args + 1] = "--tls " .. shell_quote(opts.tls) end
  if opts.no_delete then args[#args + 1] = "--no-delete" end
  if opts.port then args[#args + 1] = "--port " .. math.tointeger(opts.port) end
  local out, ok = sh(table.concat(args, " ") .. " 2>&1")
  assert(ok, "start-registry failed: " .. out)
  local port, pid = out:match("port=(%d+) pid=(%d+)")
  assert(port, "unexpected start-registry output: " .. out)
  local scheme = opts.tls and "https" or "http"
  return {
    port = tonumber(port), pid = tonumber(pid), dir = dir,
    host = "127.0.0.1:" .. port, url = scheme .. "://127.0.0.1:" .. port,
  }
end

--- Stop a registry started by M.start and remove its storage (idempotent).
function M.stop(r)
  require("support.servers").stop(r)
end

return M
