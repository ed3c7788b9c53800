-- regsh.schedule.tasks: the stored tasks and their timers (store migrations
-- 4 and 5). `regsh task create|update|timer ...` write them, `regsh serve` reads
-- enabled_timers and watches version. Every write validates first and runs
-- in one transaction: on any error nothing is stored. docs/reference/schedule.md.
local json = require "regsh.json"

local M = {}

M.DEFAULT_TIMEOUT = 3600
-- ACR's limits are 300..28800 s; a local run may be shorter (tests, chores)
M.MIN_TIMEOUT, M.MAX_TIMEOUT = 1, 28800

local NAME = "^[A-Za-z0-9][A-Za-z0-9_-]*$"
local NAME_MAX = 50
local KINDS = {file = true, cmd = true, lua = true}
local STATUS = {Enabled = true, Disabled = true}
local EXECUTORS = {podman = true, docker = true, ["local"] = true}
local CONCURRENCY = {allow = true, forbid = true, replace = true, queue = true}
local CATCH_UP = {none = true, latest = true, all = true}
-- the task-level missed policy of migration 4, kept as an alias for the
-- catch-up policy of all the task's timers
M.MISSED_ALIAS = {skip = "none", ["run-once"] = "latest"}
M.DEFAULT_CATCH_UP_MAX, M.MAX_CATCH_UP_MAX = 10, 1000
local DIALECTS = {acr = true, vixie = true}

local function fail(code, fmt, ...)
  return nil, code .. ": " .. string.format(fmt, ...), code
end

local function now() return require("regsh.async").now() end

local function check_name(what, name)
  if type(name) ~= "string" or name == "" then return fail("ETASK", "the %s name is missing", what) end
  if #name > NAME_MAX or not name:find(NAME) then
    return fail("ETASK", "%s name '%s': 1 to %d letters, digits, '-' or '_', starting with a "
      .. "letter or digit", what, name, NAME_MAX)
  end
  return true
end

