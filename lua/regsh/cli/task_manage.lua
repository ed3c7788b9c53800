-- regsh task create|list|show|update|delete|run|timer|cancel-run: the stored
-- tasks (regsh.schedule.tasks) as `az acr task` manages them, with az's flag
-- spellings. cli/task.lua declares the subcommands through configure() and
-- dispatches to run(); export is cli/task_export.lua.
local runs_cli = require "regsh.cli.task_runs"
local source = require "regsh.task.source"

local M = {}

local BOTH = "Azure Container Registry can run with either --cmd myCommand /dev/null or "
  .. "-f myFile mySourceLocation, but not both."

local function tasks() return require "regsh.schedule.tasks" end

-- NAME as the positional argument or --name/-n
local function name_flags(cmd)
  cmd:argument("task_name", "The task's name (or -n NAME).", nil):args("?"):target("name_arg")
  cmd:option("-n --name", "The task's name."):argname("<name>")
end

local function name_of(args)
  if args.name_arg and args.name and args.name_arg ~= args.name then
    return nil, "two names: " .. args.name_arg .. " and " .. args.name
  end
  local name = args.name_arg or args.name
  if not name then return nil, "give the task's name: NAME or --name NAME" end
  return name
end

local function values_flags(cmd)
  cmd:option("--set", "A value: key=value; repeatable.", nil):count("*"):argname("<k=v>")
  cmd:option("--set-secret", "A secret value: key=value, masked in output and logs; "
    .. "repeatable.", nil):count("*"):argname("<k=v>")
  cmd:option("--values", "A values file (YAML): in the context, or a local path with "
    .. "/dev/null.", nil):argname("<file>")
end

local function policy_flags(cmd)
  cmd:option("-r --registry", "The run's registry (.Run.Registry).", nil):argname("<host>")
  cmd:option("--timeout", "The run's timeout in seconds (default 3600; 1 to 28800).", nil,
    math.tointeger):argname("<s>")
  cmd:option("--executor", "podman, docker or local (default: podman, else docker, else local).",
    nil):choices{"podman", "docker", "local"}
  cmd:option("--status", "Enabled or Disabled (default Enabled).", nil)
    :choices{"Enabled", "Disabled"}
  cmd:option("--concurrency", "When a timer fires while a run goes: allow (default, as ACR), "
    .. "forbid (skip it, recorded Skipped), replace, or queue (wait for it; at most one "
    .. "waiting per timer).", nil):choices{"allow", "forbid", "replace", "queue"}
  cmd:option("--mutex", "A mutex group: runs of tasks in one group never run at once "
    .. "(\"\" on update: none).", nil):argname("<name>")
  cmd:option("--missed", "The catch-up of all the task's timers, as before: skip (= "
    .. "--catch-up none) or run-once (= latest).", nil):choices{"skip", "run-once"}
end

local function catch_up_max(s)
  local n = math.tointeger(tonumber(s))
  local tasks_mod = require "regsh.schedule.tasks"
  if n and n >= 1 and n <= tasks_mod.MAX_CATCH_UP_MAX then return n end
  return nil, string.format("--catch-up-max %s: an integer from 1 to %d", s,
    tasks_mod.MAX_CATCH_UP_MAX)
end

-- a duration ("30m", "2h") in seconds >= 1, or "none" (false: no deadline)
local function starting_deadline(s)
  if s == "none" then return false end
  local n = require("regsh.time").parse_duration(s)
  if n and n >= 1 then return n end
  return nil, string.format("--starting-deadline %s: a duration of 1s or more (e.g. 30m, 2h, "
    .. "1d) or none", s)
end

-- the missed-run flags of a timer (task create, timer add and update)
local function catch_up_flags(cmd)
  cmd:option("--catch-up", "Occurrences missed while no daemon ran: none (default: one "
    .. "Skipped record), latest (run the latest) or all (run them, at most --catch-up-max).",
    nil):choices{"none", "latest", "all"}
  cmd:option("--catch-up-max", "With --catch-up all, run at most the latest N (default 10).",
    nil, catch_up_max):argname("<n>")
  cmd:option("--starting-deadline", "An occurrence not started within this long of its time "
    .. "is Skipped (e.g. 30m; none: no deadline).", nil, starting_deadline):argname("<dur>")
end

-- the timer fields the catch-up flags give
local function catch_up_fields(args, t)
  t.catch_up, t.catch_up_max = args.catch_up, args.catch_up_max
  if args.starting_deadline ~= nil then t.starting_deadline = args.starting_deadline end
  return t
