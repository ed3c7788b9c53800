-- regsh.registry.credentials: find the credentials for a registry host, in
-- order: flags > REGSH_USERNAME/REGSH_PASSWORD (one registry's: see
-- environment_applies) > $REGISTRY_AUTH_FILE or
-- ${XDG_RUNTIME_DIR}/containers/auth.json > docker's config.json (auths,
-- credsStore, credHelpers through docker-credential-<name>); and store or
-- remove them the way `docker login`/`logout` do. Secrets stay wrapped.
local base64 = require "regsh.registry.base64"
local redact = require "regsh.registry.redact"
local ref = require "regsh.registry.ref"

local M = {}

-- ACR's convention: this user name means "the password is a refresh token".
M.TOKEN_USERNAME = "00000000-0000-0000-0000-000000000000"

-- The outside world, replaceable by the specs: environment, files, processes, JSON.
local defaults = {
  getenv = os.getenv,
  read_file = function(path) return (require("regsh.fs").read_file(path)) end,
  stat = function(path) return (require("regsh.fs").stat(path)) end,
  run = function(spec) return require("regsh.proc").run(spec) end,
}

local function world_of(world)
  if world and world.complete then return world end
  local w = {complete = true}
  for k, v in pairs(defaults) do w[k] = v end
  for k, v in pairs(world or {}) do w[k] = v end
  w.json = w.json or require("regsh.json")
  return w
end

--- The key a host has in config.json auths: Docker Hub's is the v1 URL.
function M.config_key(host)
  if ref.is_docker_hub(host) then return ref.DOCKER_HUB_CONFIG_KEY end
  return host
end

-- "https://host:5000/v1/" -> "host:5000", Hub aliases -> "docker.io"
local function normalize_key(key)
  local host = key:gsub("^%a[%w+.-]*://", ""):match("^([^/]*)") or ""
  return ref.normalize_host(host:lower())
end

local function matches(key, host)
  return normalize_key(key) == ref.normalize_host(host:lower())
end

-- The entry of a {key -> value} table whose key names host; exact key first.
local function lookup(map, host)
  if type(map) ~= "table" then return nil end
  local exact = map[M.config_key(host)] or map[host]
  if exact ~= nil then return exact, (map[M.config_key(host)] and M.config_key(host) or host) end
  for key, value in pairs(map) do
    if type(key) == "string" and matches(key, host) then return value, key end
  end
end

--- The docker config file: opts.docker_config (a file or a directory), else
--- $DOCKER_CONFIG/config.json, else ~/.docker/config.json.
function M.docker_config_path(opts, world)
  world = world_of(world)
  local path = opts and opts.docker_config
  if path then
    if path:match("%.json$") then return path end
    return (path:gsub("/+$", "")) .. "/config.json"
  end
  local dir = world.getenv("DOCKER_CONFIG")
  if dir and dir ~= "" then return (dir:gsub("/+$", "")) .. "/config.json" end
  return (world.getenv("HOME") or "") .. "/.docker/config.json"
end

--- containers' auth file: opts.auth_file, $REGISTRY_AUTH_FILE, or
--- ${XDG_RUNTIME_DIR}/containers/auth.json (nil when none applies).
function M.auth_file_path(opts, world)
  world = world_of(world)
  if opts and opts.auth_file then return opts.auth_file end
  local file = world.getenv("REGISTRY_AUTH_FILE")
  if file and file ~= "" then return file end
  local runtime = world.getenv("XDG_RUNTIME_DIR")
  if runtime and runtime ~= "" then return runtime .. "/containers/auth.json" end
end

-- Decode a JSON config file; nil when absent, nil + warning when unreadable.
local function read_config(path, world)
  local text = world.read_file(path)
  if not text then return nil end
  if text:match("^%s*$") then return {} end
  local value, err = world.json.decode(text)
  if type(value) ~= "table" then
    return nil, string.format("ignoring %s: %s", path, err or "not a JSON object")
  end
  return value
end

