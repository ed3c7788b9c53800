-- regsh.purge.policy: load a purge policy (a Lua file returning {select,
-- description?, params?, repositories?}) into a sandbox, type its --set
-- parameters, run its functions under a time limit, and check what select
-- returns. A policy only chooses; it has no way to write to a registry, and
-- by default none to run programs, write files or load C code.
local List = require "regsh.purge.list"

local M = {}

-- CPU seconds one call into a policy may take before it is stopped
M.TIME_LIMIT = 10

local function fail(message)
  return nil, "EINVAL: " .. message, "EINVAL"
end

-- Read-only file access for policies (a keep-list, an ECR policy document).
local function read_only_open(path, mode)
  mode = mode or "r"
  if mode ~= "r" and mode ~= "rb" then
    error("io.open: a policy may open files for reading only (mode '" .. tostring(mode)
      .. "')", 2)
  end
  return io.open(path, mode)
end

local function read_only_lines(path, ...)
  if path == nil then error("io.lines: a policy reads named files only", 2) end
  return io.lines(path, ...)
end

-- A read-only view of a module table: the policy can call what the engine
-- calls, but cannot replace it (a policy that swapped regsh.json.decode or
-- string.format would change how the engine itself reads manifests).
local function read_only(t, name)
  return setmetatable({}, {
    __index = t,
    __newindex = function(_, key)
      error(string.format("a policy cannot change %s.%s", name, tostring(key)), 2)
    end,
    __metatable = false,
  })
end

-- getmetatable without the shared ones: the string metatable's __index is
-- the engine's own string table.
local function safe_getmetatable(value)
  if type(value) ~= "table" then return nil end
  return getmetatable(value)
end

--- The globals a sandboxed policy sees.
local function sandbox()
  local regsh = require "regsh"
  local env = {
    string = read_only(string, "string"), table = read_only(table, "table"),
    math = read_only(math, "math"), utf8 = read_only(utf8, "utf8"),
    coroutine = read_only(coroutine, "coroutine"),
    pairs = pairs, ipairs = ipairs, next = next, select = select, type = type,
    tostring = tostring, tonumber = tonumber, error = error, assert = assert,
    pcall = pcall, xpcall = xpcall, setmetatable = setmetatable, getmetatable = safe_getmetatable,
    rawequal = rawequal, rawget = rawget, rawset = rawset, rawlen = rawlen,
    print = function(...)
      local parts = table.pack(...)
      for i = 1, parts.n do parts[i] = tostring(parts[i]) end
      io.stderr:write(table.concat(parts, "\t"), "\n")
    end,
    os = read_only({time = os.time, date = os.date, clock = os.clock, getenv = os.getenv,
                    difftime = os.difftime}, "os"),
    io = read_only({open = read_only_open, lines = read_only_lines}, "io"),
    regsh = read_only({regex = read_only(regsh.regex, "regsh.regex"),
      time = read_only(regsh.time, "regsh.time"), json = read_only(regsh.json, "regsh.json"),
      yaml = read_only(regsh.yaml, "regsh.yaml"),
      semver = read_only(require("regsh.purge.semver"), "regsh.semver"),
      log = read_only(regsh.log, "regsh.log"), list = List.new}, "regsh"),
  }
  env._G = env
  return env
end

-- The source of a policy: a file, else a shipped one by name ("keep-semver",
-- "keep-semver.lua", "policies/keep-semver.lua").
local function source_of(spec)
  local f = io.open(spec, "r")
  if f then
    local text, err = f:read("a")
    f:close()
    if not text then return fail(spec .. ": " .. tostring(err)) end
    return text, "@" .. spec
  end
  local name = spec:match("^policies/([%w_.-]+)%.lua$") or spec:match("^([%w_.-]+)%.lua$")
    or spec:match("^([%w_-]+)$")
  if name then
    local text, chunkname = require("regsh.core.host").embedded("policies." .. name)
    if text then return text, chunkname end
    local dir = os.getenv("REGSH_LUA_PATH")
    if dir and dir ~= "" then
      f = io.open(dir .. "/../policies/" .. name .. ".lua", "r")
      if f then
        text = f:read("a")
        f:close()
        return text, "@policies/" .. name .. ".lua"
      end
    end
  end
  local probe, err = io.open(spec, "r")
  if probe then probe:close() end
  return fail(string.format("policy %s: cannot be read (%s); a shipped policy is named "
    .. "without a path, e.g. keep-semver", spec, tostring(err):gsub("^" .. spec:gsub("%p", "%%%0")
    .. ": ", "")))
