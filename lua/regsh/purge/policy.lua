-- regsh.purge.policy: load a purge policy (a Lua file returning {select,
-- description?, params?, repositories?}) into a sandbox, type its --set
-- parameters, run its functions under a time limit, and check what select
-- returns. A policy only chooses; it has no way to write to a registry, and
-- by default none to run programs, write files or load C code.
local List = require "regsh.purge.list"

local M = {}

-- CPU seconds one call into a policy may take before it is stopped
M.TIME_LIMIT = 10
-- bytes of Lua memory one call into a policy may add before its allocations
-- fail ("not enough memory"): a string.rep or s .. s bomb stops there
M.MEMORY_LIMIT = 256 * 1024 * 1024

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

-- get/setmetatable on the policy's own tables only: the string metatable's
-- __index is the engine's own string table, and a List's metatable is the
-- engine's List class, which the engine uses too. `own` holds the
-- metatables the policy set itself.
local function metatable_functions()
  local own = setmetatable({}, {__mode = "k"})
  local function get(value)
    if type(value) ~= "table" then return nil end
    local mt = getmetatable(value)
    if mt ~= nil and own[mt] then return mt end
    return nil
  end
  local function set(t, mt)
    local current = getmetatable(t)
    if type(t) == "table" and current ~= nil and not own[current] then
      error("setmetatable: a policy cannot change the metatable of the engine's objects", 2)
    end
    local result = setmetatable(t, mt)
    if mt ~= nil then own[mt] = true end
    return result
  end
  return get, set
end

