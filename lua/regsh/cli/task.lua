-- regsh task render|plan|lint FILE: an ACR task file through the acr_yaml
-- pipeline without running anything; list-runs and logs are the run
-- records' side (cli/task_runs.lua); the stored tasks' subcommands are
-- cli/task_manage.lua's and export is cli/task_export.lua's.
local function task_runs()
  local ok, mod = pcall(require, "regsh.cli.task_runs")
  if ok then return mod end
  return nil
end

local function file_flags(cmd)
  cmd:argument("file", "The task file (ACR task YAML), or - for standard input.")
  cmd:option("-r --registry", "The registry .Run.Registry and $Registry stand for "
    .. "(default $ACR_DEFAULT_REGISTRY, else empty).", nil):argname("<host>")
  cmd:option("--values", "A values file (YAML) for .Values.", nil):argname("<file>")
  cmd:option("--set", "KEY=VALUE for .Values.KEY (wins over --values); repeatable.")
    :count("*"):argname("<key=value>")
  cmd:option("--set-secret", "KEY=VALUE like --set, a value not to be shown in logs; "
    .. "repeatable.", nil):count("*"):argname("<key=value>")
  cmd:option("--secret", "ID=VALUE: the value of the task's Key Vault secret ID for "
    .. ".Secrets.ID (Key Vault is not reached from here); repeatable.", nil)
    :count("*"):argname("<id=value>")
  cmd:option("--id", "The run ID .Run.ID and $ID stand for (default dryrun).", nil)
    :argname("<id>")
end

-- KEY=VALUE (split at the first '=', key not empty)
local function pair(flag, item)
  local ok, values = pcall(require, "regsh.task.values")
  if ok and values.parse_set then
    local k, v = values.parse_set(item)
    if k then return k, v end
    return nil, "--" .. flag .. " " .. require("regsh.errors").detail(tostring(v))
  end
  local k, v = item:match("^([^=]+)=(.*)$")
  if not k then return nil, "--" .. flag .. " " .. item .. ": expected KEY=VALUE" end
  return k, v
end

-- the values .Values sees: --set and --set-secret over the values file (ACR §4.4)
local function merged_values(args)
  local sets = {}
  for _, flag in ipairs({"set", "set_secret"}) do
    for _, item in ipairs(args[flag] or {}) do
      local k, v = pair(flag:gsub("_", "-"), item)
      if not k then return nil, v end
      sets[k] = v
    end
  end
  local file_values = {}
  if args.values then
    local ok, values = pcall(require, "regsh.task.values")
    local loaded, err
    if ok and values.load_file then
      loaded, err = values.load_file(args.values)
    else
      loaded, err = require("regsh.yaml").decode_file(args.values)
      if loaded == require("regsh.yaml").null then loaded = {} end
      if loaded and type(loaded) ~= "table" then
        loaded, err = nil, "ETASK: " .. args.values .. ": a values file is a mapping"
      end
    end
    if not loaded then return nil, err end
    file_values = loaded
  end
  local out = {}
  for k, v in pairs(file_values) do out[k] = v end
  for k, v in pairs(sets) do out[k] = v end
  return out
end

local function read_task(args)
  if args.file == "-" then return io.stdin:read("a"), "stdin", "." end
  local text, err = require("regsh.fs").read_file(args.file)
  if not text then return nil, err end
  return text, args.file, args.file:match("^(.*)/[^/]*$") or "."
end

local function options(args)
  local values, err = merged_values(args)
  if not values then return nil, err end
  local secrets = {}
  for _, item in ipairs(args.secret or {}) do
    local k, v = pair("secret", item)
    if not k then return nil, v end
    secrets[k] = v
  end
  local acr_yaml = require "regsh.task.acr_yaml"
  local registry = args.registry or os.getenv("ACR_DEFAULT_REGISTRY") or ""
  return {values = values, secrets = secrets,
          run = acr_yaml.run_info{registry = registry, id = args.id}}
end

local function warn_all(warnings)
  for _, w in ipairs(warnings or {}) do io.stderr:write("regsh task: warning: ", w, "\n") end
end