end

-- Run fn(...) with a CPU time limit; an error names the policy. Returns
-- true, results... | nil, message.
local function limited(policy, what, fn, ...)
  local started = os.clock()
  local limit = policy.time_limit or M.TIME_LIMIT
  local co = coroutine.create(fn)
  debug.sethook(co, function()
    if os.clock() - started > limit then
      error(string.format("%s took more than %gs of CPU time (a loop that never ends?)",
        what, limit), 2)
    end
  end, "", 10000)
  local results = table.pack(coroutine.resume(co, ...))
  -- a policy that waits (it cannot: it has no registry) would leave co suspended
  if results[1] and coroutine.status(co) ~= "dead" then
    return nil, string.format("policy %s: %s yielded; a policy cannot wait", policy.file, what)
  end
  if not results[1] then
    local message = tostring(results[2])
    return nil, string.format("policy %s: %s failed: %s", policy.file, what, message)
  end
  return true, table.unpack(results, 2, results.n)
end

--- load(spec, opts) -> policy | nil, "EINVAL: ...", "EINVAL". spec: a file or
--- a shipped policy's name; or a table (already a policy, e.g. from a
--- script). opts.trusted: run with the full globals. opts.file: the name in
--- messages.
function M.load(spec, opts)
  opts = opts or {}
  local value, file
  if type(spec) == "table" then
    value, file = spec, opts.file or "(table)"
  else
    local text, chunkname = source_of(spec)
    if not text then return nil, chunkname, "EINVAL" end
    file = chunkname:sub(2)
    local env = opts.trusted and setmetatable({}, {__index = _G}) or sandbox()
    local chunk, err = load(text, chunkname, "t", env)
    if not chunk then return fail("policy " .. file .. ": " .. err) end
    local ok
    ok, value = limited({file = file}, "loading it", chunk)
    if not ok then return nil, "EINVAL: " .. value, "EINVAL" end
    if type(value) == "function" then value = {select = value} end
  end
  if type(value) ~= "table" or type(value.select) ~= "function" then
    return fail(string.format("policy %s: must return a table with a select(repo, params) "
      .. "function, got %s", file, type(value)))
  end
  for key, v in pairs(value) do
    local want = ({select = "function", repositories = "function", check = "function",
                   description = "string", params = "table", time_limit = "number"})[key]
    if not want then return fail(string.format("policy %s: unknown field '%s'", file, key)) end
    if type(v) ~= want then
      return fail(string.format("policy %s: field '%s' must be a %s, got %s", file, key, want,
        type(v)))
    end
  end
  local policy = {file = file, select = value.select, repositories = value.repositories,
                  check = value.check, description = value.description,
                  defaults = value.params or {}, time_limit = value.time_limit}
  return policy
end

