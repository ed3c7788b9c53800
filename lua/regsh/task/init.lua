-- regsh.task: tasks for scripts. regsh.task.new{...} and t:step{...} build
-- the same model an ACR task file gives (regsh.task.model), regsh.task.load
-- reads a task file through regsh.task.acr_yaml, and t:run{...} hands the
-- model to regsh.task.runner. Reference: docs/reference/task.md.
local M = {}

local Task = {}
Task.__index = Task
Task.__name = "regsh.task"

-- The model's normalize when regsh.task.model is there; until then the
-- minimal one below (defaults, ids, kinds, deps: enough for Lua workflows).
-- TODO(lead): drop `minimal` once model.lua is merged.
local function model_normalize()
  local ok, model = pcall(require, "regsh.task.model")
  if ok and type(model) == "table" and model.normalize then return model.normalize end
  return nil
end

local function fail(message)
  return nil, "ETASK: " .. message, "ETASK"
end

local KINDS = {"cmd", "build", "push", "fn"}

local function minimal(raw)
  local task = {}
  for k, v in pairs(raw) do if k ~= "steps" then task[k] = v end end
  task.version = raw.version or "v1.1.0"
  task.stepTimeout = raw.stepTimeout or 600
  task.env = raw.env or {}
  task.steps = {}
  local seen = {}
  for i, r in ipairs(raw.steps or {}) do
    local s = {}
    for k, v in pairs(r) do s[k] = v end
    s.index = i - 1
    s.id = r.id or ("acb_step_" .. (i - 1))
    if s.id:find("%s") then return fail("step ID cannot contain spaces") end
    if seen[s.id] then return fail(s.id .. " already exists as a vertex") end
    local kind
    for _, k in ipairs(KINDS) do
      if r[k] ~= nil then
        if kind then return fail("step must only contain a single build, cmd, or push property") end
        kind = k
      end
    end
    if not kind then return fail("step is missing a cmd, build, or push property") end
    s.kind = kind == "fn" and "lua" or kind
    if type(s.push) == "string" then s.push = {s.push} end
    for j, img in ipairs(s.push or {}) do
      if not img:find("[:@]") then s.push[j] = img .. ":latest" end
    end
    local env = {}
    for _, e in ipairs(task.env) do env[#env + 1] = e end
    for _, e in ipairs(r.env or {}) do env[#env + 1] = e end
    s.env = env
    local wd = r.workingDirectory or raw.workingDirectory or ""
    if wd == "" then wd = "/workspace"
    elseif wd:sub(1, 1) ~= "/" then wd = "/workspace/" .. wd end
    s.workingDirectory = wd
    s.timeout = r.timeout or task.stepTimeout
    s.startDelay = r.startDelay or 0
    s.retries = r.retries or 0
    s.retryDelay = (r.retryDelay or 0) > 0 and r.retryDelay or 5
    s["repeat"] = r["repeat"] or 0
    s.ignoreErrors = r.ignoreErrors == true
    s.detach = r.detach == true
    if r.when == nil or #r.when == 0 then
      s.deps = i > 1 and {task.steps[i - 1].id} or {}
    elseif r.when[1] == "-" then
      if #r.when > 1 then
        return fail("step cannot contain other IDs in when if the immediate execution token "
          .. "is specified")
      end
      s.deps = {}
    else
      s.deps = {}
      local dup = {}
      for _, dep in ipairs(r.when) do
        if dep == s.id then return fail("Step ID: " .. s.id .. " is self-referenced") end
        if not seen[dep] then
          return fail(string.format("%s does not exist as a vertex [from: %s, to: %s]", dep, dep,
            s.id))
        end
        if not dup[dep] then s.deps[#s.deps + 1] = dep end
        dup[dep] = true
      end
    end
    seen[s.id] = true
    task.steps[i] = s
  end
  return task
end

--- normalize(raw) -> model task | fail (ETASK).
function M.normalize(raw, opts)
  local normalize = model_normalize()
  if normalize then return normalize(raw, opts) end
  return minimal(raw)
end

local function check_table(value, fname)
  if type(value) ~= "table" then
    error(string.format("bad argument #1 to '%s' (table expected, got %s)", fname, type(value)), 3)
  end
end

--- new{name =, stepTimeout =, env =, ...} -> task with no steps yet.
function M.new(fields)
  if fields == nil then fields = {} end
  check_table(fields, "new")
  local raw = {}
  for k, v in pairs(fields) do raw[k] = v end
  raw.steps = raw.steps or {}
  local model, err = M.normalize(raw)
  if not model then error(err, 2) end
  return setmetatable({raw = raw, model = model}, Task)
end

--- t:step{id =, cmd = | build = | push = | fn =, when =, ...} -> t. A bad
--- step (two kinds, unknown `when` id, ...) raises its ETASK message.
function Task:step(fields)
  check_table(fields, "step")
  local steps = self.raw.steps
  steps[#steps + 1] = fields
  local model, err = M.normalize(self.raw)
  if not model then
    steps[#steps] = nil
    error(err, 2)
  end
  self.model = model
  return self
end

--- t:run{executor =, registry =, context =, timeout =, values =, store =,
--- dry_run =, on_output =} -> run (run.id, run.status, run.steps).
function Task:run(opts)
  if opts ~= nil then check_table(opts, "run") end
  return require("regsh.task.runner").run(self, opts or {})
end

--- t:plan() -> the normalized model (steps with kind, deps).
function Task:plan()
  return self.model
end

--- load(path, {values =, secrets =, registry =, context =}) -> task | fail:
--- an ACR task file. It is rendered now (with a placeholder run id) to
--- report errors early, and again when it runs, with the run's own .Run.
function M.load(path, opts)
  if type(path) ~= "string" then
    error(string.format("bad argument #1 to 'load' (string expected, got %s)", type(path)), 2)
  end
  opts = opts or {}
  local f, err = io.open(path, "rb")
  if not f then return nil, "ENOENT: " .. tostring(err), "ENOENT" end
  local text = f:read("a")
  f:close()
  return M.from_yaml(text, {name = path:match("[^/]*$"), base_dir = path:match("^(.*)/[^/]*$"),
    values = opts.values, secrets = opts.secrets, registry = opts.registry})
end

--- from_yaml(text, opts) -> task | fail: a task from ACR task YAML text.
--- opts: {name, values, secrets, registry, base_dir, task_name}.
function M.from_yaml(text, opts)
  local runner = require "regsh.task.runner"
  local source = {text = text, opts = opts}
  local model, err, code = runner.render(source, runner.run_info{id = "dryrun",
    registry = opts.registry, workspace = "", task_name = opts.task_name})
  if not model then return nil, err, code end
  return setmetatable({raw = nil, model = model, source = source}, Task)
end

M.Task = Task

return M
