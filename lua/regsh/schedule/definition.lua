-- regsh.schedule.definition: a stored task (regsh.schedule.tasks) turned into
-- a runnable regsh.task and the runner's options, the same way `regsh run`
-- builds one (regsh.task.source); run() starts it with its trigger, timer and
-- occurrence so the run record says why it ran. docs/reference/schedule.md.
local source = require "regsh.task.source"

local M = {}

-- the text and name of a file/cmd task, how to read files beside it, and
-- the opened context when -f is read from one
local function text_of(def)
  if def.kind == "cmd" then
    return source.cmd_yaml(def.definition, def.timeout), "cmd", source.read_local
  end
  if def.definition then return def.definition, def.file or "encoded", source.read_local end
  return source.text{source = def.context, file = def.file}
end

-- a "lua" task: its script returns a regsh.task (as `regsh run x.lua` runs)
local function lua_task(def)
  local chunk, err = load(def.definition, "=" .. def.name, "t")
  if not chunk then return nil, "ETASK: task '" .. def.name .. "': " .. tostring(err), "ETASK" end
  local ok, task = pcall(chunk)
  if not ok then return nil, "ETASK: task '" .. def.name .. "': " .. tostring(task), "ETASK" end
  if getmetatable(task) ~= require("regsh.task").Task then
    return nil, "ETASK: task '" .. def.name .. "': the script returns no regsh.task", "ETASK"
  end
  return task
end

--- build(def) -> task, opts | fail: a task definition (tasks.get's shape)
--- as a regsh.task and runner options {registry, values, secrets, context,
--- executor, timeout, task_name}. opts.context may be an open regsh.context
--- (-f read from a context): close it after the run.
function M.build(def)
  local text, name, read, ctx
  if def.kind ~= "lua" then
    text, name, read, ctx = text_of(def)
    if not text then return nil, name, read end
  else
    read = source.read_local
  end
  local secret_keys = {}
  local sets = {}
  for k, v in pairs(def.values or {}) do sets[k] = v end
  for k, v in pairs(def.secret_values or {}) do
    sets[k] = v
    secret_keys[#secret_keys + 1] = k
  end
  table.sort(secret_keys)
  local values, secrets, code = source.merged(sets, secret_keys, def.values_file, read)
  local function failed(err, c)
    if ctx then ctx:close() end
    return nil, err, c
  end
  if not values then return failed(secrets, code) end
  local task, err
  if def.kind == "lua" then
    task, err, code = lua_task(def)
  else
    task, err, code = require("regsh.task").from_yaml(text, {name = name, values = values,
      secrets = {}, registry = def.registry, task_name = def.name})
  end
  if not task then return failed(err, code) end
  local context = ctx
  if not context and not source.is_dev_null(def.context) then context = def.context end
  return task, {registry = def.registry, values = values, secrets = secrets, context = context,
    executor = def.executor, timeout = def.timeout, task_name = def.name}
end

--- load(st, name) -> task, opts | fail: the stored task `name` built now
--- (ENOTFOUND when there is none).
function M.load(st, name)
  local def = require("regsh.schedule.tasks").get(st, name)
  if not def then
    return nil, "ENOTFOUND: the task '" .. tostring(name) .. "' does not exist", "ENOTFOUND"
  end
  return M.build(def)
end

--- run(st, name, {trigger = "Manual"|"Timer", timer, occurrence, store,
--- on_output, values, secret_values}) -> run | fail: one run of the stored
--- task (values and secret_values: maps over the stored ones), recorded with its
--- trigger, timer and occurrence. A Timer run for an occurrence that already
--- has a run (or a skip) fails with EEXIST before anything starts. A task
--- that cannot be built (its context or file gone) is recorded as an Error
--- run, so a timer's failure shows in list-runs, and the fail is returned.
function M.run(st, name, o)
  o = o or {}
  local runs = require "regsh.task.runs"
  local info = {task = name, trigger = o.trigger or "Manual", timer = o.timer,
    occurrence = o.occurrence}
  local taken = runs.occurrence_taken(st, info)
  if taken then return nil, taken, "EEXIST" end
  local def = require("regsh.schedule.tasks").get(st, name)
  if not def then
    return nil, "ENOTFOUND: the task '" .. tostring(name) .. "' does not exist", "ENOTFOUND"
  end
  for _, field in ipairs{"values", "secret_values"} do
    for k, v in pairs(o[field] or {}) do def[field][k] = v end
  end
  local task, opts, code = M.build(def)
  if not task then
    info.registry, info.executor = def.registry, def.executor
    local id, err, c = runs.begin(o.store or st, info)
    if not id then return nil, err, c end
    runs.finish(o.store or st, id, "Error", require("regsh.errors").detail(opts))
    return nil, opts, code
  end
  opts.trigger, opts.timer, opts.occurrence = info.trigger, o.timer, o.occurrence
  opts.store, opts.on_output = o.store or st, o.on_output
  local context = opts.context
  local run, err
  run, err, code = task:run(opts)
  if type(context) == "table" then context:close() end
  if not run then return nil, err, code end
  return run
end

return M