-- A credential record from an auths entry ({auth=, identitytoken=, username=, password=}).
local function from_entry(entry, source)
  if type(entry) ~= "table" then return nil end
  local username, password
  if type(entry.auth) == "string" and entry.auth ~= "" then
    local decoded = base64.decode(entry.auth)
    if decoded then username, password = decoded:match("^([^:]*):(.*)$") end
    if not username then return nil, "ignoring a malformed auth field in " .. source end
  elseif type(entry.username) == "string" then
    username, password = entry.username, entry.password
  end
  local identity = entry.identitytoken
  if type(identity) == "string" and identity ~= "" then
    return {username = username or M.TOKEN_USERNAME, identity_token = redact.secret(identity),
            source = source}
  end
  if username and username ~= "" then
    return {username = username, password = redact.secret(password or ""), source = source}
  end
end

--- Run `docker-credential-<helper> get` for server; a record, or nil + warning.
function M.from_helper(helper, server, world)
  world = world_of(world)
  local program = "docker-credential-" .. helper
  local result, err = world.run({program, "get", stdin = server, timeout = 30})
  if not result then return nil, string.format("%s failed: %s", program, redact.text(err)) end
  if not result.ok then
    local out = redact.text((result.stdout or "") .. (result.stderr or "")):gsub("%s+$", "")
    if out:lower():find("not found", 1, true) then return nil end  -- no entry: not an error
    return nil, string.format("%s get exited %s: %s", program,
      tostring(result.code or result.signal), out:sub(1, 200))
  end
  local answer = world.json.decode(result.stdout or "")
  if type(answer) ~= "table" or type(answer.Secret) ~= "string" then
    return nil, program .. " get printed no JSON with a Secret"
  end
  local source = program
  if answer.Username == "<token>" then
    return {username = M.TOKEN_USERNAME, identity_token = redact.secret(answer.Secret),
            source = source}
  end
  return {username = answer.Username or "", password = redact.secret(answer.Secret),
          source = source}
end

-- Whether a file others may read holds credentials of its own (not only
-- the name of a helper that keeps them): those are refused, as ssh refuses
-- a readable private key.
local function exposed(path, config, world)
  local info = world.stat(path)
  if not info or not info.mode or info.mode & tonumber("004", 8) == 0 then return false end
  for _, entry in pairs(type(config.auths) == "table" and config.auths or {}) do
    if type(entry) == "table" and (entry.auth or entry.password or entry.identitytoken) then
      return true, info.mode
    end
  end
  return false
end

