-- regsh.task.runs: the records of task runs in regsh.store (migration 3):
-- ACR-style run ids, the run's status, each step and attempt, and the run
-- log in chunks. The runner writes them as a run goes; `regsh task
-- list-runs` and `regsh task logs` read them. Reference: docs/reference/task.md.
local M = {}

M.PREFIX = "ca"

local DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"

--- id_of(seq) -> "ca" .. seq in base 36 (lower case, no leading zeros):
--- 1 -> ca1, 10 -> caa, 36 -> ca10, as ACR's ids run.
function M.id_of(seq)
  if math.type(seq) ~= "integer" or seq < 1 then
    error("bad argument #1 to 'id_of' (positive integer expected)", 2)
  end
  local out = {}
  while seq > 0 do
    local d = seq % 36
    table.insert(out, 1, DIGITS:sub(d + 1, d + 1))
    seq = seq // 36
  end
  return M.PREFIX .. table.concat(out)
end

local function now()
  return require("regsh.async").now()
end

-- The pid of this process (the reaper and `list-runs` look at it).
local function own_pid()
  local f = io.open("/proc/self/stat")
  if not f then return nil end
  local pid = f:read("n")
  f:close()
  return math.tointeger(pid)
end

--- occurrence_run(st, task, timer, occurrence) -> the id of the Timer run
--- (or skip) recorded for that occurrence | nil.
function M.occurrence_run(st, task, timer, occurrence)
  local row = st.db:first([[
SELECT id FROM task_runs WHERE trigger = 'Timer' AND task IS ? AND timer IS ? AND occurrence = ?]],
    task, timer, occurrence)
  return row and row.id
end

--- occurrence_taken(st, info) -> an EEXIST message when info is a Timer run
--- for an occurrence that already has a run, else nil.
function M.occurrence_taken(st, info)
  if info.trigger ~= "Timer" or info.occurrence == nil then return nil end
  local id = M.occurrence_run(st, info.task, info.timer, info.occurrence)
  if not id then return nil end
  return string.format("EEXIST: the occurrence %d of timer '%s' of task '%s' already has run %s",
    info.occurrence, tostring(info.timer), tostring(info.task), id)
end

-- Insert the next run in one write transaction (BEGIN IMMEDIATE: two
-- processes never get the same id, nor the same timer occurrence).
local function insert(st, info, status, finished, err_text)
  local db = st.db
  return st:transaction(function()
    local taken = M.occurrence_taken(st, info)
    if taken then return nil, taken, "EEXIST" end
    local row, err, code = db:first("SELECT coalesce(max(seq), 0) + 1 AS seq FROM task_runs")
    if not row then return nil, err, code end
    local seq = row.seq
    local id = M.id_of(seq)
    local t = now()
    local n
    n, err, code = db:exec([[
INSERT INTO task_runs (id, seq, task, trigger, timer, occurrence, status, registry, executor,
  pid, created, started, finished, error) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)]],
      id, seq, info.task, info.trigger or "Manual", info.timer, info.occurrence, status,
      info.registry, info.executor, own_pid(), t, finished and t or nil, finished and t or nil,
      err_text)
    if not n then return nil, err, code end
    return id, seq
  end)
end

--- begin(st, info) -> id, seq | fail: allocates the next run id and
--- records the run as Queued. info: {task, trigger = "Manual"|"Timer",
--- timer, occurrence, registry, executor}. A Timer run for an occurrence
--- that already has a run (or a skip) fails with EEXIST.
function M.begin(st, info)
  return insert(st, info or {}, "Queued")
end

--- skip(st, info) -> id, seq | fail: records a run that was not started
--- (status Skipped, finished now) with info.reason as its error: "overlap",
--- "missed (3 occurrences)", ... info as for begin; it takes the occurrence too.
function M.skip(st, info)
  info = info or {}
  if type(info.reason) ~= "string" then
    error("bad argument #2 to 'skip' (info.reason: string expected)", 2)
  end
  return insert(st, info, "Skipped", true, info.reason)
end