-- the text `task plan` prints: one line a step, in file order
local function plan_text(task)
  local out = {}
  local function what(s)
    if s.kind == "push" then return table.concat(s.push, " ") end
    if s.kind == "lua" then return "(Lua function)" end
    return (s[s.kind]:gsub("%s+", " "):gsub("^ ", ""):gsub(" $", ""))
  end
  local width = 4
  for _, s in ipairs(task.steps) do width = math.max(width, #s.id) end
  out[1] = string.format("%-" .. width .. "s  %-5s  %-24s  %s", "STEP", "KIND", "WAITS FOR", "RUNS")
  for _, s in ipairs(task.steps) do
    local deps = #s.deps > 0 and table.concat(s.deps, ",") or "-"
    out[#out + 1] = string.format("%-" .. width .. "s  %-5s  %-24s  %s", s.id, s.kind, deps, what(s))
  end
  return table.concat(out, "\n") .. "\n"
end

local function load(args, with_lint)
  local text, name_or_err, base = read_task(args)
  if not text then return nil, name_or_err end
  local opts, err = options(args)
  if not opts then return nil, err end
  opts.name, opts.base_dir = name_or_err, base
  if with_lint then return require("regsh.task.lint").check(text, opts) end
  return text, opts
end

local subcommands = {}

function subcommands.render(args)
  local text, opts = load(args)
  if not text then return nil, opts end
  local rendered, warnings, code = require("regsh.task.acr_yaml").render(text, opts)
  if not rendered then return nil, warnings, code end
  warn_all(warnings)
  io.stdout:write(rendered)
  if rendered:sub(-1) ~= "\n" then io.stdout:write("\n") end
  return 0
end

function subcommands.plan(args)
  local text, opts = load(args)
  if not text then return nil, opts end
  local task, err = require("regsh.task.acr_yaml").load(text, opts)
  if not task then return nil, err end
  warn_all(task.warnings)
  if args.output == "json" then
    require("regsh.cli").print_json(require("regsh.task.model").to_json(task))
  else
    io.stdout:write(plan_text(task))
  end
  return 0
end

function subcommands.lint(args)
  local warnings, err = load(args, true)
  if not warnings then return nil, err end
  for _, w in ipairs(warnings) do io.stdout:write(w.text, "\n") end
  return 0
end

subcommands["list-runs"] = function(args)
  local runs = task_runs()
  if not runs then return nil, "ENOTSUP: run records are not part of this build" end
  return runs.list_runs(args)
end

function subcommands.logs(args)
  local runs = task_runs()
  if not runs then return nil, "ENOTSUP: run records are not part of this build" end
  return runs.logs(args)
end

local manage = require "regsh.cli.task_manage"
for name, fn in pairs(manage.commands) do subcommands[name] = fn end
subcommands.export = function(args) return require("regsh.cli.task_export").run(args) end

return {
  plan_text = plan_text,
  summary = "Stored and scheduled tasks (create, list, show, update, delete, run, timer, "
    .. "export); render, plan or lint an ACR task file; past runs and their logs.",
  description = "render prints the task after ACR's preprocessing (comment lines out, aliases "
    .. "for version v1.1.0 and later, values, templates); plan prints the steps with the ids "
    .. "each waits for; lint warns about what ACR accepts silently (a step waiting only for "
    .. "the previous one after parallel steps, shell variables an alias replaces, unknown "
    .. "keys). lint exits 0 when it only warns, 1 when the file does not load. create, list, "
    .. "show, update, delete, run, timer and cancel-run manage stored tasks in the state store "
    .. "as az acr task does; regsh serve fires their timers; export writes a Kubernetes "
    .. "CronJob per timer.",
  examples = {
    "regsh task render acb.yaml -r 127.0.0.1:5000 --set env=prod",
    "regsh task plan acb.yaml -r 127.0.0.1:5000 -o json",
    "regsh task lint acb.yaml",
    "regsh task list-runs --top 5",
    "regsh task logs ca1",
    "regsh task create --name purgetask --registry 127.0.0.1:5000 --context /dev/null "
      .. "--cmd \"regsh purge --registry 127.0.0.1:5000 --filter 'scratch:.*' --ago 10d "
      .. "--untagged\" --executor local --schedule \"0 10 * * *\"",
    "regsh task show purgetask",
    "regsh task run purgetask",
    "regsh task timer add purgetask --timer-name weekend --schedule \"0 12 * * Sat,Sun\"",
    "regsh task export purgetask --format k8s-cronjob --image regsh:latest",
  },
  configure = function(cmd)
    cmd:command_target("subcommand")
    local render = cmd:command("render", "Print the task file as ACR would run it (YAML).")
    file_flags(render)
    local plan = cmd:command("plan", "Print the normalized steps and the ids each waits for.")
    file_flags(plan)
    plan:option("-o --output", "text (a table) or json.", "text"):choices({"text", "json"})
      :argname("<format>")
    local lint = cmd:command("lint", "Warn about the traps ACR accepts silently.")
    file_flags(lint)
    local runs = task_runs()
    local list = cmd:command("list-runs", "List past runs, newest first.")
    local logs = cmd:command("logs", "Print the log of a run (default: the last one).")
    if runs then
      runs.configure_list_runs(list)
      runs.configure_logs(logs)
    end
    manage.configure(cmd)
    require("regsh.cli.task_export").configure(cmd)
  end,
  run = function(args)
    return subcommands[args.subcommand](args)
  end,
}
