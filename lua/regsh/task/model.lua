-- regsh.task.model: the one task model YAML tasks and Lua workflows share.
-- normalize() stamps ACR's defaults on a raw task table, validates it with
-- ACR's own error messages (acb graph/task.go, step.go, dag.go) and computes
-- each step's deps; acr_yaml feeds it decoded YAML, regsh.task Lua tables.
local M = {}

M.DEFAULT_STEP_TIMEOUT = 600
M.DEFAULT_RETRY_DELAY = 5
M.VERSIONS = {["1.0-preview-1"] = true, ["v1.0.0"] = true, ["v1.1.0"] = true}
M.CURRENT_VERSION = "v1.0.0"
M.ROOT_ID = "acb_root"

-- The keys acb's structs read (graph.Task, graph.Step): everything else is
-- ignored by the decoder, and lint names it.
M.TASK_KEYS = {
  version = true, stepTimeout = true, workingDirectory = true, env = true, secrets = true,
  networks = true, volumes = true, steps = true, alias = true,
}
M.STEP_KEYS = {
  id = true, cmd = true, build = true, push = true, when = true, workingDirectory = true,
  disableWorkingDirectoryOverride = true, entryPoint = true, env = true, ports = true,
  expose = true, detach = true, keep = true, privileged = true, user = true, network = true,
  isolation = true, cpus = true, timeout = true, startDelay = true, retries = true,
  retryDelay = true, retryOnErrors = true, ["repeat"] = true, ignoreErrors = true, pull = true,
  cmdDownloadRetries = true, cmdDownloadRetryDelay = true, cache = true, volumeMounts = true,
  exitedWith = true, exitedWithout = true,
}

local NULL = require("regsh.json").null

-- A failure carrying ACR's message; `where` ("acb.yaml:12:3" or "acb.yaml")
-- goes in front so the one line names the input.
local Invalid = {}
local function invalid(message, key)
  error(setmetatable({message = message, key = key}, Invalid), 0)
end

-- Go's %q for the strings tasks hold (printable ASCII and UTF-8 pass).
local function go_quote(s)
  return '"' .. s:gsub('[%c"\\]', function(c)
    local named = {['"'] = '\\"', ["\\"] = "\\\\", ["\n"] = "\\n", ["\t"] = "\\t", ["\r"] = "\\r"}
    return named[c] or string.format("\\x%02x", c:byte())
  end) .. '"'
end
M.go_quote = go_quote

local function absent(v) return v == nil or v == NULL end

local function yaml_tag(v)
  local t = math.type(v) == "integer" and "!!int" or math.type(v) == "float" and "!!float"
    or type(v) == "boolean" and "!!bool" or type(v) == "string" and "!!str"
    or type(v) == "table" and (getmetatable(v) == require("regsh.json").array_mt and "!!seq"
      or "!!map") or type(v)
  return t
end

local function mismatch(path, v, gotype)
  local shown = type(v) == "table" and "" or " `" .. tostring(v) .. "`"
  invalid(string.format("%s: cannot unmarshal %s%s into %s", path, yaml_tag(v), shown, gotype))
end

-- yaml.v2 reads any scalar into a string field (its text).
local function as_string(v, path)
  if absent(v) then return nil end
  if type(v) == "string" then return v end
  if math.type(v) == "integer" then return string.format("%d", v) end
  if type(v) == "number" or type(v) == "boolean" then return tostring(v) end
  mismatch(path, v, "string")
end

local function as_int(v, path)
  if absent(v) then return 0 end
  if math.type(v) == "integer" then return v end
  if math.type(v) == "float" and v == math.floor(v) and v == v then return math.tointeger(v) end
  mismatch(path, v, "int")
end

-- yaml.v2 is YAML 1.1: yes/no/on/off are booleans there.
local WORDS = {yes = true, y = true, on = true, ["true"] = true,
               no = false, n = false, off = false, ["false"] = false}
local function as_bool(v, path)
  if absent(v) then return false end
  if type(v) == "boolean" then return v end
  if type(v) == "string" and WORDS[v:lower()] ~= nil then return WORDS[v:lower()] end
  mismatch(path, v, "bool")
end

local function as_strings(v, path)
  if absent(v) then return nil end
  if type(v) ~= "table" or (next(v) ~= nil and v[1] == nil) then mismatch(path, v, "[]string") end
  local out = {}
  for i, item in ipairs(v) do out[i] = as_string(item, path .. "[" .. i - 1 .. "]") or "" end
  return out
