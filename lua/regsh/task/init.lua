-- regsh.task: tasks for scripts. regsh.task.new{...} and t:step{...} build
-- the same model an ACR task file gives (regsh.task.model), regsh.task.load
-- reads a task file through regsh.task.acr_yaml, and t:run{...} hands the
-- model to regsh.task.runner. Reference: docs/reference/task.md.
local M = {}

local Task = {}
Task.__index = Task
Task.__name = "regsh.task"

-- how the REPL shows a task: its name (if any) and its step count
function Task:__tostring()
  local m = self.model or {}
  local n = #(m.steps or {})
  return string.format("regsh.task (%s%d step%s)", m.name and (tostring(m.name) .. ", ") or "",
    n, n == 1 and "" or "s")
end

local model = require "regsh.task.model"

--- normalize(raw [, opts]) -> model task | fail (ETASK): model.normalize,
--- with Lua function steps allowed.
function M.normalize(raw, opts)
  local o = {allow_fn = true}
  for k, v in pairs(opts or {}) do o[k] = v end
  return model.normalize(raw, o)
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
  local builder = model.new(fields)
  local normalized, err = builder:normalize()
  if not normalized then error(err, 2) end
  return setmetatable({builder = builder, model = normalized}, Task)
end

--- t:step{id =, cmd = | build = | push = | fn =, when =, ...} -> t. A bad
--- step (two kinds, unknown `when` id, ...) raises its ETASK message.
function Task:step(fields)
  check_table(fields, "step")
  if not self.builder then error("step: a task loaded from a file takes no more steps", 2) end
  self.builder:step(fields)
  local normalized, err = self.builder:normalize()
  if not normalized then
    table.remove(self.builder.fields.steps)
    error(err, 2)
  end
  self.model = normalized
  return self
end

--- t:run{executor =, registry =, context =, timeout =, grace =, values =, store =,
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
  local normalized, err, code = runner.render(source, runner.run_info{id = "dryrun",
    registry = opts.registry, workspace = "", task_name = opts.task_name})
  if not normalized then return nil, err, code end
  return setmetatable({model = normalized, source = source}, Task)
end

M.Task = Task

return M
