-- regsh.store: the project's state store, one SQLite file (src/store.c) that
-- purge, and later the task runner and the scheduler, keep their state in.
-- The schema grows only by appending migrations; every value is a bound parameter.
local async = require "regsh.async"
local core = require "regsh.core.store"
local fs = require "regsh.fs"
local json = require "regsh.json"

local M = {}

M.sqlite_version = core.sqlite_version

-- The schema, one migration per version: migration i takes a database at
-- user_version i-1 to i and ends by setting user_version to i (a PRAGMA
-- takes no parameters, so the number is part of the fixed text). Append new
-- ones for new tables; never edit one that has shipped, since
-- stores out there already ran it. They run in order in one transaction.
local migrations = {
  -- 1: purge. Facts about a digest never change (a digest names its
  -- content), so they are only ever inserted. Members: which digests regsh
  -- saw in which repository, since when. Runs: one record per run of a
  -- command (purge now; tasks and schedules later), info and result as JSON.
  [[
CREATE TABLE digest_facts (
  digest TEXT PRIMARY KEY NOT NULL,
  media_type TEXT,
  size INTEGER,
  created INTEGER,
  platforms TEXT,      -- JSON array of "os/arch[/variant]"
  children TEXT,       -- JSON array of digests (an index's manifests)
  subject TEXT,
  artifact_type TEXT,
  config TEXT
) WITHOUT ROWID;
CREATE TABLE repository_members (
  registry TEXT NOT NULL,
  repository TEXT NOT NULL,
  digest TEXT NOT NULL,
  first_seen INTEGER NOT NULL,
  last_seen INTEGER NOT NULL,
  PRIMARY KEY (registry, repository, digest)
) WITHOUT ROWID;
CREATE TABLE runs (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  kind TEXT NOT NULL,
  status TEXT NOT NULL,
  started INTEGER NOT NULL,
  ended INTEGER,
  info TEXT NOT NULL,  -- JSON object given to run_begin
  result TEXT          -- JSON object given to run_end
);
CREATE INDEX runs_by_kind ON runs (kind, id);
PRAGMA user_version = 1;
]],
  -- 2: the purge journal: the deletes a purge is about to make in one
  -- repository, each row removed once done, so that the next run finishes
  -- what a killed one left (regsh.purge.journal). An untag row keeps the
  -- digest its tag pointed at: it is finished only if the tag still does.
  [[
CREATE TABLE purge_journal (
  registry TEXT NOT NULL,
  repository TEXT NOT NULL,
  op TEXT NOT NULL,        -- "untag" or "delete"
  target TEXT NOT NULL,    -- the tag (untag) or the digest (delete)
  digest TEXT NOT NULL,    -- the digest the tag pointed at, or the digest deleted
  added INTEGER NOT NULL,
  PRIMARY KEY (registry, repository, op, target)
) WITHOUT ROWID;
PRAGMA user_version = 2;
]],
  -- 3: task runs (regsh.task.runs): one row per run of a task with its
  -- ACR-style id (ca1, ca2, ...: "ca" and seq in base 36), the state of each
  -- step, each attempt of a step, and the run log in chunks written as the
  -- run goes. Times are Unix seconds with fractions.
  [[
CREATE TABLE task_runs (
  id TEXT PRIMARY KEY NOT NULL,
  seq INTEGER UNIQUE NOT NULL,
  task TEXT,
  trigger TEXT,          -- "Manual" or "Timer"
  timer TEXT,
  occurrence INTEGER,
  status TEXT NOT NULL,  -- Queued Running Succeeded Failed Canceled Error Timeout
  registry TEXT,
  executor TEXT,
  pid INTEGER,
  created REAL NOT NULL,
  started REAL,
  finished REAL,
  error TEXT
);
CREATE INDEX task_runs_by_task ON task_runs (task, seq);
CREATE TABLE task_steps (
  run_id TEXT NOT NULL,
  step_id TEXT NOT NULL,
  idx INTEGER NOT NULL,
  status TEXT NOT NULL,  -- skipped inprogress successful failed
  started REAL,
  finished REAL,
  exit_code INTEGER,
  error TEXT,
  PRIMARY KEY (run_id, step_id)
) WITHOUT ROWID;
CREATE TABLE task_attempts (
  run_id TEXT NOT NULL,
  step_id TEXT NOT NULL,
  attempt INTEGER NOT NULL,
  exit_code INTEGER,
  signal TEXT,
  started REAL NOT NULL,
  duration REAL
);
CREATE INDEX task_attempts_by_step ON task_attempts (run_id, step_id, attempt);
CREATE TABLE task_logs (
  run_id TEXT NOT NULL,
  seq INTEGER NOT NULL,
  text TEXT NOT NULL,
  PRIMARY KEY (run_id, seq)
) WITHOUT ROWID;
PRAGMA user_version = 3;
]],
  -- 4: the scheduler's definitions (regsh.schedule.tasks): stored tasks and
  -- their timers, a counter bumped by triggers on every change of a
  -- definition (not on last_fire) so a daemon notices what the CLI changed,
  -- and one run per timer occurrence whoever starts it.
  [[
CREATE TABLE tasks (
  name TEXT PRIMARY KEY NOT NULL,
  kind TEXT NOT NULL,          -- "file", "cmd" or "lua"
  definition TEXT,             -- the YAML text, the cmd, or the Lua source
  file TEXT,                   -- -f inside the context, read at run time
  context TEXT NOT NULL,       -- "/dev/null", a dir, URL, git URL, oci://...
  registry TEXT,
  "values" TEXT,               -- JSON object of --set values
  secret_values TEXT,          -- JSON object of --set-secret values
  values_file TEXT,
  status TEXT NOT NULL,        -- Enabled | Disabled
  timeout INTEGER NOT NULL,    -- run timeout in seconds
  executor TEXT,               -- podman | docker | local | NULL (auto)
  concurrency TEXT NOT NULL,   -- allow | forbid | replace
  missed TEXT NOT NULL,        -- skip | run-once
  created REAL NOT NULL,
  updated REAL NOT NULL
) WITHOUT ROWID;
CREATE TABLE timers (
  task TEXT NOT NULL REFERENCES tasks(name) ON DELETE CASCADE,
  name TEXT NOT NULL,
  schedule TEXT NOT NULL,
  dialect TEXT NOT NULL,       -- acr | vixie
  tz TEXT NOT NULL,
  status TEXT NOT NULL,        -- Enabled | Disabled
  last_fire INTEGER,           -- the last occurrence the daemon handled
  PRIMARY KEY (task, name)
) WITHOUT ROWID;
CREATE TABLE schedule_version (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  version INTEGER NOT NULL
);
INSERT INTO schedule_version (id, version) VALUES (1, 0);
CREATE TRIGGER tasks_insert AFTER INSERT ON tasks BEGIN
  UPDATE schedule_version SET version = version + 1; END;
CREATE TRIGGER tasks_update AFTER UPDATE ON tasks BEGIN
  UPDATE schedule_version SET version = version + 1; END;
CREATE TRIGGER tasks_delete AFTER DELETE ON tasks BEGIN
  UPDATE schedule_version SET version = version + 1; END;
CREATE TRIGGER timers_insert AFTER INSERT ON timers BEGIN
  UPDATE schedule_version SET version = version + 1; END;
CREATE TRIGGER timers_update AFTER UPDATE OF name, schedule, dialect, tz, status ON timers BEGIN
  UPDATE schedule_version SET version = version + 1; END;
CREATE TRIGGER timers_delete AFTER DELETE ON timers BEGIN
  UPDATE schedule_version SET version = version + 1; END;
CREATE UNIQUE INDEX task_runs_occurrence ON task_runs (task, timer, occurrence)
  WHERE trigger = 'Timer';
PRAGMA user_version = 4;
]],
  -- 5: missed runs per timer and mutex groups (issue 13). Each timer gets
  -- its catch-up policy (none | latest | all), the cap of `all`, and a
  -- starting deadline in seconds (NULL: none); the task-level `missed`
  -- moves into every timer of its task (skip -> none, run-once -> latest)
  -- and goes. A task may name a mutex group. The version trigger of timers
  -- counts the new columns too (a daemon must notice a changed policy).
  [[
ALTER TABLE timers ADD COLUMN catch_up TEXT NOT NULL DEFAULT 'none';
ALTER TABLE timers ADD COLUMN catch_up_max INTEGER NOT NULL DEFAULT 10;
ALTER TABLE timers ADD COLUMN starting_deadline INTEGER;
ALTER TABLE tasks ADD COLUMN mutex TEXT;
UPDATE timers SET catch_up = 'latest'
  WHERE task IN (SELECT name FROM tasks WHERE missed = 'run-once');
ALTER TABLE tasks DROP COLUMN missed;
DROP TRIGGER timers_update;
CREATE TRIGGER timers_update AFTER UPDATE OF name, schedule, dialect, tz, status, catch_up,
  catch_up_max, starting_deadline ON timers BEGIN
  UPDATE schedule_version SET version = version + 1; END;
PRAGMA user_version = 5;
]],
}

--- The schema version this regsh writes (the number of migrations).
M.schema_version = #migrations

--- migration(i) -> the SQL text of migration i (the specs build a store of
--- an older version with it, to test the step to the next).
function M.migration(i)
  return migrations[i]
end

-- digests per query where a list goes into one statement as a JSON array
local CHUNK = 500

local function argerror(n, fname, expected, value)
  error(string.format("bad argument #%d to '%s' (%s expected, got %s)", n, fname,
                      expected, type(value)), 3)
end

local function check_strings(list, n, fname)
  if type(list) ~= "table" then argerror(n, fname, "array of digests", list) end
  for i, v in ipairs(list) do
    if type(v) ~= "string" then
      error(string.format("bad argument #%d to '%s' (item %d: string expected, got %s)",
                          n, fname, i, type(v)), 3)
    end
  end
end

-- list[first..first+CHUNK-1] as a JSON array, for json_each(?)
local function chunk(list, first)
  local part = json.array()
  for i = first, math.min(#list, first + CHUNK - 1) do part[#part + 1] = list[i] end
  return json.encode(part)
end

--- default_path() -> path | fail: $XDG_STATE_HOME/regsh/state.db, else
--- ~/.local/state/regsh/state.db (the XDG base directory rules).
function M.default_path()
  local state = os.getenv("XDG_STATE_HOME")
  if state and state:sub(1, 1) == "/" then return state .. "/regsh/state.db" end
  local home = os.getenv("HOME")
  if home and home ~= "" then return home .. "/.local/state/regsh/state.db" end
  return nil, "ENOENT: no state directory: neither XDG_STATE_HOME nor HOME is set", "ENOENT"
end

local Store = {}
Store.__index = Store
Store.__name = "regsh.store"

-- Bring db to the newest schema; fail (ESTORE) on one newer than this regsh.
local function migrate(db, path)
  local row, err, code = db:first("PRAGMA user_version")
  if not row then return nil, err, code end
  local version = row.user_version
  if version > #migrations then
    return nil, string.format("ESTORE: %s: schema version %d is newer than this regsh's (%d): "
      .. "upgrade regsh, or use another --state", path, version, #migrations), "ESTORE"
  end
  row, err, code = db:first("PRAGMA journal_mode = WAL")
  if not row then return nil, err, code end
  db:exec("PRAGMA synchronous = NORMAL")  -- safe with WAL: a crash loses no committed data
  if version == #migrations then return true end
  local ok
  ok, err, code = db:exec("BEGIN IMMEDIATE")
  if not ok then return nil, err, code end
  version = db:first("PRAGMA user_version").user_version  -- another process may have migrated
  for i = version + 1, #migrations do
    ok, err, code = db:exec_script(migrations[i])
    if not ok then
      db:exec("ROLLBACK")
      return nil, err, code
    end
    local now = db:first("PRAGMA user_version").user_version
    if now ~= i then
      db:exec("ROLLBACK")
      error(string.format("store migration %d left user_version at %d", i, now))
    end
  end
  ok, err, code = db:exec("COMMIT")
  if not ok then
    db:exec("ROLLBACK")
    return nil, err, code
  end
  return true
end

local open_options = {busy_timeout = "number"}

--- open([path [, {busy_timeout = ms}]]) -> store | fail. path nil: the
--- default path; ":memory:" a private database that ends with the store.
--- Creates the directory (0700) and the file (0600), sets WAL mode and
--- migrates the schema.
function M.open(path, opts)
  if path ~= nil and type(path) ~= "string" then argerror(1, "open", "string or nil", path) end
  if opts ~= nil and type(opts) ~= "table" then argerror(2, "open", "table or nil", opts) end
  opts = opts or {}
  for k, v in pairs(opts) do
    if not open_options[k] then error(string.format("unknown option '%s'", tostring(k)), 2) end
    if type(v) ~= open_options[k] then
      error(string.format("option '%s' must be a %s, got %s", k, open_options[k], type(v)), 2)
    end
  end
  if path == nil then
    local err, code
    path, err, code = M.default_path()
    if not path then return nil, err, code end
  end
  if path == "" then error("bad argument #1 to 'open' (empty path)", 2) end
  local dir = path:match("^(.*[^/])/+[^/]+$")
  if path ~= ":memory:" and dir then
    local ok, err, code = fs.mkdir(dir, tonumber("700", 8))
    if not ok then return nil, err, code end
  end
  local busy = opts.busy_timeout and math.tointeger(opts.busy_timeout)
  if opts.busy_timeout and not busy then error("option 'busy_timeout' must be an integer", 2) end
  local db, err, code = core.open(path, busy or 5000)
  if not db then return nil, err, code end
  -- SQLite answers some lock conflicts at once, without its busy handler
  -- (a connection meeting a database another process is still creating or
  -- migrating: seen as "database is locked" in open under load); such an
  -- EBUSY is retried here for as long as the busy timeout allows.
  local deadline = async.monotonic() + (busy or 5000) / 1000
  local ok
  repeat
    ok, err, code = migrate(db, path)
    if ok or code ~= "EBUSY" or async.monotonic() >= deadline then break end
    async.sleep(0.02)
  until false
  if not ok then
    db:close()
    return nil, err, code
  end
  return setmetatable({path = path, db = db}, Store)
end

-- SQLite rolls a transaction back by itself after some errors (SQLITE_FULL,
-- SQLITE_IOERR, SQLITE_NOMEM: a full disk), and a ROLLBACK then has nothing
-- to undo and would raise "no transaction is active".
local function rollback(db)
  if db:in_transaction() then db:exec("ROLLBACK") end
end

--- st:transaction(fn, ...) -> fn's results | fail. Runs fn(...) in one write
--- transaction (BEGIN IMMEDIATE: it waits for other writers up to the busy
--- timeout). An error in fn rolls back and is raised again; fn returning a
--- fail tuple (nil, "CODE: ...", ...) rolls back and returns it. Inside
--- another transaction fn simply joins it. fn must not wait on the loop:
--- the tasks of a process share the connection.
function Store:transaction(fn, ...)
  if type(fn) ~= "function" then argerror(1, "transaction", "function", fn) end
  local db = self.db
  if db:in_transaction() then return fn(...) end
  local ok, err, code = db:exec("BEGIN IMMEDIATE")
  if not ok then return nil, err, code end
  local r = table.pack(pcall(fn, ...))
  if not r[1] then
    rollback(db)
    error(r[2], 0)
  end
  if r[2] == nil and type(r[3]) == "string" then
    rollback(db)
    return nil, r[3], r[4]
  end
  ok, err, code = db:exec("COMMIT")
  if not ok then
    rollback(db)
    return nil, err, code
  end
  return table.unpack(r, 2, r.n)
end

-- the columns of a fact and the Lua type each holds
local fact_fields = {
  digest = "string", media_type = "string", size = "integer", created = "integer",
  platforms = "array", children = "array", subject = "string", artifact_type = "string",
  config = "string",
}

local function check_fact(f, i)
  if type(f) ~= "table" then
    error(string.format("bad argument #1 to 'put_facts' (item %d: table expected, got %s)",
                        i, type(f)), 3)
  end
  if type(f.digest) ~= "string" then
    error(string.format("put_facts: item %d: digest must be a string", i), 3)
  end
  for k, v in pairs(f) do
    local want = fact_fields[k]
    if not want then error(string.format("put_facts: %s: unknown field '%s'", f.digest, tostring(k)), 3) end
    local ok
    if want == "integer" then ok = math.type(v) == "integer"
    elseif want == "array" then
      ok = type(v) == "table"
      for _, s in ipairs(ok and v or {}) do ok = ok and type(s) == "string" end
    else ok = type(v) == want end
    if not ok then
      error(string.format("put_facts: %s: field '%s' must be %s, got %s", f.digest, k,
                          want == "array" and "an array of strings" or "a " .. want, type(v)), 3)
    end
  end
end

local function encode_array(list)
  if list == nil then return nil end
  local copy = json.array()
  for i, v in ipairs(list) do copy[i] = v end
  return json.encode(copy)
end

--- st:put_facts(list) -> number inserted | fail: facts of digests not yet
--- known (a known digest keeps its facts), in one transaction.
function Store:put_facts(list)
  if type(list) ~= "table" then argerror(1, "put_facts", "table", list) end
  for i, f in ipairs(list) do check_fact(f, i) end
  local db = self.db
  return self:transaction(function()
    local inserted = 0
    for _, f in ipairs(list) do
      local n, err, code = db:exec([[
INSERT OR IGNORE INTO digest_facts
  (digest, media_type, size, created, platforms, children, subject, artifact_type, config)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)]], f.digest, f.media_type, f.size, f.created,
        encode_array(f.platforms), encode_array(f.children), f.subject, f.artifact_type, f.config)
      if not n then return nil, err, code end
      inserted = inserted + n
    end
    return inserted
  end)
end

local function decode_array(text)
  if text == nil then return nil end
  return json.array(assert(json.decode(text)))
end

--- st:facts(digests) -> map digest -> facts | fail: the known ones only.
function Store:facts(digests)
  check_strings(digests, 1, "facts")
  local found = {}
  for first = 1, #digests, CHUNK do
    local rows, err, code = self.db:rows([[
SELECT digest, media_type, size, created, platforms, children, subject, artifact_type, config
FROM digest_facts WHERE digest IN (SELECT value FROM json_each(?))]], chunk(digests, first))
    if not rows then return nil, err, code end
    for _, row in ipairs(rows) do
      row.platforms = decode_array(row.platforms)
      row.children = decode_array(row.children)
      found[row.digest] = row
    end
  end
  return found
end

local function check_repository(fname, registry, repository)
  if type(registry) ~= "string" then argerror(1, fname, "string", registry) end
  if type(repository) ~= "string" then argerror(2, fname, "string", repository) end
end

--- st:seen(registry, repository, digests, now) -> map digest -> first_seen |
--- fail: records that the digests are in the repository at time now (Unix
--- seconds). first_seen is the earliest time ever recorded: it never moves later.
function Store:seen(registry, repository, digests, now)
  check_repository("seen", registry, repository)
  check_strings(digests, 3, "seen")
  if math.type(now) ~= "integer" then argerror(4, "seen", "integer", now) end
  local db = self.db
  return self:transaction(function()
    local first_seen = {}
    for first = 1, #digests, CHUNK do
      local rows, err, code = db:rows([[
INSERT INTO repository_members (registry, repository, digest, first_seen, last_seen)
SELECT ?1, ?2, value, ?3, ?3 FROM json_each(?4) WHERE true
ON CONFLICT (registry, repository, digest) DO UPDATE SET
  first_seen = min(first_seen, excluded.first_seen),
  last_seen = max(last_seen, excluded.last_seen)
RETURNING digest, first_seen]], registry, repository, now, chunk(digests, first))
      if not rows then return nil, err, code end
      for _, row in ipairs(rows) do first_seen[row.digest] = row.first_seen end
    end
    return first_seen
  end)
end

--- st:members(registry, repository) -> map digest -> first_seen | fail
function Store:members(registry, repository)
  check_repository("members", registry, repository)
  local rows, err, code = self.db:rows([[
SELECT digest, first_seen FROM repository_members WHERE registry = ? AND repository = ?]],
    registry, repository)
  if not rows then return nil, err, code end
  local members = {}
  for _, row in ipairs(rows) do members[row.digest] = row.first_seen end
  return members
end

--- st:forget(registry, repository, digests) -> number forgotten | fail: after
--- a delete, the repository no longer holds them (their facts stay).
function Store:forget(registry, repository, digests)
  check_repository("forget", registry, repository)
  check_strings(digests, 3, "forget")
  local db = self.db
  return self:transaction(function()
    local forgotten = 0
    for first = 1, #digests, CHUNK do
      local n, err, code = db:exec([[
DELETE FROM repository_members WHERE registry = ? AND repository = ?
  AND digest IN (SELECT value FROM json_each(?))]], registry, repository, chunk(digests, first))
      if not n then return nil, err, code end
      forgotten = forgotten + n
    end
    return forgotten
  end)
end

local function encode_info(info, n, fname)
  if info == nil then return "{}" end
  if type(info) ~= "table" then argerror(n, fname, "table or nil", info) end
  return json.encode(info)
end

--- st:run_begin(kind, info) -> run id | fail: a run of kind ("purge") starts
--- now with status "running"; info: a table JSON can hold (flags, policy).
function Store:run_begin(kind, info)
  if type(kind) ~= "string" then argerror(1, "run_begin", "string", kind) end
  local row, err, code = self.db:first(
    "INSERT INTO runs (kind, status, started, info) VALUES (?, 'running', ?, ?) RETURNING id",
    kind, os.time(), encode_info(info, 2, "run_begin"))
  if not row then return nil, err, code end
  return row.id
end

--- st:run_end(id, status, info) -> true | fail: the run ended now with
--- status ("succeeded", "failed", ...) and info as its result.
function Store:run_end(id, status, info)
  if math.type(id) ~= "integer" then argerror(1, "run_end", "integer", id) end
  if type(status) ~= "string" then argerror(2, "run_end", "string", status) end
  local n, err, code = self.db:exec("UPDATE runs SET status = ?, ended = ?, result = ? WHERE id = ?",
    status, os.time(), encode_info(info, 3, "run_end"), id)
  if not n then return nil, err, code end
  if n == 0 then error(string.format("run_end: no run %d in %s", id, self.path), 2) end
  return true
end

--- st:runs([kind [, limit]]) -> array of runs, newest first | fail. Each:
--- {id, kind, status, started, ended, info, result}; kind nil: every kind.
function Store:runs(kind, limit)
  if kind ~= nil and type(kind) ~= "string" then argerror(1, "runs", "string or nil", kind) end
  if limit ~= nil and math.type(limit) ~= "integer" then argerror(2, "runs", "integer or nil", limit) end
  local rows, err, code = self.db:rows([[
SELECT id, kind, status, started, ended, info, result FROM runs
WHERE ?1 IS NULL OR kind = ?1 ORDER BY id DESC LIMIT ?2]], kind, limit or -1)
  if not rows then return nil, err, code end
  for _, run in ipairs(rows) do
    run.info = assert(json.decode(run.info))
    if run.result then run.result = assert(json.decode(run.result)) end
  end
  return rows
end

--- st:close(): closes the database; idempotent. Later calls raise.
function Store:close()
  self.db:close()
end

Store.__close = Store.close

return M