end

local function as_map(v, path)
  if absent(v) then return nil end
  if type(v) ~= "table" or (v[1] ~= nil) then mismatch(path, v, "map") end
  return v
end

-- An item of a list of structs: a null item is the struct's zero value, as
-- Go's yaml decodes it (so `volumeMounts: [~]` fails on the empty name, not
-- on indexing nothing).
local function as_item(v, path)
  return as_map(v, path) or {}
end

local function as_list(v, path, what)
  if absent(v) then return {} end
  if type(v) ~= "table" or (next(v) ~= nil and v[1] == nil) then mismatch(path, v, what) end
  return v
end

local function has_space(s)
  return s:find("[%s\194\133\194\160]") ~= nil or s:find("\226\128[\128-\138\168\169\175]") ~= nil
    or s:find("\227\128\128", 1, true) ~= nil or s:find("\226\129\159", 1, true) ~= nil
end

--- normalize_workdir(dir) -> the path a step runs in (acb normalizeWorkDir):
--- absolute kept (cleaned), relative under /workspace, empty is /workspace.
function M.normalize_workdir(dir)
  if dir == nil or dir == "" then return "/workspace" end
  if dir:sub(1, 1) ~= "/" then dir = "/workspace/" .. dir end
  local parts = {}
  for part in dir:gmatch("[^/]+") do
    if part == ".." then parts[#parts] = nil
    elseif part ~= "." then parts[#parts + 1] = part end
  end
  return "/" .. table.concat(parts, "/")
end

--- normalize_image(name) -> name with ":latest" when it has neither ':' nor '@'.
function M.normalize_image(name)
  if not name:find("[:@]") then return name .. ":latest" end
  return name
end

-- mergeEnvs(dest = step env, src = task env): task entries split on ',',
-- a step key wins; the step's own entries are checked only when there is a
-- task env (as in acb).
local function merge_envs(dest, src, dest_what, src_what)
  dest = dest or {}
  if src == nil or #src == 0 then return dest end
  local split = {}
  for _, entry in ipairs(src) do
    for piece in (entry .. ","):gmatch("(.-),") do split[#split + 1] = piece end
  end
  local seen, out = {}, {}
  for _, entry in ipairs(dest) do
    local key = entry:match("^(.-)=")
    if not key then
      invalid(string.format("cannot parse %s environment variable %s correctly", dest_what, entry))
    end
    seen[key] = true
    out[#out + 1] = entry
  end
  for _, entry in ipairs(split) do
    local key = entry:match("^(.-)=")
    if not key then
      invalid(string.format("cannot parse %s environment variable %s correctly", src_what, entry))
    end
    if not seen[key] then out[#out + 1] = entry end
  end
  return out
end

local function is_guid(s)
  local h = "%x"
  return s:match("^{?" .. h:rep(8) .. "%-?" .. h:rep(4) .. "%-?" .. h:rep(4) .. "%-?" .. h:rep(4)
    .. "%-?" .. h:rep(12) .. "}?$") ~= nil
end

local function normalize_secrets(raw)
  local out, ids = {}, {}
  for i, s in ipairs(as_list(raw, "secrets", "[]secret")) do
    local path = "secrets[" .. i - 1 .. "]"
    s = as_item(s, path)
    local secret = {id = as_string(s.id, path .. ".id") or "",
                    keyvault = as_string(s.keyvault, path .. ".keyvault"),
                    clientID = as_string(s.clientID, path .. ".clientID")}
    local problem
    if secret.id == "" then problem = "secret is missing an ID as well as auto-generated ID"
    elseif has_space(secret.id) then problem = "secret ID cannot contain spaces"
    elseif (secret.keyvault or "") == "" then
      problem = "secret should contain either keyvault property for vault secret, or msi "
        .. "clientID/aadResourceId for msi authentication"
    elseif (secret.clientID or "") ~= "" and not is_guid(secret.clientID) then
      problem = "msi client ID is not a valid guid"
    end
    if problem then
      if secret.id == "" then invalid(problem) end
      invalid("failed to validate secret with ID: " .. secret.id .. ": " .. problem)
    end
    if ids[secret.id] then invalid("duplicate secret found with ID: " .. secret.id) end
    ids[secret.id] = true
    out[i] = secret
  end
  return out
end

local function normalize_volumes(raw)
  local out, names = {}, {}
  for i, v in ipairs(as_list(raw, "volumes", "[]volume")) do
    local path = "volumes[" .. i - 1 .. "]"
    v = as_item(v, path)
    local name = as_string(v.name, path .. ".name") or ""
    if name == "" then invalid("volume name is empty") end
    if not name:match("^[%w_%-]+$") then
      invalid("volume name is not well formed. Only use alphanumeric and - _")
    end
    local secret = as_map(v.secret, path .. ".secret")
    if secret == nil then invalid("currently only support for source type secret") end
    local files, count = {}, 0
    for file, value in pairs(secret) do
      file = as_string(file, path .. ".secret") or ""
      if file == "" then invalid("secret name provided for value is empty") end
      if not file:match("^[%w_%.%-]+$") then
        invalid("file name, " .. file .. ", is not well formed. Only use alphanumeric and - _ .")
      end
      files[file] = as_string(value, path .. ".secret." .. file) or ""
      count = count + 1
    end
    if count == 0 then invalid("secret is empty") end
    if names[name] then invalid("volume with duplicate name found") end
    names[name] = true
    out[i] = {name = name, secret = files}
  end
  return out
end

local function normalize_networks(raw)
  local out = {}
  for i, n in ipairs(as_list(raw, "networks", "[]network")) do
    local path = "networks[" .. i - 1 .. "]"
    n = as_item(n, path)
    local name = as_string(n.name, path .. ".name") or ""
    if name == "" then invalid("name must be specified") end
    out[i] = {name = name, driver = as_string(n.driver, path .. ".driver"),
              ipv6 = as_bool(n.ipv6, path .. ".ipv6"),
              skipCreation = as_bool(n.skipCreation, path .. ".skipCreation"),
              isDefault = as_bool(n.isDefault, path .. ".isDefault")}
  end
  return out
end

local function normalize_mounts(raw, path)
  local out = {}
  for i, m in ipairs(as_list(raw, path, "[]mount")) do
    local mpath = path .. "[" .. i - 1 .. "]"
    m = as_item(m, mpath)
    out[i] = {name = as_string(m.name, mpath .. ".name") or "",
              mountPath = as_string(m.mountPath, mpath .. ".mountPath") or ""}
  end
  return out
end

local function normalize_ints(raw, path)
  if absent(raw) then return nil end
  local out = {}
  for i, v in ipairs(as_list(raw, path, "[]int")) do out[i] = as_int(v, path) end
  return out
end

-- Copy one raw step into the model's shape (acb initialize's per-step part).
local function new_step(raw, index, task)
  local path = "steps[" .. index .. "]"
  if type(raw) ~= "table" then mismatch(path, raw, "graph.Step") end
  local s = {index = index, raw = raw}
  s.id = as_string(raw.id, path .. ".id") or ""
  s.cmd = as_string(raw.cmd, path .. ".cmd") or ""
  s.build = as_string(raw.build, path .. ".build") or ""
  s.push = as_strings(raw.push, path .. ".push") or {}
  if task.allow_fn and raw.fn ~= nil then
    if type(raw.fn) ~= "function" then
      error(string.format("%s.fn: a function expected, got %s", path, type(raw.fn)), 0)
    end
    s.fn = raw.fn
  end
  s.when = as_strings(raw.when, path .. ".when")
  s.workingDirectory = as_string(raw.workingDirectory, path .. ".workingDirectory") or ""
  s.disableWorkingDirectoryOverride = as_bool(raw.disableWorkingDirectoryOverride,
    path .. ".disableWorkingDirectoryOverride")
  s.entryPoint = as_string(raw.entryPoint, path .. ".entryPoint")
  s.env = as_strings(raw.env, path .. ".env")
  s.ports = as_strings(raw.ports, path .. ".ports") or {}
  s.expose = as_strings(raw.expose, path .. ".expose") or {}
  for _, key in ipairs({"detach", "keep", "privileged", "ignoreErrors", "pull"}) do
    s[key] = as_bool(raw[key], path .. "." .. key)
  end
  for _, key in ipairs({"user", "network", "isolation", "cpus", "cache"}) do
    s[key] = as_string(raw[key], path .. "." .. key)
  end
  for _, key in ipairs({"timeout", "startDelay", "retries", "retryDelay", "repeat",
                        "cmdDownloadRetries", "cmdDownloadRetryDelay"}) do
    s[key] = as_int(raw[key], path .. "." .. key)
  end
  s.retryOnErrors = as_strings(raw.retryOnErrors, path .. ".retryOnErrors")
  s.exitedWith = normalize_ints(raw.exitedWith, path .. ".exitedWith")
  s.exitedWithout = normalize_ints(raw.exitedWithout, path .. ".exitedWithout")
  s.volumeMounts = normalize_mounts(raw.volumeMounts, path .. ".volumeMounts")

  -- defaults, as acb's initialize stamps them
  if s.timeout <= 0 then s.timeout = task.stepTimeout end
  if s.retryDelay <= 0 then s.retryDelay = M.DEFAULT_RETRY_DELAY end
  if (s.network or "") == "" then s.network = task.default_network end
  s.env = merge_envs(s.env, task.env, "step", "task")
  if s.id == "" then s.id = "acb_step_" .. index end
  if s.workingDirectory == "" then s.workingDirectory = task.workingDirectory end
  s.workingDirectory = M.normalize_workdir(s.workingDirectory)
  local images, seen = {}, {}
  for _, image in ipairs(s.push) do
    image = M.normalize_image(image)
    if not seen[image] then seen[image] = true; images[#images + 1] = image end
  end
  s.push = images
  return s
end

local function kind_of(s)
  local kinds = {}
  if s.cmd ~= "" then kinds[#kinds + 1] = "cmd" end
  if s.build ~= "" then kinds[#kinds + 1] = "build" end
  if #s.push > 0 then kinds[#kinds + 1] = "push" end
  if s.fn then kinds[#kinds + 1] = "lua" end
  if #kinds > 1 then
    if s.fn then invalid("step must only contain a single build, cmd, push or fn property") end
    invalid("step must only contain a single build, cmd, or push property")
  end
  return kinds[1]
end

-- Step.Validate, in acb's order.
local function validate_step(s)
  if s.retries < 0 then invalid("step must specify retries >= 0") end
  if s["repeat"] < 0 then invalid("step must specify repeat >= 0") end
  local kind = kind_of(s)
  if has_space(s.id) then invalid("step ID cannot contain spaces") end
  if not kind then invalid("step is missing a cmd, build, or push property") end
  s.kind = kind
  if #s.volumeMounts > 0 then
    if kind ~= "cmd" and kind ~= "build" then
      invalid("invalid use of Mounts. Mounts must have unique container paths and only used "
        .. "for cmd or build steps")
    end
    local paths = {}
    for _, m in ipairs(s.volumeMounts) do
      if m.name == "" or m.mountPath == "" then invalid("mount name or mount path is empty") end
      if paths[m.mountPath] then invalid("mount with duplicate container file path found") end
      paths[m.mountPath] = true
    end
  end
  for _, dep in ipairs(s.when or {}) do
    if dep == "-" and #s.when > 1 then
      invalid("step cannot contain other IDs in when if the immediate execution token is "
        .. "specified")
    end
    if dep == s.id then invalid("Step ID: " .. s.id .. " is self-referenced") end
  end
  if s.cache and s.cache ~= "" and s.cache:lower() ~= "enabled" and s.cache:lower() ~= "disabled"
  then
    invalid("invalid value for cache property. Valid values are 'enabled', 'disabled'")
  end
end

-- The edges NewDagFromTask adds, as each step's deps (deduplicated, in the
-- order written): ["-"] none, no when the previous step in the file, a list
-- all of them, each defined earlier.
local function add_deps(s, prev, vertices)
  if vertices[s.id] then invalid(s.id .. " already exists as a vertex") end
  if s.id == M.ROOT_ID then invalid(M.ROOT_ID .. " is a reserved ID, it can't be used") end
  vertices[s.id] = true
  local deps, seen = {}, {}
  if s.when and #s.when == 1 and s.when[1] == "-" then
    s.deps = deps
    return
  end
  if s.when == nil or #s.when == 0 then
    if prev then deps[1] = prev.id end
    s.deps = deps
    return
  end
  for _, dep in ipairs(s.when) do
    if dep == "" then invalid("from cannot be empty") end
    if not vertices[dep] then
      invalid(string.format("%s does not exist as a vertex [from: %s, to: %s]", dep, dep, s.id))
    end
    if not seen[dep] then seen[dep] = true; deps[#deps + 1] = dep end
  end
  s.deps = deps
end

local function check_mount_names(steps, volumes)
  local names = {}
  for _, v in ipairs(volumes) do names[v.name] = true end
  for _, s in ipairs(steps) do
    for _, m in ipairs(s.volumeMounts) do
      if not names[m.name] then
        invalid("mount name, " .. m.name .. ", does not correspond to a volume")
      end
    end
  end
end

-- where(index, key) -> "file:line:col" of step index (0-based) or of a
-- top-level key, when known
local function locate(opts, index, key)
  local name = opts.name
  local at = index and opts.step_lines and opts.step_lines[index + 1]
    or key and opts.key_lines and opts.key_lines[key]
  if at and name then return string.format("%s:%d:%d", name, at[1], at[2]) end
  if at then return string.format("line %d:%d", at[1], at[2]) end
  return name
end

local function build(raw, opts)
  if type(raw) ~= "table" or raw[1] ~= nil then mismatch("task", raw, "graph.Task") end
  local task = {allow_fn = opts.allow_fn}
  task.version = as_string(raw.version, "version") or ""
  task.name = opts.task_name or as_string(raw.name, "name")
  task.stepTimeout = as_int(raw.stepTimeout, "stepTimeout")
  task.workingDirectory = as_string(raw.workingDirectory, "workingDirectory") or ""
  task.env = as_strings(raw.env, "env") or {}
  -- graph.Task.Validate: secrets, volumes, mount names (before any default)
  task.secrets = normalize_secrets(raw.secrets)
  task.volumes = normalize_volumes(raw.volumes)
  task.networks = normalize_networks(raw.networks)
  local raw_steps = as_list(raw.steps, "steps", "[]*graph.Step")
  -- AddTaskDefaults: CLI env defaults under the task's own
  if opts.default_workdir and task.workingDirectory == "" then
    task.workingDirectory = opts.default_workdir
  end
  task.env = merge_envs(task.env, opts.env, "step", "task")
  -- initialize
  if task.version == "" then task.version = M.CURRENT_VERSION end
  if not M.VERSIONS[task.version:lower()] then
    invalid(string.format("invalid version specified: %s, the current version is %s",
      go_quote(task.version), go_quote(M.CURRENT_VERSION)), "version")
  end
  for i = #task.networks, 1, -1 do
    if task.networks[i].isDefault then task.default_network = task.networks[i].name; break end
  end
  if task.stepTimeout <= 0 then task.stepTimeout = M.DEFAULT_STEP_TIMEOUT end
  task.steps = {}
  for i, rs in ipairs(raw_steps) do
    local ok, step = pcall(new_step, rs, i - 1, task)
    if not ok then
      if getmetatable(step) == Invalid then step.index = i - 1 end
      error(step, 0)
    end
    task.steps[i] = step
  end
  local ok, err = pcall(check_mount_names, task.steps, task.volumes)
  if not ok then error(err, 0) end
  -- NewDagFromTask: validate and link each step in file order
  local vertices, prev = {}, nil
  for i, s in ipairs(task.steps) do
    local linked, problem = pcall(function() validate_step(s); add_deps(s, prev, vertices) end)
    if not linked then
      if getmetatable(problem) == Invalid then problem.index = i - 1 end
      error(problem, 0)
    end
    prev = s
  end
  task.default_network, task.allow_fn = nil, nil
  return task
end

--- normalize(raw, opts) -> task | nil, "ETASK: where: message", "ETASK"
--- opts: {name = "acb.yaml", step_lines = {{line, col}, ...}, env = {"K=V"},
---        key_lines = {version = {line, col}}, task_name = "...", default_workdir = "...", allow_fn = bool (Lua steps)}
function M.normalize(raw, opts)
  opts = opts or {}
  if getmetatable(raw) == M.Builder then return raw:normalize(opts) end
  local ok, task = pcall(build, raw, opts)
  if ok then return setmetatable(task, M.Task) end
  if getmetatable(task) ~= Invalid then error(task, 0) end
  local where = locate(opts, task.index, task.key)
  local message = task.message
  if task.index and not where then message = message .. " (step " .. task.index + 1 .. ")" end
  return nil, "ETASK: " .. (where and where .. ": " or "") .. message, "ETASK"
end

--- order(task) -> the steps in an order that respects deps (Kahn; ties in
--- file order).
function M.order(task)
  local waiting, children, ready = {}, {}, {}
  for _, s in ipairs(task.steps) do
    waiting[s.id] = #s.deps
    for _, dep in ipairs(s.deps) do
      children[dep] = children[dep] or {}
      table.insert(children[dep], s)
    end
  end
  for _, s in ipairs(task.steps) do
    if waiting[s.id] == 0 then ready[#ready + 1] = s end
  end
  local out = {}
  while #ready > 0 do
    table.sort(ready, function(a, b) return a.index < b.index end)
    local s = table.remove(ready, 1)
    out[#out + 1] = s
    for _, child in ipairs(children[s.id] or {}) do
      waiting[child.id] = waiting[child.id] - 1
      if waiting[child.id] == 0 then ready[#ready + 1] = child end
    end
  end
  return out
end

local STEP_FIELDS = {
  "workingDirectory", "disableWorkingDirectoryOverride", "entryPoint", "env", "ports", "expose",
  "detach", "keep", "privileged", "user", "network", "isolation", "cpus", "volumeMounts",
  "timeout", "startDelay", "retries", "retryDelay", "retryOnErrors", "repeat", "ignoreErrors",
  "pull", "cache",
}

--- to_json(task) -> a plain table for `regsh task plan -o json`: the task's
--- settings and its steps in file order, each with id, kind, deps and fields.
function M.to_json(task)
  local json = require "regsh.json"
  local function array(t) return json.array(t or {}) end
  local steps = {}
  for i, s in ipairs(task.steps) do
    local out = {id = s.id, index = s.index, kind = s.kind, deps = array(s.deps),
                 when = s.when and array(s.when) or nil}
    if s.kind == "cmd" then out.cmd = s.cmd
    elseif s.kind == "build" then out.build = s.build
    elseif s.kind == "push" then out.push = array(s.push) end
    for _, key in ipairs(STEP_FIELDS) do out[key] = s[key] end
    for _, key in ipairs({"env", "ports", "expose", "volumeMounts"}) do out[key] = array(s[key]) end
    steps[i] = out
  end
  local networks = {}
  for i, n in ipairs(task.networks) do networks[i] = n end
  local secrets = {}
  for i, s in ipairs(task.secrets) do secrets[i] = s end
  local volumes = {}
  for i, v in ipairs(task.volumes) do volumes[i] = {name = v.name, files = array((function()
    local names = {}
    for file in pairs(v.secret) do names[#names + 1] = file end
    table.sort(names)
    return names
  end)())} end
  return {version = task.version, name = task.name, stepTimeout = task.stepTimeout,
          workingDirectory = task.workingDirectory, env = array(task.env),
          networks = array(networks), secrets = array(secrets), volumes = array(volumes),
          steps = array(steps)}
end

M.Task = {__name = "regsh.task.model"}
M.Task.__index = M.Task

--- task:find(id) -> the step with that id, or nil
function M.Task:find(id)
  for _, s in ipairs(self.steps) do
    if s.id == id then return s end
  end
  return nil
end

-- Lua workflows: a builder collecting raw fields and steps, normalized later
-- by the same normalize() a YAML file goes through.
M.Builder = {__name = "regsh.task.builder"}
M.Builder.__index = M.Builder

--- new(fields) -> builder; fields are task keys (name, stepTimeout, env, ...)
function M.new(fields)
  if fields ~= nil and type(fields) ~= "table" then
    error("bad argument #1 to 'new' (table expected, got " .. type(fields) .. ")", 2)
  end
  local raw = {}
  for k, v in pairs(fields or {}) do raw[k] = v end
  local steps = {}
  for i, s in ipairs(raw.steps or {}) do steps[i] = s end
  raw.steps = steps
  if raw.version == nil then raw.version = "v1.1.0" end
  return setmetatable({fields = raw}, M.Builder)
end

--- builder:step(spec) -> builder; spec uses the YAML step keys, or fn
--- (a function run in-process) instead of cmd/build/push.
function M.Builder:step(spec)
  if type(spec) ~= "table" then
    error("bad argument #1 to 'step' (table expected, got " .. type(spec) .. ")", 2)
  end
  local copy = {}
  for k, v in pairs(spec) do copy[k] = v end
  table.insert(self.fields.steps, copy)
  return self
end

--- builder:raw() -> the raw task table normalize() reads
function M.Builder:raw()
  return self.fields
end

--- builder:normalize(opts) -> task | nil, err, "ETASK"
function M.Builder:normalize(opts)
  local o = {allow_fn = true}
  for k, v in pairs(opts or {}) do o[k] = v end
  return M.normalize(self.fields, o)
end

return M