local function check_choice(field, value, set)
  if not set[value] then
    local names = {}
    for k in pairs(set) do names[#names + 1] = k end
    table.sort(names)
    return fail("ETASK", "%s '%s': one of %s", field, tostring(value), table.concat(names, ", "))
  end
  return true
end

-- a timer with its defaults, checked: the cron expression parses in its
-- dialect and zone (ECRON names the field and the problem)
local function check_timer(task, t)
  local ok, err, code = check_name("timer", t.name)
  if not ok then return nil, err, code end
  if type(t.schedule) ~= "string" then
    return fail("ECRON", "timer '%s' of task '%s': no schedule", t.name, task)
  end
  ok, err, code = check_choice("dialect", t.dialect, DIALECTS)
  if not ok then return nil, err, code end
  ok, err, code = check_choice("timer status", t.status, STATUS)
  if not ok then return nil, err, code end
  ok, err, code = check_choice("catch_up", t.catch_up, CATCH_UP)
  if not ok then return nil, err, code end
  ok, err, code = M.check_catch_up_max(t.catch_up_max)
  if not ok then return nil, err, code end
  ok, err, code = M.check_deadline(t.starting_deadline)
  if not ok then return nil, err, code end
  local c
  c, err, code = require("regsh.schedule.cron").parse(t.schedule, {dialect = t.dialect, tz = t.tz})
  if not c then
    return nil, string.format("%s (timer '%s' of task '%s': %q)", err, t.name, task, t.schedule),
      code
  end
  return true
end

--- check_catch_up_max(n) -> true | fail: an integer from 1 to MAX_CATCH_UP_MAX.
function M.check_catch_up_max(n)
  if math.type(n) ~= "integer" or n < 1 or n > M.MAX_CATCH_UP_MAX then
    return fail("ETASK", "catch_up_max %s: an integer from 1 to %d", tostring(n),
      M.MAX_CATCH_UP_MAX)
  end
  return true
end

--- check_deadline(s) -> true | fail: nil (no deadline) or whole seconds >= 1.
function M.check_deadline(s)
  if s ~= nil and (math.type(s) ~= "integer" or s < 1) then
    return fail("ETASK", "starting_deadline %s: whole seconds >= 1, or none", tostring(s))
  end
  return true
end

--- check_mutex(name) -> true | fail: nil (no group) or a name of letters,
--- digits, '.', ':', '-', '_' (a registry host names a group well).
function M.check_mutex(name)
  if name == nil then return true end
  if type(name) ~= "string" or #name > 100 or not name:find("^[%w][%w_.:%-]*$") then
    return fail("ETASK", "mutex group '%s': 1 to 100 letters, digits, '.', ':', '-' or '_', "
      .. "starting with a letter or digit", tostring(name))
  end
  return true
end

--- timer_defaults(t, position [, catch_up]) -> t: name "t<position>",
--- dialect acr, tz UTC, status Enabled (ACR's defaults), catch-up
--- catch_up or none, at most 10, no deadline, where not given.
function M.timer_defaults(t, position, catch_up)
  local out = {}
  for k, v in pairs(t) do out[k] = v end
  out.name = out.name or ("t" .. position)
  out.dialect = out.dialect or "acr"
  out.tz = out.tz or "UTC"
  out.status = out.status or "Enabled"
  out.catch_up = out.catch_up or catch_up or "none"
  out.catch_up_max = out.catch_up_max or M.DEFAULT_CATCH_UP_MAX
  if out.starting_deadline == json.null or out.starting_deadline == false then
    out.starting_deadline = nil
  end
  return out
end

-- the catch-up policy the alias `missed` gives | nil | fail
local function missed_alias(missed)
  if missed == nil then return nil end
  local policy = M.MISSED_ALIAS[missed]
  if not policy then return fail("ETASK", "missed '%s': one of run-once, skip", tostring(missed)) end
  return policy
end

-- the row fields with their defaults
local function with_defaults(def)
  local out = {}
  for k, v in pairs(def) do out[k] = v end
  out.context = out.context or "/dev/null"
  out.status = out.status or "Enabled"
  out.timeout = out.timeout or M.DEFAULT_TIMEOUT
  out.concurrency = out.concurrency or "allow"
  out.values = out.values or {}
  out.secret_values = out.secret_values or {}
  local alias, err, code = missed_alias(out.missed)
  if err then return nil, err, code end
  out.missed = nil
  local timers = {}
  for i, t in ipairs(out.timers or {}) do timers[i] = M.timer_defaults(t, i, alias) end
  out.timers = timers
  return out
end

-- every field of a task row, and its timers, checked; the task is then
-- built once (rendered, -f read from the context) to fail now, not at 10:00
local function check_def(def)
  local ok, err, code = check_name("task", def.name)
  if not ok then return nil, err, code end
  for _, check in ipairs{{"kind", def.kind, KINDS}, {"status", def.status, STATUS},
      {"concurrency", def.concurrency, CONCURRENCY}} do
    ok, err, code = check_choice(check[1], check[2], check[3])
    if not ok then return nil, err, code end
  end
  ok, err, code = M.check_mutex(def.mutex)
  if not ok then return nil, err, code end
  if def.executor ~= nil then
    ok, err, code = check_choice("executor", def.executor, EXECUTORS)
    if not ok then return nil, err, code end
  end
  if math.type(def.timeout) ~= "integer" or def.timeout < M.MIN_TIMEOUT
      or def.timeout > M.MAX_TIMEOUT then
    return fail("ETASK", "timeout %s: %d to %d seconds", tostring(def.timeout), M.MIN_TIMEOUT,
      M.MAX_TIMEOUT)
  end
  if def.kind == "file" and def.definition == nil and def.file == nil then
    return fail("ETASK", "task '%s': no task file", def.name)
  end
  if def.kind ~= "file" and type(def.definition) ~= "string" then
    return fail("ETASK", "task '%s': no %s", def.name, def.kind == "cmd" and "command" or "script")
  end
  for _, field in ipairs{"values", "secret_values"} do
    for k, v in pairs(def[field]) do
      if type(k) ~= "string" or type(v) ~= "string" then
        return fail("ETASK", "task '%s': %s must map strings to strings", def.name, field)
      end
    end
  end
  local seen = {}
  for _, t in ipairs(def.timers) do
    if seen[t.name] then
      return fail("ETASK", "task '%s': two timers named '%s'", def.name, t.name)
    end
    seen[t.name] = true
    ok, err, code = check_timer(def.name, t)
    if not ok then return nil, err, code end
  end
  local task, opts
  task, opts, code = require("regsh.schedule.definition").build(def)
  if not task then return nil, opts, code end
  if type(opts.context) == "table" then opts.context:close() end
  return true
end

local COLUMNS = 'name, kind, definition, file, context, registry, "values", secret_values, '
  .. "values_file, status, timeout, executor, concurrency, mutex, created, updated"

local function encode_map(map)
  if next(map) == nil then return "{}" end
  return json.encode(map)
end

local function decode_map(text)
  if not text then return {} end
  return assert(json.decode(text))
end

local function insert_timer(db, task, t)
  return db:exec([[
INSERT INTO timers (task, name, schedule, dialect, tz, status, last_fire, catch_up, catch_up_max,
  starting_deadline) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)]], task, t.name, t.schedule, t.dialect,
    t.tz, t.status, t.last_fire, t.catch_up, t.catch_up_max, t.starting_deadline)
end

local TIMER_COLUMNS = "name, schedule, dialect, tz, status, last_fire, catch_up, catch_up_max, "
  .. "starting_deadline"

local function write_task(st, def, created)
  local db = st.db
  local n, err, code = db:exec("INSERT INTO tasks (" .. COLUMNS .. [[)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)]], def.name, def.kind, def.definition,
    def.file, def.context, def.registry, encode_map(def.values), encode_map(def.secret_values),
    def.values_file, def.status, def.timeout, def.executor, def.concurrency, def.mutex,
    created, now())
  if not n then return nil, err, code end
  for _, t in ipairs(def.timers) do
    n, err, code = insert_timer(db, def.name, t)
    if not n then return nil, err, code end
  end
  return true
