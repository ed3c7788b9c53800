-- regsh gc: end the runs whose regsh died as Error and remove the
-- containers, networks and volumes of runs that are not alive, one line per
-- thing; the logic is lua/regsh/task/gc.lua (regsh serve runs it at start).
local cli = require "regsh.cli"

-- the text lines of a report: what was (or would be) done
local function print_report(report)
  local redact = require "regsh.registry.redact"
  local dry = report.dry_run
  for _, run in ipairs(report.runs) do
    io.stdout:write(redact.printable(string.format("%s run %s (task %s) Error: %s",
      dry and "would mark" or "marked", run.id, run.task or "-", run.error)), "\n")
  end
  for _, obj in ipairs(report.objects) do
    io.stdout:write(redact.printable(string.format("%s %s %s %s (run %s)",
      dry and "would remove" or "removed", obj.engine, obj.kind, obj.name, obj.run)), "\n")
  end
end

local function to_json(report)
  local json = require "regsh.json"
  local runs, objects, errors = json.array(), json.array(), json.array()
  for i, r in ipairs(report.runs) do runs[i] = {runId = r.id, task = r.task, error = r.error} end
  for i, o in ipairs(report.objects) do
    objects[i] = {engine = o.engine, kind = o.kind, name = o.name, runId = o.run}
  end
  for i, e in ipairs(report.errors) do errors[i] = e end
  return {dryRun = report.dry_run, runs = runs, removed = objects, errors = errors}
end

return {
  summary = "Remove what dead runs left behind; mark their runs Error.",
  description = "Runs Queued or Running whose regsh is gone (killed with -9, a crash) end as "
    .. "Error with the reason. Containers, networks and volumes labelled regsh.run=ID are "
    .. "removed when the regsh that made them (label regsh.owner) is gone, whatever store "
    .. "their run is in. Nothing that belongs to a live regsh is touched, so gc is safe on a "
    .. "store a regsh serve uses: it only touches dead runs. Exit 1 when an engine could not "
    .. "list or remove something.",
  examples = {
    "regsh gc --dry-run",
    "regsh gc --state /var/lib/regsh -o json",
  },
  configure = function(cmd)
    cmd:flag("--dry-run", "List what would be done; change nothing.")
    require("regsh.cli.task_runs").state_option(cmd)
    cmd:option("-o --output", "table or json.", "table"):choices{"table", "json"}
  end,
  run = function(args)
    local st, err = require("regsh.cli.task_runs").open_store(args)
    if not st then return cli.fail("gc", err) end
    local ok, report = pcall(require("regsh.task.gc").collect, st, {dry_run = args.dry_run,
      podman = true})
    st:close()
    if not ok then return cli.fail("gc", tostring(report)) end
    if args.output == "json" then cli.print_json(to_json(report))
    else print_report(report) end
    for _, e in ipairs(report.errors) do cli.fail("gc", e) end
    return #report.errors == 0 and 0 or 1
  end,
}