-- Credentials in one docker-format file (docker's config.json or containers' auth.json).
local function from_config_file(path, host, world, warnings)
  local config, warning = read_config(path, world)
  if warning then warnings[#warnings + 1] = warning end
  if not config then return nil end
  local open, mode = exposed(path, config, world)
  if open then
    warnings[#warnings + 1] = string.format("refusing the credentials in %s: it is readable by "
      .. "everyone (mode %04o); run chmod 600 %s", path, mode, path)
    config.auths = nil
  end
  local entry, key = lookup(config.auths, host)
  local helper = lookup(config.credHelpers, host) or config.credsStore
  if type(helper) == "string" and helper ~= "" then
    local found, helper_warning = M.from_helper(helper, key or M.config_key(host), world)
    if found then return found end
    if helper_warning then warnings[#warnings + 1] = helper_warning end
  end
  local found, entry_warning = from_entry(entry, path)
  if entry_warning then warnings[#warnings + 1] = entry_warning end
  return found
end

--- Whether REGSH_USERNAME/REGSH_PASSWORD are for host: they are one
--- registry's. With REGSH_REGISTRY set, only the host it names gets them;
--- without, every client that does not turn them off (opts.environment =
--- false: the source of a copy between two registries).
function M.environment_applies(host, opts, world)
  world = world_of(world)
  local scope = world.getenv("REGSH_REGISTRY")
  if scope and scope ~= "" then return matches(scope, host) end
  return not (opts and opts.environment == false)
end

--- Credentials for host, or nil (anonymous), plus a list of warnings about
--- sources that could not be read. opts: username, password, docker_config,
--- auth_file, environment (false: ignore REGSH_USERNAME/REGSH_PASSWORD).
--- A record: {username, password = secret | identity_token = secret, source}.
function M.resolve(host, opts, world)
  world = world_of(world)
  opts = opts or {}
  local warnings = {}
  if opts.username ~= nil then
    return {username = opts.username, password = redact.secret(opts.password or ""),
            source = "options"}, warnings
  end
  local env_user = world.getenv("REGSH_USERNAME")
  if env_user and env_user ~= "" and M.environment_applies(host, opts, world) then
    return {username = env_user, password = redact.secret(world.getenv("REGSH_PASSWORD") or ""),
            source = "REGSH_USERNAME/REGSH_PASSWORD"}, warnings
  end
  local auth_file = M.auth_file_path(opts, world)
  if auth_file then
    local found = from_config_file(auth_file, host, world, warnings)
    if found then return found, warnings end
  end
  local found = from_config_file(M.docker_config_path(opts, world), host, world, warnings)
  return found, warnings
end

-- Write text to path with mode 0600, atomically (a new directory is 0700):
-- a reader sees the old file or the new one, never half of it.
local function write_private(path, text)
  local fs = require "regsh.fs"
  local dir = path:match("^(.*)/[^/]*$")
  if dir and dir ~= "" then
    local ok, err, code = fs.mkdir(dir, tonumber("700", 8))
    if not ok then return nil, err, code end
  end
  return fs.write_atomic(path, text, tonumber("600", 8))
end

local function load_for_update(path, world)
  local config, warning = read_config(path, world)
  if warning then
    local problem = warning:gsub("^ignoring ", "cannot update ")
    return nil, "EINVAL: " .. problem .. " (fix or remove it)", "EINVAL"
  end
  return config or {}
end

local function save(path, config, world)
  if type(config.auths) == "table" and next(config.auths) == nil then config.auths = nil end
  return write_private(path, world.json.encode(config, {pretty = true}) .. "\n")
end

--- Store credentials for host like `docker login`: through the configured
--- credential helper, else as auths.<host>.auth (base64) in config.json.
--- Returns true, where | nil, err, code.
function M.store(host, username, password, opts, world)
  world = world_of(world)
  local path = M.docker_config_path(opts, world)
  local config, err, code = load_for_update(path, world)
  if not config then return nil, err, code end
  local key = M.config_key(host)
  local helper = lookup(config.credHelpers, host) or config.credsStore
  config.auths = type(config.auths) == "table" and config.auths or {}
  for existing in pairs(config.auths) do
    if matches(existing, host) then config.auths[existing] = nil end
  end
  if type(helper) == "string" and helper ~= "" then
    local program = "docker-credential-" .. helper
    local payload = world.json.encode({ServerURL = key, Username = username,
                                       Secret = redact.reveal(password)})
    local result, run_err = world.run({program, "store", stdin = payload, timeout = 30})
    if not result or not result.ok then
      local detail = run_err or (result.stderr ~= "" and result.stderr or result.stdout)
      return nil, "EIO: " .. program .. " store failed: " .. redact.text(detail, {password}), "EIO"
    end
    local ok, save_err, save_code = save(path, config, world)
    if not ok then return nil, save_err, save_code end
    return true, program
  end
  config.auths[key] = {auth = base64.encode(username .. ":" .. redact.reveal(password))}
  local ok, save_err, save_code = save(path, config, world)
  if not ok then return nil, save_err, save_code end
  return true, path
end

--- Remove host's credentials like `docker logout`. Returns true, removed (a
--- boolean: whether there was anything to remove) | nil, err, code.
function M.remove(host, opts, world)
  world = world_of(world)
  local path = M.docker_config_path(opts, world)
  local config, err, code = load_for_update(path, world)
  if not config then return nil, err, code end
  local removed = false
  local helper = lookup(config.credHelpers, host) or config.credsStore
  if type(helper) == "string" and helper ~= "" then
    local result = world.run({"docker-credential-" .. helper, "erase",
                              stdin = M.config_key(host), timeout = 30})
    removed = result ~= nil and result.ok
  end
  if type(config.auths) == "table" then
    for key in pairs(config.auths) do
      if matches(key, host) then
        config.auths[key] = nil
        removed = true
      end
    end
  end
  if removed and world.read_file(path) then
    local ok, save_err, save_code = save(path, config, world)
    if not ok then return nil, save_err, save_code end
  end
  return true, removed
end

return M