end

local function timers_of(st, task)
  return assert(st.db:rows("SELECT " .. TIMER_COLUMNS
    .. " FROM timers WHERE task = ? ORDER BY name", task))
end

local function from_row(st, row)
  row.values = decode_map(row.values)
  row.secret_values = decode_map(row.secret_values)
  row.timers = timers_of(st, row.name)
  return row
end

-- a write of task definitions in one transaction; when it took, a running
-- `regsh serve` on this store is told to reload (daemon.notify: SIGHUP)
local function write(st, fn)
  local r = table.pack(st:transaction(fn))
  if r[1] then require("regsh.schedule.daemon").notify(st) end
  return table.unpack(r, 1, r.n)
end

local function check_st(st, fname)
  if type(st) ~= "table" or not st.db then
    error(string.format("bad argument #1 to '%s' (store expected, got %s)", fname, type(st)), 3)
  end
end

local function missing(name)
  return fail("ENOTFOUND", "the task '%s' does not exist", tostring(name))
end

--- create(st, def) -> true | fail: a new task with its timers. def: {name,
--- kind = "file"|"cmd"|"lua", definition, file, context, registry, values,
--- secret_values, values_file, status, timeout, executor, concurrency
--- (allow | forbid | replace | queue), mutex, missed (the alias: the
--- catch-up of timers that give none), timers = {{name, schedule, dialect,
--- tz, status, catch_up, catch_up_max, starting_deadline}}}. EEXIST when
--- the name is taken; ETASK/ECRON/ENOENT/ECONTEXT from the checks.
function M.create(st, def)
  check_st(st, "create")
  if type(def) ~= "table" then error("bad argument #2 to 'create' (table expected)", 2) end
  local err, code
  def, err, code = with_defaults(def)
  if not def then return nil, err, code end
  local ok
  ok, err, code = check_def(def)
  if not ok then return nil, err, code end
  return write(st, function()
    if st.db:first("SELECT name FROM tasks WHERE name = ?", def.name) then
      return fail("EEXIST", "the task '%s' already exists", def.name)
    end
    return write_task(st, def, now())
  end)