-- A --set value typed like the default it overrides.
local function typed(policy, key, text, default)
  local kind = type(default)
  if kind == "number" then
    local n = tonumber(text)
    if not n then return fail(string.format("--set %s=%s: policy %s wants a number", key, text,
      policy.file)) end
    return math.tointeger(n) or n
  elseif kind == "boolean" then
    if text == "true" or text == "1" or text == "yes" then return true end
    if text == "false" or text == "0" or text == "no" then return false end
    return fail(string.format("--set %s=%s: policy %s wants true or false", key, text,
      policy.file))
  elseif kind == "table" then   -- a list: comma-separated
    local list = {}
    for item in (text .. ","):gmatch("([^,]*),") do
      if item ~= "" then list[#list + 1] = item end
    end
    return list
  end
  return text
end

--- params(policy, sets) -> params | fail: the policy's defaults with sets
--- ({key = "text"} from --set, or values of any type from a script) applied.
--- A key the policy does not declare is an error.
function M.params(policy, sets)
  local out = {}
  for k, v in pairs(policy.defaults) do
    out[k] = type(v) == "table" and table.move(v, 1, #v, 1, {}) or v
  end
  local keys = {}
  for k in pairs(sets or {}) do keys[#keys + 1] = k end
  table.sort(keys)
  for _, k in ipairs(keys) do
    local v = sets[k]
    if policy.defaults[k] == nil then
      local known = {}
      for name in pairs(policy.defaults) do known[#known + 1] = name end
      table.sort(known)
      return fail(string.format("--set %s: policy %s has no parameter '%s' (it has: %s)", k,
        policy.file, k, #known > 0 and table.concat(known, ", ") or "none"))
    end
    if type(v) == "string" and type(policy.defaults[k]) ~= "string" then
      local value, err = typed(policy, k, v, policy.defaults[k])
      if value == nil then return nil, err, "EINVAL" end
      v = value
    end
    out[k] = v
  end
  return out
end

--- The policy's own check of its params (its check function, if any):
--- true | nil, "EINVAL: <its message>", "EINVAL". Runs before any request.
function M.check(policy, params)
  if not policy.check then return true end
  local ok, passed, message = coroutine.resume(coroutine.create(policy.check), params)
  if not ok then message = passed
  elseif not passed then message = message or ("policy " .. policy.file .. ": check failed") end
  if message then return nil, "EINVAL: " .. tostring(message), "EINVAL" end
  return true
end

--- Whether the policy wants repository name scanned: true | false | fail.
function M.wants(policy, name, params)
  if not policy.repositories then return true end
  local ok, yes = limited(policy, "repositories('" .. name .. "')", policy.repositories, name,
    params)
  if not ok then return nil, "EINVAL: " .. yes, "EINVAL" end
  return yes and true or false
end

-- An item select returned, resolved in the engine's snapshot (plan.snapshot):
-- the entry, its reason | nil, why. Entries are read with rawget and only
-- their name or digest is trusted: the snapshot, not the policy's objects,
-- says what a tag points at.
local function resolve(snap, item)
  local reason
  if type(item) == "table" then
    local kind = rawget(item, "kind")
    reason = rawget(item, "reason")
    if kind == "tag" then item = rawget(item, "name")
    elseif kind == "manifest" then item = rawget(item, "digest")
    else return nil, "a table that is not a tag or manifest entry" end
    if type(item) ~= "string" then return nil, "an entry without a name or digest" end
  elseif type(item) ~= "string" then
    return nil, "an item that is not a tag name, a digest or an entry (" .. type(item) .. ")"
  end
  local entry = item:find("^sha256:") and snap:manifest(item) or snap:tag(item)
  if not entry then
    return nil, string.format("'%s', which is not a tag or manifest of %s", item, snap.name)
  end
  return entry, type(reason) == "string" and reason or nil
end

--- select(policy, repo, params, snap) -> {tags = {entry...}, manifests =
--- {entry...}, reasons = {entry -> text}} | fail naming the policy. The
--- entries are snap's (plan.snapshot(repo), taken before the policy ran).
function M.select(policy, repo, params, snap)
  local ok, result = limited(policy, "select('" .. repo.name .. "')", policy.select, repo, params)
  if not ok then return nil, "EINVAL: " .. result, "EINVAL" end
  local out = {tags = {}, manifests = {}, reasons = {}}
  if result == nil then return out end
  if type(result) ~= "table" then
    return fail(string.format("policy %s: select returned a %s; it must return a list of "
      .. "tags and manifests (or nil)", policy.file, type(result)))
  end
  local n = rawlen(result)
  for key in pairs(result) do
    if (math.type(key) ~= "integer" or key < 1 or key > n)
       and not (List.is(result) and type(key) ~= "number") then
      return fail(string.format("policy %s: select returned a table with key %s; it must "
        .. "return a list", policy.file, tostring(key)))
    end
  end
  local seen = {}
  for i = 1, n do
    local entry, reason = resolve(snap, rawget(result, i))
    if not entry then
      return fail(string.format("policy %s: select('%s') returned %s (item %d)", policy.file,
        repo.name, reason, i))
    end
    if not seen[entry] then
      seen[entry] = true
      local list = entry.kind == "tag" and out.tags or out.manifests
      list[#list + 1] = entry
      out.reasons[entry] = reason
    end
  end
  return out
end

return M