--- started(st, id) -> true | fail: the run is Running from now.
function M.started(st, id)
  local n, err, code = st.db:exec(
    "UPDATE task_runs SET status = 'Running', started = ? WHERE id = ?", now(), id)
  if not n then return nil, err, code end
  return true
end

--- finish(st, id, status, error) -> true | fail: the run ended now.
function M.finish(st, id, status, err_text)
  local n, err, code = st.db:exec(
    "UPDATE task_runs SET status = ?, finished = ?, error = ? WHERE id = ?",
    status, now(), err_text, id)
  if not n then return nil, err, code end
  return true
end

--- step(st, id, s) -> true | fail: the state of one step (insert or update).
--- s: {step_id, idx, status, started, finished, exit_code, error}.
function M.step(st, id, s)
  local n, err, code = st.db:exec([[
INSERT INTO task_steps (run_id, step_id, idx, status, started, finished, exit_code, error)
VALUES (?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (run_id, step_id) DO UPDATE SET status = excluded.status,
  started = excluded.started, finished = excluded.finished,
  exit_code = excluded.exit_code, error = excluded.error]],
    id, s.step_id, s.idx, s.status, s.started, s.finished, s.exit_code, s.error)
  if not n then return nil, err, code end
  return true
end

--- attempt(st, id, a) -> true | fail: one attempt of a step.
--- a: {step_id, attempt, exit_code, signal, started, duration}.
function M.attempt(st, id, a)
  local n, err, code = st.db:exec([[
INSERT INTO task_attempts (run_id, step_id, attempt, exit_code, signal, started, duration)
VALUES (?, ?, ?, ?, ?, ?, ?)]], id, a.step_id, a.attempt, a.exit_code, a.signal,
    a.started, a.duration)
  if not n then return nil, err, code end
  return true
end

--- append_log(st, id, text) -> true | fail: the next chunk of the run log.
function M.append_log(st, id, text)
  local n, err, code = st.db:exec([[
INSERT INTO task_logs (run_id, seq, text)
SELECT ?1, coalesce(max(seq), 0) + 1, ?2 FROM task_logs WHERE run_id = ?1]], id, text)
  if not n then return nil, err, code end
  return true
end

--- log(st, id) -> the run log so far (chunks joined) | nil when no such run.
function M.log(st, id)
  local run = st.db:first("SELECT id FROM task_runs WHERE id = ?", id)
  if not run then return nil end
  local rows = assert(st.db:rows("SELECT text FROM task_logs WHERE run_id = ? ORDER BY seq", id))
  local parts = {}
  for i, row in ipairs(rows) do parts[i] = row.text end
  return table.concat(parts)
end

local RUN_COLUMNS = "id, seq, task, trigger, timer, occurrence, status, registry, executor, "
  .. "pid, created, started, finished, error"

--- list(st [, {task =, status =, top = N}]) -> array of runs, newest first | fail.
function M.list(st, filter)
  filter = filter or {}
  return st.db:rows("SELECT " .. RUN_COLUMNS .. [[ FROM task_runs
WHERE (?1 IS NULL OR task = ?1) AND (?2 IS NULL OR status = ?2)
ORDER BY seq DESC LIMIT ?3]], filter.task, filter.status, filter.top or -1)
end

--- get(st, id) -> run with .steps (file order, each with .attempts) | nil.
function M.get(st, id)
  local run = st.db:first("SELECT " .. RUN_COLUMNS .. " FROM task_runs WHERE id = ?", id)
  if not run then return nil end
  run.steps = assert(st.db:rows([[
SELECT step_id, idx, status, started, finished, exit_code, error FROM task_steps
WHERE run_id = ? ORDER BY idx]], id))
  local by_id = {}
  for _, s in ipairs(run.steps) do
    s.attempts = {}
    by_id[s.step_id] = s
  end
  local attempts = assert(st.db:rows([[
SELECT step_id, attempt, exit_code, signal, started, duration FROM task_attempts
WHERE run_id = ? ORDER BY started, attempt]], id))
  for _, a in ipairs(attempts) do
    local s = by_id[a.step_id]
    if s then s.attempts[#s.attempts + 1] = a end
  end
  return run
end

return M