end

--- get(st, name) -> def (with .timers, by name) | nil
function M.get(st, name)
  check_st(st, "get")
  local row = st.db:first("SELECT " .. COLUMNS .. " FROM tasks WHERE name = ?", name)
  if not row then return nil end
  return from_row(st, row)
end

--- list(st) -> array of defs (with .timers), by name
function M.list(st)
  check_st(st, "list")
  local rows = assert(st.db:rows("SELECT " .. COLUMNS .. " FROM tasks ORDER BY name"))
  for _, row in ipairs(rows) do from_row(st, row) end
  return rows
end

local UPDATABLE = {kind = true, definition = true, file = true, context = true, registry = true,
  values = true, secret_values = true, values_file = true, status = true, timeout = true,
  executor = true, concurrency = true, missed = true, mutex = true}

--- update(st, name, fields) -> true | fail: changes the given fields (not
--- the name nor the timers); json.null (or false) clears executor, registry,
--- values_file, mutex. missed (the alias) sets the catch-up policy of every
--- timer of the task. The whole task is checked again.
function M.update(st, name, fields)
  check_st(st, "update")
  if type(fields) ~= "table" then error("bad argument #3 to 'update' (table expected)", 2) end
  for k in pairs(fields) do
    if not UPDATABLE[k] then error(string.format("update: unknown field '%s'", tostring(k)), 2) end
  end
  return write(st, function()
    local def = M.get(st, name)
    if not def then return missing(name) end
    for k, v in pairs(fields) do
      if v == false or v == json.null then v = nil end
      def[k] = v
    end
    local alias, aerr, acode = missed_alias(def.missed)
    if aerr then return nil, aerr, acode end
    for _, t in ipairs(alias and def.timers or {}) do t.catch_up = alias end
    local err, code
    def, err, code = with_defaults(def)
    if not def then return nil, err, code end
    local ok
    ok, err, code = check_def(def)
    if not ok then return nil, err, code end
    local created = def.created
    st.db:exec("DELETE FROM timers WHERE task = ?", name)
    st.db:exec("DELETE FROM tasks WHERE name = ?", name)
    return write_task(st, def, created)
  end)
end

--- delete(st, name) -> true | fail: the task and its timers (its runs stay).
function M.delete(st, name)
  check_st(st, "delete")
  return write(st, function()
    if not st.db:first("SELECT name FROM tasks WHERE name = ?", name) then return missing(name) end
    st.db:exec("DELETE FROM timers WHERE task = ?", name)
    st.db:exec("DELETE FROM tasks WHERE name = ?", name)
    return true
  end)
end

local function find_timer(st, task, name)
  if not st.db:first("SELECT name FROM tasks WHERE name = ?", task) then return missing(task) end
  if not st.db:first("SELECT name FROM timers WHERE task = ?", task) then
    return fail("ENOTFOUND", "No timer triggers exist for the task '%s'.", task)
  end
  local row = st.db:first("SELECT " .. TIMER_COLUMNS
    .. " FROM timers WHERE task = ? AND name = ?", task, name)
  if not row then
    return fail("ENOTFOUND", "The timer '%s' does not exist for the task '%s'.", tostring(name), task)
  end
  return row
end

--- timer_add(st, task, t) -> true | fail: t = {name, schedule, dialect, tz,
--- status, catch_up, catch_up_max, starting_deadline} (defaults as
--- timer_defaults; the name is then t<count+1>).
--- EEXIST when the task has a timer of that name.
function M.timer_add(st, task, t)
  check_st(st, "timer_add")
  if type(t) ~= "table" then error("bad argument #3 to 'timer_add' (table expected)", 2) end
  return write(st, function()
    if not st.db:first("SELECT name FROM tasks WHERE name = ?", task) then return missing(task) end
    local count = st.db:first("SELECT count(*) AS n FROM timers WHERE task = ?", task).n
    t = M.timer_defaults(t, count + 1)
    if st.db:first("SELECT name FROM timers WHERE task = ? AND name = ?", task, t.name) then
      return fail("EEXIST", "the timer '%s' already exists for the task '%s'", t.name, task)
    end
    local ok, err, code = check_timer(task, t)
    if not ok then return nil, err, code end
    local n
    n, err, code = insert_timer(st.db, task, t)
    if not n then return nil, err, code end
    return true
  end)
