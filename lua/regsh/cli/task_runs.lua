-- regsh task list-runs / regsh task logs: the run records regsh run (and the
-- scheduler) leave in the state store, shown as `az acr task list-runs` and
-- `az acr task logs` show them. cli/task.lua declares the subcommands and
-- calls these; the records are regsh.task.runs'.
local M = {}

--- state_option(cmd): --state DIR, for every subcommand that uses the store.
function M.state_option(cmd)
  cmd:option("--state", "The directory of regsh's state store (default "
    .. "$XDG_STATE_HOME/regsh).", nil):argname("<dir>")
end
local state_option = M.state_option

--- open_store(args) -> store | fail: the store of --state, else the default.
function M.open_store(args)
  return require("regsh.store").open(args.state and (args.state .. "/state.db") or nil)
end
local open_store = M.open_store

--- configure_list_runs(cmd): --top, -n/--name, --run-status, -o, --state
function M.configure_list_runs(cmd)
  cmd:option("--top", "Only the N newest runs (default 15, as az).", "15", math.tointeger)
    :argname("<n>")
  cmd:option("-n --name --task", "Only the runs of this task."):argname("<name>")
  cmd:option("--run-status --status", "Only runs with this status.")
    :choices{"Queued", "Running", "Succeeded", "Failed", "Canceled", "Error", "Timeout", "Skipped"}
  cmd:option("-o --output", "table or json.", "table"):choices{"table", "json"}
  state_option(cmd)
end

--- print_table(rows): rows[1] the header, then a rule, columns padded as az
--- prints them, control bytes made printable.
function M.print_table(rows)
  local widths = {}
  for _, row in ipairs(rows) do
    for i, cell in ipairs(row) do widths[i] = math.max(widths[i] or 0, #cell) end
  end
  local redact = require "regsh.registry.redact"
  for n, row in ipairs(rows) do
    local cells = {}
    for i, cell in ipairs(row) do cells[i] = cell .. string.rep(" ", widths[i] - #cell) end
    io.stdout:write(redact.printable((table.concat(cells, "  "):gsub("%s+$", ""))), "\n")
    if n == 1 then
      local rule = {}
      for i, w in ipairs(widths) do rule[i] = string.rep("-", w) end
      io.stdout:write(table.concat(rule, "  "), "\n")
    end
  end
end

local function iso(t)
  if not t then return "" end
  return require("regsh.time").format_rfc3339(math.floor(t))
end

-- az's DURATION: H:MM:SS of started..finished (or until now while running)
local function duration(run)
  if not run.started then return "" end
  local d = math.floor((run.finished or require("regsh.async").now()) - run.started + 0.5)
  return string.format("%02d:%02d:%02d", d // 3600, d % 3600 // 60, d % 60)
end

-- an attempt's outcome: "exit 1", "signal SIGKILL", or "not started"
local function outcome(a)
  if a.exit_code then return "exit " .. a.exit_code end
  if a.signal then return "signal " .. a.signal end
  return "not started"
end

-- the run's steps with their attempts, as -o json shows them
local function steps_json(run)
  local json = require "regsh.json"
  local steps = json.array()
  for i, s in ipairs(run.steps or {}) do
    local attempts = json.array()
    for j, a in ipairs(s.attempts) do
      attempts[j] = {attempt = a.attempt, exitCode = a.exit_code, signal = a.signal,
        startTime = iso(a.started), duration = a.duration}
    end
    steps[i] = {stepId = s.step_id, status = s.status, exitCode = s.exit_code,
      error = s.error, attempts = attempts}
  end
  return steps
end

-- the number of attempts of all the run's steps
local function attempt_count(run)
  local n = 0
  for _, s in ipairs(run.steps or {}) do n = n + #s.attempts end
  return n
end

local function platform()
  local p = require("regsh.task.runner").run_info{id = ""}
  return p.OS
end

--- list_runs(args) -> exit status: the newest runs first.
function M.list_runs(args)
  local cli = require "regsh.cli"
  local st, err = open_store(args)
  if not st then return cli.fail("task list-runs", err) end
  local list
  local runs = require "regsh.task.runs"
  list, err = runs.list(st, {task = args.name, status = args.run_status, top = args.top})
  if not list then
    st:close()
    return cli.fail("task list-runs", err)
  end
  for _, r in ipairs(list) do r.steps = (runs.get(st, r.id) or {}).steps end
  st:close()
  if args.output == "json" then
    local json = require "regsh.json"
    local out = json.array()
    for i, r in ipairs(list) do
      out[i] = {runId = r.id, task = r.task, status = r.status, trigger = r.trigger,
        registry = r.registry, executor = r.executor, createTime = iso(r.created),
        startTime = iso(r.started), finishTime = r.finished and iso(r.finished) or nil,
        duration = duration(r), error = r.error, steps = steps_json(r)}
    end
    cli.print_json(out)
    return 0
  end
  local rows = {{"RUN ID", "TASK", "PLATFORM", "STATUS", "TRIGGER", "STARTED", "DURATION",
    "ATTEMPTS"}}
  local os_name = #list > 0 and platform() or ""
  for _, r in ipairs(list) do
    rows[#rows + 1] = {r.id, r.task or "", os_name, r.status, r.trigger or "",
      iso(r.started or r.created), duration(r), tostring(attempt_count(r))}
  end
  M.print_table(rows)
  return 0
end

--- configure_logs(cmd): [RUN_ID], --run-id, -n/--name, --state
function M.configure_logs(cmd)
  cmd:argument("run_id", "The run (default: the last created run).", nil):args("?")
  cmd:option("--run-id", "The run (as az spells it)."):argname("<id>"):target("run_id_flag")
  cmd:option("-n --name", "Without a run id: the last run of this task."):argname("<name>")
  state_option(cmd)
end

--- logs(args) -> exit status: the log of a run, or of the last created one.
function M.logs(args)
  local cli = require "regsh.cli"
  local runs = require "regsh.task.runs"
  local st, err = open_store(args)
  if not st then return cli.fail("task logs", err) end
  local id = args.run_id or args.run_id_flag
  if not id then
    local last = runs.list(st, {top = 1, task = args.name})
    if not last or #last == 0 then
      st:close()
      if args.name then return cli.fail("task logs", "ENOENT: no runs of the task '" .. args.name
        .. "' in " .. st.path) end
      return cli.fail("task logs", "ENOENT: no runs in " .. st.path)
    end
    id = last[1].id
    io.stdout:write("Showing logs of the last created run", args.name and (" for task '"
      .. args.name .. "'") or "", ".\nRun ID: ", id, "\n\n")
  end
  local text = runs.log(st, id)
  local run = text and runs.get(st, id)
  st:close()
  if not text then return cli.fail("task logs", "ENOENT: no run " .. id) end
  io.stdout:write(text)
  -- then a line per attempt of each step: number, outcome, start, duration
  local lines = {}
  for _, s in ipairs(run.steps) do
    for _, a in ipairs(s.attempts) do
      lines[#lines + 1] = require("regsh.registry.redact").printable(string.format(
        "Step %s attempt %d: %s, started %s, %.3fs", s.step_id, a.attempt, outcome(a),
        iso(a.started), a.duration or 0))
    end
  end
  if #lines > 0 then
    if text ~= "" and text:sub(-1) ~= "\n" then io.stdout:write("\n") end
    io.stdout:write("\nAttempts:\n", table.concat(lines, "\n"), "\n")
  end
  return 0
end

return M