end

local function timer_flags(cmd)
  cmd:option("--dialect", "The cron dialect of the schedules: acr (default, as ACR: 5 fields, "
    .. "day fields ANDed) or vixie.", nil):choices{"acr", "vixie"}
  cmd:option("--tz", "The time zone of the schedules (IANA name; default UTC).", nil)
    :argname("<zone>")
end

-- an absolute path for a local file or directory given relative to here, so
-- a daemon started elsewhere finds it; URLs and absolute paths as they are
local function absolute(path)
  if not path or path:sub(1, 1) == "/" or path:find("^%a[%w+.-]*://") or path:find("^git@")
      or source.is_dev_null(path) then
    return path
  end
  if not require("regsh.fs").stat(path) then return path end
  local pwd = os.getenv("PWD") or "."
  return pwd .. "/" .. path:gsub("^%./", "")
end

-- "[name:]CRON" -> {name, schedule, and the flags' dialect, tz, catch-up}
local function parse_schedule(text, args)
  local name, expr = text:match("^([%w_-]+):(.*)$")
  return catch_up_fields(args, {name = name, schedule = expr or text, dialect = args.dialect,
    tz = args.tz})
end

-- the values of --set/--set-secret as the two maps a stored task keeps
local function stored_values(args)
  local sets, secret_keys = source.sets(args.set, args.set_secret)
  if not sets then return nil, secret_keys end
  local values, secrets = {}, {}
  for k, v in pairs(sets) do
    if secret_keys[k] then secrets[k] = v else values[k] = v end
  end
  return values, secrets
end

-- -f/--cmd/-c as the kind, definition, file and context of a stored task
local function definition_of(args)
  local context = args.context or "/dev/null"
  if args.cmd then
    return {kind = "cmd", definition = args.cmd, context = absolute(context)}
  end
  if source.is_dev_null(context) then
    local text, err = source.read_local(args.file)
    if not text then return nil, err end
    if args.file:match("%.lua$") then
      return {kind = "lua", definition = text, file = args.file, context = context}
    end
    return {kind = "file", definition = source.with_version(text), file = args.file,
      context = context}
  end
  return {kind = "file", file = args.file, context = absolute(context)}
end

-- the task as JSON, secret values masked
local function task_json(def)
  local json = require "regsh.json"
  local timers = json.array()
  for i, t in ipairs(def.timers) do
    timers[i] = {name = t.name, schedule = t.schedule, dialect = t.dialect, timeZone = t.tz,
      status = t.status, lastFire = t.last_fire, catchUp = t.catch_up,
      catchUpMax = t.catch_up_max, startingDeadlineSeconds = t.starting_deadline}
  end
  local secrets = {}
  for k in pairs(def.secret_values) do secrets[k] = require("regsh.task.runner").MASK end
  return {name = def.name, kind = def.kind, status = def.status, context = def.context,
    file = def.file, cmd = def.kind == "cmd" and def.definition or nil, registry = def.registry,
    values = next(def.values) and def.values or nil, secretValues = next(secrets) and secrets or nil,
    valuesFile = def.values_file, timeout = def.timeout, executor = def.executor,
    concurrency = def.concurrency, mutex = def.mutex, timers = timers,
    createTime = require("regsh.time").format_rfc3339(math.floor(def.created))}
end

local function with_store(args, fn)
  local st, err = runs_cli.open_store(args)
  if not st then return nil, err end
  local r = table.pack(pcall(fn, st))
  st:close()
  if not r[1] then error(r[2], 0) end
  return table.unpack(r, 2, r.n)
end

local commands = {}

function commands.create(args)
  local name, err = name_of(args)
  if not name then return require("regsh.cli").usage_error("task create", err) end
  if args.cmd and args.file then return require("regsh.cli").usage_error("task create", BOTH) end
  if not args.cmd and not args.file then
    return require("regsh.cli").usage_error("task create", "give -f FILE or --cmd COMMAND")
  end
  local def
  def, err = definition_of(args)
  if not def then return nil, err end
  local values, secrets = stored_values(args)
  if not values then return nil, secrets end
  def.name, def.values, def.secret_values = name, values, secrets
  def.values_file = args.values
  if args.values and source.is_dev_null(def.context) then def.values_file = absolute(args.values) end
  def.registry, def.timeout, def.executor, def.status = args.registry, args.timeout,
    args.executor, args.status
  def.concurrency, def.missed = args.concurrency, args.missed
  if args.mutex ~= "" then def.mutex = args.mutex end
  def.timers = {}
  for i, s in ipairs(args.schedule) do def.timers[i] = parse_schedule(s, args) end
  return with_store(args, function(st)
    local ok, cerr, code = tasks().create(st, def)
    if not ok then return nil, cerr, code end
    require("regsh.cli").print_json(task_json(tasks().get(st, name)))
    return 0
  end)
end

local function triggers(def)
  for _, t in ipairs(def.timers) do
    if t.status == "Enabled" then return "TIMER" end
  end
  return ""
end

function commands.list(args)
  return with_store(args, function(st)
    local list = tasks().list(st)
    if args.output == "json" then
      local out = require("regsh.json").array()
      for i, def in ipairs(list) do out[i] = task_json(def) end
      require("regsh.cli").print_json(out)
      return 0
    end
    local rows = {{"NAME", "PLATFORM", "STATUS", "SOURCE REPOSITORY", "TRIGGERS"}}
    local os_name = require("regsh.task.runner").run_info{id = ""}.OS
    for _, def in ipairs(list) do
      rows[#rows + 1] = {def.name, os_name, def.status, def.context, triggers(def)}
    end
    runs_cli.print_table(rows)
    return 0
  end)
end

local function missing_task(name)
  return nil, "ENOTFOUND: the task '" .. name .. "' does not exist", "ENOTFOUND"
end

-- the next n fire times of a timer, ISO 8601 with the zone's offset
local function next_times(t, n, from)
  local c, err = require("regsh.schedule.cron").parse(t.schedule, {dialect = t.dialect, tz = t.tz})
  if not c then return nil, err end
  local list = c:next(from, n) or {}
  local out = require("regsh.json").array()
  for i, when in ipairs(list) do out[i] = c:format(when) end
  return out
end

function commands.show(args)
  local name, err = name_of(args)
  if not name then return require("regsh.cli").usage_error("task show", err) end
  return with_store(args, function(st)
    local def = tasks().get(st, name)
    if not def then return missing_task(name) end
    local now = os.time()
    local out = task_json(def)
    for i, t in ipairs(def.timers) do out.timers[i].next = next_times(t, 5, now) end
    local task, opts = require("regsh.schedule.definition").build(def)
    if task and type(opts.context) == "table" then opts.context:close() end
    local model = task and task:plan()
    -- the steps are rendered with the secret values: shown masked
    local masked = require("regsh.task.runner").masker(task and opts.secrets)
    if args.output == "json" then
      if model then
        out.steps = require("regsh.cli").cleaned(require("regsh.task.model").to_json(model).steps,
          masked)
      end
      out.error = not task and opts or nil
      require("regsh.cli").print_json(out)
      return 0
    end
    local w = io.stdout
    for _, f in ipairs{{"Name", def.name}, {"Status", def.status}, {"Kind", def.kind},
        {"Command", out.cmd}, {"File", def.file}, {"Context", def.context},
        {"Registry", def.registry}, {"Values file", def.values_file},
        {"Timeout", tostring(def.timeout)}, {"Executor", def.executor or "auto"},
        {"Concurrency", def.concurrency}, {"Mutex", def.mutex}} do
      if f[2] then w:write(string.format("%-12s %s\n", f[1] .. ":", f[2])) end
    end
    local keys = {}
    for k in pairs(def.values) do keys[#keys + 1] = k .. "=" .. def.values[k] end
    for k in pairs(def.secret_values) do keys[#keys + 1] = k .. "=" .. require("regsh.task.runner").MASK end
    table.sort(keys)
    if #keys > 0 then w:write(string.format("%-12s %s\n", "Values:", table.concat(keys, " "))) end
    w:write("\nSteps:\n")
    if model then
      for line in require("regsh.cli.task").plan_text(model):gmatch("[^\n]+") do
        w:write("  ", masked(line), "\n")
      end
    else
      w:write("  (the task does not load now: ", require("regsh.errors").detail(opts), ")\n")
    end
    w:write("\nTimers:\n")
    if #def.timers == 0 then w:write("  (none)\n") end
    for i, t in ipairs(def.timers) do
      w:write(string.format("  %s  %s  (%s, %s)  %s  catch-up %s%s%s\n", t.name, t.schedule,
        t.dialect, t.tz, t.status, t.catch_up,
        t.catch_up == "all" and " (at most " .. t.catch_up_max .. ")" or "",
        t.starting_deadline and ", starting deadline "
          .. require("regsh.time").format_duration(t.starting_deadline) or ""))
      for _, when in ipairs(out.timers[i].next or {}) do w:write("    next: ", when, "\n") end
    end
    return 0
  end)
end

function commands.update(args)
  local name, err = name_of(args)
  if not name then return require("regsh.cli").usage_error("task update", err) end
  if args.cmd and args.file then return require("regsh.cli").usage_error("task update", BOTH) end
  local fields = {status = args.status, timeout = args.timeout, executor = args.executor,
    concurrency = args.concurrency, missed = args.missed, registry = args.registry}
  if args.mutex == "" then fields.mutex = false else fields.mutex = args.mutex end
  if args.cmd or args.file then
    local def
    def, err = definition_of(args)
    if not def then return nil, err end
    for k, v in pairs(def) do fields[k] = v end
    if def.kind == "cmd" then fields.file = false end
    if def.definition == nil then fields.definition = false end
  elseif args.context then
    fields.context = absolute(args.context)
  end
  if #args.set > 0 or #args.set_secret > 0 then
    local values, secrets = stored_values(args)
    if not values then return nil, secrets end
    fields.values, fields.secret_values = values, secrets
  end
  if args.values then fields.values_file = absolute(args.values) end
  return with_store(args, function(st)
    local ok, uerr, code = tasks().update(st, name, fields)
    if not ok then return nil, uerr, code end
    require("regsh.cli").print_json(task_json(tasks().get(st, name)))
    return 0
  end)
end

function commands.delete(args)
  local name, err = name_of(args)
  if not name then return require("regsh.cli").usage_error("task delete", err) end
  if not args.yes then
    io.stderr:write("Are you sure you want to delete the task '", name, "'? (y/n): ")
    local answer = io.stdin:read("l") or ""
    if not answer:lower():match("^y") then
      return nil, "ECANCELED: the task '" .. name .. "' was not deleted"
    end
  end
  return with_store(args, function(st)
    local ok, derr, code = tasks().delete(st, name)
    if not ok then return nil, derr, code end
    return 0
  end)
end

function commands.run(args)
  local name, err = name_of(args)
  if not name then return require("regsh.cli").usage_error("task run", err) end
  local values, secrets = stored_values(args)
  if not values then return nil, secrets end
  return with_store(args, function(st)
    local run, rerr, code = require("regsh.schedule.definition").run(st, name,
      {trigger = "Manual", values = values, secret_values = secrets})
    if not run then return nil, rerr, code end
    return require("regsh.cli.run").exit_status(run)
  end)
end

-- `task timer add|update|remove|list`
local timer = {}

function timer.add(st, name, args)
  if not args.schedule then return nil, "give the timer's --schedule" end
  local t = parse_schedule(args.schedule, args)
  t.name = args.timer_name or t.name
  if t.starting_deadline == false then t.starting_deadline = nil end
  t.status = args.enabled == "false" and "Disabled" or "Enabled"
  return tasks().timer_add(st, name, t)
end

function timer.update(st, name, args)
  if not args.timer_name then return nil, "give the timer's --timer-name" end
  local fields = catch_up_fields(args, {schedule = args.schedule, dialect = args.dialect,
    tz = args.tz})
  if args.enabled then fields.status = args.enabled == "true" and "Enabled" or "Disabled" end
  return tasks().timer_update(st, name, args.timer_name, fields)
end

function timer.remove(st, name, args)
  if not args.timer_name then return nil, "give the timer's --timer-name" end
  return tasks().timer_remove(st, name, args.timer_name)
end

function timer.list()
  return true
end

function commands.timer(args)
  local name, err = name_of(args)
  if not name then return require("regsh.cli").usage_error("task timer", err) end
  local action = args.timer_command
  return with_store(args, function(st)
    local def = tasks().get(st, name)
    if not def then return missing_task(name) end
    local ok, terr, code = timer[action](st, name, args)
    if not ok then return nil, terr, code end
    local out = require("regsh.json").array()
    for _, t in ipairs(tasks().get(st, name).timers) do
      out[#out + 1] = {name = t.name, schedule = t.schedule, status = t.status,
        dialect = t.dialect, timeZone = t.tz, catchUp = t.catch_up, catchUpMax = t.catch_up_max,
        startingDeadlineSeconds = t.starting_deadline}
    end
    require("regsh.cli").print_json(out)
    return 0
  end)
end

local function pid_alive(pid)
  return pid and require("regsh.fs").stat("/proc/" .. pid) ~= nil
end

commands["cancel-run"] = function(args)
  local id = args.run_id or args.run_id_flag
  if not id then return require("regsh.cli").usage_error("task cancel-run", "give the RUN_ID") end
  local runs = require "regsh.task.runs"
  return with_store(args, function(st)
    local run = runs.get(st, id)
    if not run then return nil, "ENOTFOUND: no run " .. id, "ENOTFOUND" end
    if run.status ~= "Queued" and run.status ~= "Running" then
      return nil, "EINVAL: the run " .. id .. " is not running (" .. run.status .. ")", "EINVAL"
    end
    if pid_alive(run.pid) then
      local r, kerr = require("regsh.proc").run{"kill", "-TERM", tostring(run.pid), stderr = "null"}
      if not r then return nil, kerr end
      io.stdout:write("Sent SIGTERM to the process of run ", id, " (pid ", run.pid, ").\n")
      return 0
    end
    local ok, ferr, code = runs.finish(st, id, "Canceled",
      "canceled by task cancel-run: its process was gone")
    if not ok then return nil, ferr, code end
    io.stdout:write("The process of run ", id, " is gone: marked Canceled.\n")
    return 0
  end)
end

--- configure(cmd): the subcommands of `regsh task` this file runs.
function M.configure(cmd)
  local state = runs_cli.state_option
  local create = cmd:command("create", "Store a task with its timers (az acr task create).")
  name_flags(create)
  create:option("-f --file", "The task file: in the context, or a local path with /dev/null "
    .. "(read now); a .lua file there is a workflow returning a task."):argname("<file>")
  create:option("-c --context", "The context: a directory, tar, URL, git URL, oci://... or "
    .. "/dev/null (the default).", nil):argname("<context>")
  create:option("--cmd", "One command as ACR's one-step task."):argname("<cmd>")
  create:option("--schedule", "A timer: \"[name:]CRON\" (5 fields in the acr dialect); "
    .. "repeatable.", nil):count("*"):argname("<cron>")
  values_flags(create)
  policy_flags(create)
  timer_flags(create)
  catch_up_flags(create)
  state(create)

  local list = cmd:command("list", "List the stored tasks.")
  list:option("-o --output", "table or json.", "table"):choices{"table", "json"}
  state(list)

  local show = cmd:command("show", "A task: its definition, steps and timers with their "
    .. "next five fire times.")
  name_flags(show)
  show:option("-o --output", "text or json.", "text"):choices{"text", "json"}
  state(show)

  local update = cmd:command("update", "Change a stored task (--status, --timeout, ...).")
  name_flags(update)
  update:option("-f --file", "A new task file (as create)."):argname("<file>")
  update:option("-c --context", "A new context.", nil):argname("<context>")
  update:option("--cmd", "A new command."):argname("<cmd>")
  values_flags(update)
  policy_flags(update)
  state(update)

  local delete = cmd:command("delete", "Delete a stored task and its timers (its runs stay).")
  name_flags(delete)
  delete:flag("-y --yes", "Do not ask.")
  state(delete)

  local run = cmd:command("run", "Run a stored task now (trigger Manual), streaming its log.")
  name_flags(run)
  run:option("--set", "A value for this run: key=value; repeatable.", nil):count("*")
    :argname("<k=v>")
  run:option("--set-secret", "A secret value for this run; repeatable.", nil):count("*")
    :argname("<k=v>")
  state(run)

  local timer_cmd = cmd:command("timer", "Add, update, remove or list a task's timers.")
  timer_cmd:command_target("timer_command")
  for _, action in ipairs{"add", "update", "remove", "list"} do
    local sub = timer_cmd:command(action)
    name_flags(sub)
    if action ~= "list" then
      sub:option("--timer-name", "The timer's name (add: default t<N>)."):argname("<name>")
    end
    if action == "add" or action == "update" then
      sub:option("--schedule", "The cron expression."):argname("<cron>")
      sub:option("--enabled", "true or false.", nil):choices{"true", "false"}
      timer_flags(sub)
      catch_up_flags(sub)
    end
    state(sub)
  end

  local cancel = cmd:command("cancel-run", "Cancel a run: SIGTERM to its process, or mark it "
    .. "Canceled when that is gone.")
  cancel:argument("run_id", "The run.", nil):args("?")
  cancel:option("--run-id", "The run (as az spells it)."):argname("<id>"):target("run_id_flag")
  state(cancel)
end

M.commands = commands

return M
