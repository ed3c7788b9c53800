-- regsh.schedule.exporter: what `regsh serve --metrics ADDR` serves. /metrics
-- is regsh.metrics.render() (the daemon's counters, purge deletions) plus
-- families read from the store at each scrape, so a scrape matches `task
-- list-runs`; /healthz says whether this serve can still do its job.
local metrics = require "regsh.metrics"

local M = {}

M.CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
local TEXT = "text/plain; charset=utf-8"

-- Every family serve exposes, declared up front so that a scrape lists each
-- one (HELP, TYPE) before anything was counted. The daemon counts the first
-- six (regsh.schedule.daemon), purge apply the deletions, this file the rest.
local FAMILIES = {
  {"regsh_runs_started_total", "counter", "Runs the daemon started, by task and trigger."},
  {"regsh_skipped_runs_total", "counter",
   "Occurrences recorded as Skipped, by task and reason (missed, overlap, mutex, deadline)."},
  {"regsh_catchup_runs_total", "counter", "Occurrences run as catch-up after a downtime."},
  {"regsh_deadline_exceeded_total", "counter",
   "Missed occurrences skipped because they were past the starting deadline."},
  {"regsh_timer_next_fire_timestamp_seconds", "gauge",
   "The next fire time of each timer, Unix seconds (0: never)."},
  {"regsh_run_duration_seconds", "histogram",
   "Duration of the runs the daemon started, by task and final status.", metrics.DURATION_BUCKETS},
  {"regsh_purge_deletions_total", "counter",
   "Manifests deleted and tags removed by purges in this process, by registry and repository."},
  {"regsh_runs", "gauge", "Task runs in the state store, by task and status (as task list-runs)."},
  {"regsh_up", "gauge", "1 while regsh serve runs."},
  {"regsh_serve_start_time_seconds", "gauge", "When this regsh serve started, Unix seconds."},
}

-- the serve's start time, for describe() again at each scrape
local started_at

--- describe(started): declares every family serve exposes; started is the
--- serve's start time (Unix seconds).
function M.describe(started)
  started_at = started
  for _, f in ipairs(FAMILIES) do metrics.describe(f[1], f[2], f[3], f[4]) end
  metrics.set("regsh_up", nil, 1)
  metrics.set("regsh_serve_start_time_seconds", nil, started)
end

-- The store's version as this connection sees it: data_version moves when
-- another connection commits, total_changes when this one writes (the
-- daemon records its runs on the same connection). One cheap read.
local VERSION = "SELECT (SELECT data_version FROM pragma_data_version) || ':' || "
  .. "total_changes() AS v"

-- store -> {version =, rows =}: regsh_runs as last counted
local counted = setmetatable({}, {__mode = "k"})

--- scrape(st) -> text | nil, err, code: the runs counted again if the store
--- changed since the last scrape (counting scans task_runs, which grows for
--- as long as the store lives), then every family rendered. The families are
--- set again each time, so a metrics.reset() elsewhere loses none of them.
function M.scrape(st)
  local version, err, code = st.db:rows(VERSION)
  if not version then return nil, err, code end
  version = version[1].v
  local last = counted[st]
  if not last or last.version ~= version then
    local rows
    rows, err, code = st.db:rows(
      "SELECT task, status, count(*) AS n FROM task_runs GROUP BY task, status")
    if not rows then return nil, err, code end
    last = {version = version, rows = rows}
    counted[st] = last
  end
  M.describe(started_at or os.time())
  metrics.clear("regsh_runs")  -- a run gc removed must not linger
  for _, r in ipairs(last.rows) do
    metrics.set("regsh_runs", {task = r.task or "", status = r.status}, r.n)
  end
  return metrics.render()
end

--- health(st, lock) -> ok, reason: the store answers and this process
--- still holds the serve lock (the `runs` row lock). That the loop is alive
--- is shown by this being answered at all.
function M.health(st, lock)
  local rows, err = st.db:rows(
    "SELECT status FROM runs WHERE id = ? AND kind = 'serve'", lock)
  if not rows then return false, "store: " .. tostring(err) end
  if not rows[1] or rows[1].status ~= "running" then
    return false, "the serve lock is no longer held"
  end
  return true
end

--- handler(st, lock) -> function(req): the HTTP handler of serve --metrics.
function M.handler(st, lock)
  return function(req)
    if req.path == "/metrics" then
      local text, err = M.scrape(st)
      if not text then return 503, TEXT, "store: " .. tostring(err) .. "\n" end
      return 200, M.CONTENT_TYPE, text
    elseif req.path == "/healthz" then
      local ok, why = M.health(st, lock)
      if not ok then return 503, TEXT, why .. "\n" end
      return 200, TEXT, "ok\n"
    end
    return 404, TEXT, "not found: try /metrics or /healthz\n"
  end
end

--- start(addr, st, lock) -> server | nil, err, code: serve /metrics and
--- /healthz on addr (regsh.httpd).
function M.start(addr, st, lock)
  M.describe(os.time())
  return require("regsh.httpd").listen(addr, M.handler(st, lock))
end

return M
