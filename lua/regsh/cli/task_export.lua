-- regsh task export NAME --format k8s-cronjob: a stored task as Kubernetes
-- CronJobs (batch/v1), one per enabled timer, whose pod runs the same task
-- with `regsh run` and the definition inlined, so it needs no store. The
-- mapping is documented in docs/reference/schedule.md (Export).
local source = require "regsh.task.source"

local M = {}

-- queue has no counterpart: Forbid is the nearest (a warning says so)
local CONCURRENCY = {allow = "Allow", forbid = "Forbid", replace = "Replace", queue = "Forbid"}
-- catch-up none: an occurrence that could not start within this many seconds
-- is skipped (the daemon's skip); latest leaves the field out, and the
-- controller starts the latest missed occurrence once; a timer's starting
-- deadline is the field itself
M.SKIP_DEADLINE = 60
M.DEFAULT_IMAGE = "regsh:latest"

local NAMES = {"january", "february", "march", "april", "may", "june", "july", "august",
  "september", "october", "november", "december", "sunday", "monday", "tuesday", "wednesday",
  "thursday", "friday", "saturday"}

-- ACR matches names by prefix ("Monday", "Janu"); Kubernetes takes the
-- three-letter ones: a word of 3 letters or more becomes the name it starts
local function short_names(expr)
  return (expr:gsub("%a+", function(word)
    local w = word:lower()
    if #w < 3 then return word end
    for _, full in ipairs(NAMES) do
      if full:sub(1, #w) == w then return full:sub(1, 1):upper() .. full:sub(2, 3) end
    end
    return word
  end))
end

-- a DNS-1123 name of at most 52 characters (CronJob's limit)
local function k8s_name(task, timer)
  local n = (task .. "-" .. timer):lower():gsub("[^a-z0-9-]", "-"):gsub("^-+", ""):gsub("-+$", "")
  return (n:sub(1, 52):gsub("-+$", ""))
end

local function b64(text)
  return require("regsh.registry.base64").encode(text)
end

local function sorted_keys(map)
  local keys = {}
  for k in pairs(map) do keys[#keys + 1] = k end
  table.sort(keys)
  return keys
end

-- the container's args and env: `regsh run` with the task inlined
local function container_of(def, secret_name)
  local yaml = require "regsh.yaml"
  local args, env = yaml.array(), yaml.array()
  local function add(...) for _, a in ipairs{...} do args[#args + 1] = a end end
  add("run")
  if def.kind == "cmd" then
    add("--encoded-task", b64(source.cmd_yaml(def.definition, def.timeout)))
  elseif def.kind == "file" and def.definition then
    add("--encoded-task", b64(def.definition))
  elseif def.kind == "lua" then
    return nil, "ENOTSUP: the task '" .. def.name .. "' is a Lua script: export takes task files "
      .. "and --cmd tasks"
  else
    add("-f", def.file)
  end
  add("--timeout", tostring(def.timeout), "--executor", def.executor or "local")
  if def.registry then add("-r", def.registry) end
  for _, k in ipairs(sorted_keys(def.values)) do add("--set", k .. "=" .. def.values[k]) end
  for _, k in ipairs(sorted_keys(def.secret_values)) do
    local var = "REGSH_SECRET_" .. k:upper():gsub("[^A-Z0-9]", "_")
    add("--set-secret", k .. "=$(" .. var .. ")")
    env[#env + 1] = {name = var, valueFrom = {secretKeyRef = {name = secret_name, key = k}}}
  end
  if def.values_file then
    if source.is_dev_null(def.context) then
      local text, err = source.read_local(def.values_file)
      if not text then return nil, err end
      add("--encoded-values", b64(text))
    else
      add("--values", def.values_file)
    end
  end
  add(source.is_dev_null(def.context) and "/dev/null" or def.context)
  return args, env
end

local function warn(timer, text)
  io.stderr:write("regsh task export: warning: timer '", timer, "': ", text, "\n")
end

--- warn_policies(def, t): one warning per policy a CronJob cannot keep.
function M.warn_policies(def, t)
  if def.concurrency == "queue" then
    warn(t.name, "Kubernetes has no concurrency queue: exported as Forbid (a fire while a Job "
      .. "runs is skipped, not queued)")
  end
  if def.mutex then
    warn(t.name, "the mutex group '" .. def.mutex .. "' has no Kubernetes counterpart: "
      .. "its Jobs may run at the same time as the group's other tasks")
  end
  if t.catch_up == "all" then
    warn(t.name, "Kubernetes starts only the latest missed occurrence (catch-up all is "
      .. "exported as latest)")
  end
end

--- cronjobs(def, image) -> array of CronJob tables | fail: one per enabled timer.
function M.cronjobs(def, image)
  local cron = require "regsh.schedule.cron"
  local jobs = {}
  local secret_name = k8s_name(def.name, "secrets")
  local args, env = container_of(def, secret_name)
  if not args then return nil, env end
  for _, t in ipairs(def.timers) do
    if t.status == "Enabled" then
      local c, err = cron.parse(t.schedule, {dialect = t.dialect, tz = t.tz})
      if not c then return nil, err end
      local fields = {}
      for f in c.expr:gmatch("%S+") do fields[#fields + 1] = f end
      if c.expr:find("^@every") or #fields == 6 then
        return nil, "ENOTSUP: timer '" .. t.name .. "': " .. t.schedule
          .. ": a Kubernetes CronJob takes 5 fields (no seconds, no @every)"
      end
      if t.dialect == "acr" and #fields == 5 and fields[3] ~= "*" and fields[5] ~= "*" then
        io.stderr:write("regsh task export: warning: timer '", t.name, "': ACR runs when both the "
          .. "day of month and the day of week match; Kubernetes when either does\n")
      end
      M.warn_policies(def, t)
      local spec = {
        schedule = short_names(c.expr), timeZone = c.tz,
        concurrencyPolicy = CONCURRENCY[def.concurrency],
        startingDeadlineSeconds = t.starting_deadline
          or (t.catch_up == "none" and M.SKIP_DEADLINE or nil),
        suspend = def.status == "Disabled" or nil,
        jobTemplate = {spec = {activeDeadlineSeconds = def.timeout, backoffLimit = 0,
          template = {spec = {restartPolicy = "Never", containers = {{
            name = "regsh", image = image, args = args, env = #env > 0 and env or nil}}}}}},
      }
      jobs[#jobs + 1] = {apiVersion = "batch/v1", kind = "CronJob",
        metadata = {name = k8s_name(def.name, t.name), labels = {
          ["app.kubernetes.io/managed-by"] = "regsh", ["regsh.task"] = k8s_name(def.name, ""),
          ["regsh.timer"] = k8s_name(t.name, "")}},
        spec = spec}
    end
  end
  if #jobs == 0 then
    return nil, "EINVAL: the task '" .. def.name .. "' has no enabled timer to export", "EINVAL"
  end
  return jobs
end

function M.configure(cmd)
  local export = cmd:command("export", "Write a Kubernetes CronJob per enabled timer of a task.")
  export:argument("task_name", "The task's name (or -n NAME).", nil):args("?"):target("name_arg")
  export:option("-n --name", "The task's name."):argname("<name>")
  export:option("--format", "The output format.", "k8s-cronjob"):choices{"k8s-cronjob"}
  export:option("--image", "The container image with regsh (default " .. M.DEFAULT_IMAGE .. ").",
    M.DEFAULT_IMAGE):argname("<image>")
  require("regsh.cli.task_runs").state_option(export)
end

function M.run(args)
  local name = args.name_arg or args.name
  if not name then
    return require("regsh.cli").usage_error("task export", "give the task's name: NAME or --name NAME")
  end
  local st, err = require("regsh.cli.task_runs").open_store(args)
  if not st then return nil, err end
  local def = require("regsh.schedule.tasks").get(st, name)
  st:close()
  if not def then return nil, "ENOTFOUND: the task '" .. name .. "' does not exist" end
  local jobs
  jobs, err = M.cronjobs(def, args.image)
  if not jobs then return nil, err end
  local yaml = require "regsh.yaml"
  for i, job in ipairs(jobs) do
    if i > 1 then io.stdout:write("---\n") end
    io.stdout:write(yaml.encode(job))
  end
  return 0
end

return M
