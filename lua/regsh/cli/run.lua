-- regsh run: `az acr run` on this machine. The task comes from -f (a file
-- in the context, or a local path / stdin with /dev/null), --cmd (ACR's
-- one-step task) or --encoded-task; `regsh run workflow.lua [args]` runs a
-- Lua workflow instead. Exit 0 when the run Succeeded, 1 otherwise, 130/143 on signals.
local cli = require "regsh.cli"

local BOTH = "Azure Container Registry can run with either --cmd myCommand /dev/null or "
  .. "-f myFile mySourceLocation, but not both."

local source = require "regsh.task.source"
local is_dev_null, read_local = source.is_dev_null, source.read_local

-- The merged values and the secret strings to mask (regsh.task.source).
local function values_of(args, read)
  return source.values(args, read)
end

-- The task's text, its name and how to read files beside it, or a fail;
-- the opened context is kept in args.opened_context for the run.
local function task_text(args)
  local text, name, read, ctx = source.text(args)
  if not text then return nil, name end
  args.opened_context = ctx
  return text, name, read
end

local function print_plan(plan)
  print(string.format("Plan (executor %s): %d step(s); nothing is started (--dry-run)",
    plan.executor, #plan.steps))
  for _, s in ipairs(plan.steps) do
    local deps = #s.deps > 0 and table.concat(s.deps, ", ") or "-"
    print(string.format("%s (%s) after: %s", s.id, s.kind, deps))
    for line in (s.argv .. "\n"):gmatch("([^\n]*)\n") do print("  " .. line) end
  end
end

local function exit_status(run)
  if run.status == "Succeeded" then return 0 end
  if run.signal == "SIGINT" then return 130 end
  if run.signal == "SIGTERM" then return 143 end
  return 1
end

local function run_options(args, values, secrets)
  return {executor = args.executor, registry = args.registry or os.getenv("ACR_DEFAULT_REGISTRY"),
    timeout = args.timeout, grace = args.grace, values = values, secrets = secrets,
    dry_run = args.dry_run,
    store = args.state and (args.state .. "/state.db") or nil}
end

-- regsh run workflow.lua [args]: the script builds (and maybe runs) a task;
-- a task it returns is run here with the command line's options.
local function workflow(args)
  local task = require "regsh.task"
  local chunk, err = loadfile(args.source)
  if not chunk then return cli.fail("run", "ENOENT: " .. tostring(err)) end
  local script_args = {[0] = args.source}
  for i, a in ipairs(args.args) do script_args[i] = a end
  _G.arg = script_args
  local result = chunk(table.unpack(args.args))
  if getmetatable(result) == task.Task then
    local values, secrets = values_of(args, read_local)
    if not values then return cli.fail("run", secrets) end
    local run, rerr = result:run(run_options(args, values, secrets))
    if not run then return cli.fail("run", rerr) end
    if args.dry_run then
      print_plan(run)
      return 0
    end
    return exit_status(run)
  end
  if type(result) == "table" and result.status then return exit_status(result) end
  return 0
end

return {
  exit_status = exit_status,
  summary = "Run an ACR task file, a --cmd, or a Lua workflow (az acr run on this machine).",
  description = "Runs the steps of an ACR multi-step task (acb.yaml) in containers "
    .. "(podman or docker) or, with --executor local, as host processes. CONTEXT is a "
    .. "directory, a tar(.gz) file or URL, a git URL, oci://REGISTRY/REPO:TAG, or /dev/null. "
    .. "-f names a file inside the context (default acb.yaml); with /dev/null it is a local "
    .. "path or - for stdin. The run is recorded in the state store (regsh task list-runs).",
  examples = {
    "regsh run --executor local -f acb.yaml .",
    "regsh run --cmd 'busybox echo hello' /dev/null",
    "regsh run -r 127.0.0.1:5000 --set tag=v1 -f - /dev/null < task.yaml",
    "regsh run --dry-run -f acb.yaml ./app",
    "regsh run nightly.lua",
  },
  configure = function(cmd)
    cmd:argument("source", "The context (or a workflow.lua).", nil):args("?")
    cmd:argument("args", "Arguments of a workflow.lua (after --).", nil):args("*")
    cmd:option("-f --file", "The task file: inside the context, or a local path / - with "
      .. "/dev/null."):argname("<file>")
    cmd:option("--cmd", "Run one command: IMAGE [args] (ACR's one-step task)."):argname("<cmd>")
    cmd:option("--values", "A values file (YAML).", nil):argname("<file>")
    cmd:option("--set", "A value: key=value; repeatable.", nil):count("*"):argname("<k=v>")
    cmd:option("--set-secret", "A secret value: key=value, masked in the output and log; "
      .. "repeatable.", nil):count("*"):argname("<k=v>")
    cmd:option("-r --registry", "The run's registry (.Run.Registry; else "
      .. "$ACR_DEFAULT_REGISTRY).", nil):argname("<host>")
    cmd:option("--executor", "podman, docker or local (default: podman, else docker, else "
      .. "local).", nil):choices{"podman", "docker", "local"}
    cmd:option("--timeout", "The run's timeout in seconds (default 3600).", nil, math.tointeger)
      :argname("<s>")
    cmd:option("--grace", "Seconds a step has after the first SIGINT/SIGTERM (its processes "
      .. "get SIGTERM) before SIGKILL; a second signal kills at once (default 2).", nil,
      tonumber):argname("<s>")
    cmd:flag("--dry-run", "Print the plan and the command each step would run; start nothing.")
    cmd:option("--state", "The directory of regsh's state store (default "
      .. "$XDG_STATE_HOME/regsh).", nil):argname("<dir>")
    cmd:option("--encoded-task", "The task as base64 (as az acr run sends it).", nil)
      :argname("<b64>")
    cmd:option("--encoded-values", "The values as base64 YAML.", nil):argname("<b64>")
  end,
  run = function(args)
    if args.cmd and args.file then return cli.usage_error("run", BOTH) end
    require("regsh.proc").reap_orphans()  -- PID 1's duty: no zombie of a step's orphans
    if args.grace and args.grace < 0 then
      return cli.usage_error("run", "--grace " .. args.grace .. ": must be >= 0 seconds")
    end
    if args.timeout and args.timeout <= 0 then
      return cli.usage_error("run", "--timeout " .. args.timeout .. ": must be > 0 seconds")
    end
    if args.source and args.source:match("%.lua$") and not args.file and not args.cmd then
      return workflow(args)
    end
    if #args.args > 0 then return cli.usage_error("run", "one context only: " .. args.args[1]) end
    if not args.source then
      if not (args.cmd or args.encoded_task) then
        return cli.usage_error("run", "give a context (a directory, URL, ... or /dev/null)")
      end
      args.source = "/dev/null"
    end
    local text, name, read = task_text(args)
    if not text then return cli.fail("run", name) end
    local values, secrets = values_of(args, is_dev_null(args.source) and read_local or read)
    if not values then return cli.fail("run", secrets) end
    if args.encoded_values then
      local v = require "regsh.task.values"
      local decoded, err = v.decode_encoded(args.encoded_values)
      local extra = decoded
      if decoded then extra, err = v.load_text(decoded, "--encoded-values") end
      if not extra then return cli.fail("run", err) end
      values = v.merge(values, extra)
    end
    local opts = run_options(args, values, secrets)
    local task, err = require("regsh.task").from_yaml(text, {name = name, values = values,
      secrets = {}, registry = opts.registry})
    if not task then return cli.fail("run", err) end
    opts.context = args.opened_context or (not is_dev_null(args.source) and args.source or nil)
    local run
    run, err = task:run(opts)
    if args.opened_context then args.opened_context:close() end
    if not run then return cli.fail("run", err) end
    if args.dry_run then
      print_plan(run)
      return 0
    end
    return exit_status(run)
  end,
}