-- pcall, xpcall and coroutines that cannot swallow the stop of a policy
-- past its time limit (guard.stopped, the hook's message), and coroutines
-- that run under the same hook as the policy (a Lua hook is per thread).
local function guarded_functions(guard)
  local function check(ok, ...)
    if not ok and guard.stopped then error(guard.stopped, 0) end
    return ok, ...
  end
  local co = {}
  for k, v in pairs(coroutine) do co[k] = v end
  function co.create(f)
    local thread = coroutine.create(f)
    local hook, mask, count = debug.gethook()
    if hook then debug.sethook(thread, hook, mask, count) end
    return thread
  end
  function co.resume(thread, ...) return check(coroutine.resume(thread, ...)) end
  function co.close(thread) return check(coroutine.close(thread)) end
  function co.wrap(f)
    local thread = co.create(f)
    return function(...)
      local function results(ok, ...)
        if not ok then error(guard.stopped or ..., 0) end
        return ...
      end
      return results(coroutine.resume(thread, ...))
    end
  end
  return {
    pcall = function(...) return check(pcall(...)) end,
    xpcall = function(...) return check(xpcall(...)) end,
    coroutine = co,
  }
end

--- The globals a sandboxed policy sees; guard is the policy's (see limited).
local function sandbox(guard)
  local regsh = require "regsh"
  local get_metatable, set_metatable = metatable_functions()
  local guarded = guarded_functions(guard)
  local env = {
    string = read_only(string, "string"), table = read_only(table, "table"),
    math = read_only(math, "math"), utf8 = read_only(utf8, "utf8"),
    coroutine = read_only(guarded.coroutine, "coroutine"),
    pairs = pairs, ipairs = ipairs, next = next, select = select, type = type,
    tostring = tostring, tonumber = tonumber, error = error, assert = assert,
    pcall = guarded.pcall, xpcall = guarded.xpcall, setmetatable = set_metatable, getmetatable = get_metatable,
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
  local check_interrupt = require("regsh.core.loop").check_interrupt
  local guard = policy.guard or {}
  guard.stopped = nil
  debug.sethook(co, function()
    check_interrupt()   -- Ctrl-C and SIGTERM reach a policy that loops
    if guard.stopped then error(guard.stopped, 0) end
    if os.clock() - started > limit then
      -- once stopped, stopped for good: the sandbox's pcall and coroutines re-raise it
      guard.stopped = string.format("%s took more than %gs of CPU time (a loop that never "
        .. "ends?)", what, limit)
      error(guard.stopped, 0)
    end
  end, "", 10000)
  local host = require "regsh.core.host"
  local before, used = host.memory_limit()
  local ceiling = used + (policy.memory_limit or M.MEMORY_LIMIT)
  host.memory_limit(before ~= 0 and math.min(before, ceiling) or ceiling)
  -- the ceiling is lifted before anything else is allocated
  local function lifted(...)
    host.memory_limit(before)
    return table.pack(...)
  end
  local results = lifted(coroutine.resume(co, ...))
  -- a policy that waits (it cannot: it has no registry) would leave co suspended
  if results[1] and coroutine.status(co) ~= "dead" then
    return nil, string.format("policy %s: %s yielded; a policy cannot wait", policy.file, what)
  end
  if not results[1] then
    local message = tostring(results[2])
    -- Ctrl-C or SIGTERM (check_interrupt): the run stops, not just the policy
    if message == "interrupted!" or message == "terminated!" then error(message, 0) end
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
  local value, file, guard
  if type(spec) == "table" then
    value, file = spec, opts.file or "(table)"
  else
    local text, chunkname = source_of(spec)
    if not text then return nil, chunkname, "EINVAL" end
    file = chunkname:sub(2)
    guard = {}
    local env = opts.trusted and setmetatable({}, {__index = _G}) or sandbox(guard)
    local chunk, err = load(text, chunkname, "t", env)
    if not chunk then return fail("policy " .. file .. ": " .. err) end
    local ok
    ok, value = limited({file = file, guard = guard}, "loading it", chunk)
    if not ok then return nil, "EINVAL: " .. value, "EINVAL" end
    if type(value) == "function" then value = {select = value} end
  end
  if type(value) ~= "table" or type(value.select) ~= "function" then
    return fail(string.format("policy %s: must return a table with a select(repo, params) "
      .. "function, got %s", file, type(value)))
  end
  for key, v in pairs(value) do
    local want = ({select = "function", repositories = "function", check = "function",
                   description = "string", params = "table", time_limit = "number",
                   memory_limit = "number"})[key]
    if not want then return fail(string.format("policy %s: unknown field '%s'", file, key)) end
    if type(v) ~= want then
      return fail(string.format("policy %s: field '%s' must be a %s, got %s", file, key, want,
        type(v)))
    end
  end
  local policy = {file = file, select = value.select, repositories = value.repositories,
                  check = value.check, description = value.description,
                  defaults = value.params or {}, time_limit = value.time_limit, guard = guard,
                  -- a policy may lower its memory ceiling, never raise it
                  memory_limit = value.memory_limit
                    and math.floor(math.max(0, math.min(value.memory_limit, M.MEMORY_LIMIT)))}
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
  local reason, tag_digest
  if type(item) == "table" then
    local kind = rawget(item, "kind")
    reason = rawget(item, "reason")
    if kind == "tag" then
      tag_digest = rawget(item, "digest")
      item = rawget(item, "name")
    elseif kind == "manifest" then item = rawget(item, "digest")
    else return nil, "a table that is not a tag or manifest entry" end
    if type(item) ~= "string" then return nil, "an entry without a name or digest" end
  elseif type(item) ~= "string" then
    return nil, "an item that is not a tag name, a digest or an entry (" .. type(item) .. ")"
  end
  local entry = item:find("^sha256:") and snap:manifest(item) or snap:tag(item)
  if not entry then
    return nil, string.format("'%s' is not a tag or manifest of %s", item, snap.name)
  end
  -- a tag entry of another repository that happens to share the name
  if tag_digest ~= nil and tag_digest ~= entry.digest then
    return nil, string.format("an entry for tag '%s' that is not %s's (it names %s)", item,
      snap.name, tostring(tag_digest))
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