end

local TIMER_UPDATABLE = {schedule = true, dialect = true, tz = true, status = true,
  catch_up = true, catch_up_max = true, starting_deadline = true}

--- timer_update(st, task, name, fields) -> true | fail: fields among
--- schedule, dialect, tz, status, catch_up, catch_up_max, starting_deadline
--- (json.null or false clears it). A new schedule keeps last_fire.
function M.timer_update(st, task, name, fields)
  check_st(st, "timer_update")
  if type(fields) ~= "table" then error("bad argument #4 to 'timer_update' (table expected)", 2) end
  for k in pairs(fields) do
    if not TIMER_UPDATABLE[k] then
      error(string.format("timer_update: unknown field '%s'", tostring(k)), 2)
    end
  end
  return write(st, function()
    local t, err, code = find_timer(st, task, name)
    if not t then return nil, err, code end
    for k, v in pairs(fields) do t[k] = v end
    if t.starting_deadline == json.null or t.starting_deadline == false then
      t.starting_deadline = nil
    end
    local ok
    ok, err, code = check_timer(task, t)
    if not ok then return nil, err, code end
    local n
    n, err, code = st.db:exec([[
UPDATE timers SET schedule = ?, dialect = ?, tz = ?, status = ?, catch_up = ?, catch_up_max = ?,
  starting_deadline = ? WHERE task = ? AND name = ?]], t.schedule, t.dialect, t.tz, t.status,
      t.catch_up, t.catch_up_max, t.starting_deadline, task, name)
    if not n then return nil, err, code end
    return true
  end)
end

--- timer_remove(st, task, name) -> true | fail (ACR's messages).
function M.timer_remove(st, task, name)
  check_st(st, "timer_remove")
  return write(st, function()
    local t, err, code = find_timer(st, task, name)
    if not t then return nil, err, code end
    st.db:exec("DELETE FROM timers WHERE task = ? AND name = ?", task, name)
    return true
  end)
end

--- set_last_fire(st, task, timer, t) -> true | fail: the occurrence t (epoch
--- seconds) the daemon handled last; does not change version().
function M.set_last_fire(st, task, timer, t)
  check_st(st, "set_last_fire")
  if math.type(t) ~= "integer" then error("bad argument #4 to 'set_last_fire' (integer expected)", 2) end
  local n, err, code = st.db:exec("UPDATE timers SET last_fire = ? WHERE task = ? AND name = ?",
    t, task, timer)
  if not n then return nil, err, code end
  if n == 0 then
    return fail("ENOTFOUND", "The timer '%s' does not exist for the task '%s'.", tostring(timer),
      tostring(task))
  end
  return true
end

--- enabled_timers(st) -> array of {task, timer, schedule, dialect, tz,
--- last_fire, catch_up, catch_up_max, starting_deadline, concurrency,
--- mutex}: the timers that are Enabled on tasks that are Enabled, by task
--- and timer name.
function M.enabled_timers(st)
  check_st(st, "enabled_timers")
  return assert(st.db:rows([[
SELECT t.task AS task, t.name AS timer, t.schedule AS schedule, t.dialect AS dialect, t.tz AS tz,
  t.last_fire AS last_fire, t.catch_up AS catch_up, t.catch_up_max AS catch_up_max,
  t.starting_deadline AS starting_deadline, k.concurrency AS concurrency, k.mutex AS mutex
FROM timers t JOIN tasks k ON k.name = t.task
WHERE t.status = 'Enabled' AND k.status = 'Enabled'
ORDER BY t.task, t.name]]))
end

--- version(st) -> integer: grows on every change of a task or timer
--- definition, by any process (triggers in the store); set_last_fire does
--- not change it.
function M.version(st)
  check_st(st, "version")
  return assert(st.db:first("SELECT version FROM schedule_version WHERE id = 1")).version
end

return M
