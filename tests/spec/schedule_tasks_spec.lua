-- regsh.schedule.tasks and regsh.schedule.definition on a real SQLite store:
-- defaults, the checks that store nothing on bad input, timers with ACR's
-- messages, enabled_timers and version for the daemon, stored tasks built
-- and run (one run per timer occurrence), Skipped runs, and readers that
-- keep reading while another process writes (WAL).
local store = require "regsh.store"
local tasks = require "regsh.schedule.tasks"
local definition = require "regsh.schedule.definition"
local runs = require "regsh.task.runs"
local fs = require "regsh.fs"

local function write(path, text)
  local f = assert(io.open(path, "wb"))
  f:write(text)
  f:close()
end

local function count(st, sql)
  return assert(st.db:first("SELECT count(*) AS n FROM " .. sql)).n
end

describe("regsh.schedule.tasks", function()
  local dir, st

  before_each(function()
    dir = assert(fs.temp_dir("regsh-sched-tasks"))
    st = assert(store.open(dir .. "/state.db"))
  end)

  after_each(function()
    st:close()
    fs.remove_tree(dir)
  end)

  local function cmd_task(name, timers, extra)
    local def = {name = name, kind = "cmd", definition = "echo {{.Values.greeting}}",
      values = {greeting = "hello"}, executor = "local", timers = timers}
    for k, v in pairs(extra or {}) do def[k] = v end
    return def
  end

  it("stores a task with ACR's defaults and numbers unnamed timers by position", function()
    local v0 = tasks.version(st)
    assert(tasks.create(st, cmd_task("purgetask", {{schedule = "0 10 * * *"},
      {name = "daily", schedule = "30 9 * Jan Mon", tz = "Europe/Berlin", dialect = "vixie"},
      {schedule = "*/5 * * * *"}})))
    local t = assert(tasks.get(st, "purgetask"))
    assert.same({"cmd", "/dev/null", "Enabled", 3600, "allow", "local"},
      {t.kind, t.context, t.status, t.timeout, t.concurrency, t.executor})
    assert.is_nil(t.mutex)
    assert.same({"none", 10}, {t.timers[1].catch_up, t.timers[1].catch_up_max})
    assert.is_nil(t.timers[1].starting_deadline)
    assert.same({greeting = "hello"}, t.values)
    local names = {}
    for i, timer in ipairs(t.timers) do names[i] = timer.name .. "/" .. timer.dialect .. "/" .. timer.tz end
    assert.same({"daily/vixie/Europe/Berlin", "t1/acr/UTC", "t3/acr/UTC"}, names)
    assert.is_true(tasks.version(st) > v0)
    assert.equal(1, #tasks.list(st))
    assert.is_nil(tasks.get(st, "nope"))
  end)

  it("refuses bad input with one clear error and stores nothing", function()
    local missing_dir = dir .. "/ctx"
    assert(fs.mkdir(missing_dir))
    local cases = {
      {cmd_task("t", {{schedule = "0 10 * * * *"}}), "ECRON", "exactly 5 fields"},
      {cmd_task("t", {{schedule = "0 0 10 * * * *"}}), "ECRON", "exactly 5 fields"},
      {cmd_task("t", {{schedule = "61 * * * *"}}), "ECRON", "61"},
      {cmd_task("t", {{schedule = "0 0 * * Foo"}}), "ECRON", "Foo"},
      {cmd_task("t", {{schedule = "0/0 * * * *"}}), "ECRON", "0/0"},
      {cmd_task("t", {{schedule = "0 10 * * *", tz = "Mars/Olympus"}}), "ECRON", "Mars/Olympus"},
      {cmd_task("t", {{name = "a", schedule = "0 10 * * *"}, {name = "a", schedule = "0 11 * * *"}}),
        "ETASK", "two timers named 'a'"},
      {cmd_task("bad name!", {}), "ETASK", "task name 'bad name!'"},
      {cmd_task("t", {}, {timeout = 0}), "ETASK", "timeout 0"},
      {cmd_task("t", {}, {timeout = 28801}), "ETASK", "timeout 28801"},
      {cmd_task("t", {}, {concurrency = "sometimes"}), "ETASK", "concurrency 'sometimes'"},
      {cmd_task("t", {}, {missed = "never"}), "ETASK", "missed 'never': one of run-once, skip"},
      {cmd_task("t", {}, {mutex = "a/b"}), "ETASK", "mutex group 'a/b'"},
      {cmd_task("t", {{schedule = "0 10 * * *", catch_up = "some"}}), "ETASK",
        "catch_up 'some': one of all, latest, none"},
      {cmd_task("t", {{schedule = "0 10 * * *", catch_up_max = 0}}), "ETASK",
        "catch_up_max 0: an integer from 1 to 1000"},
      {cmd_task("t", {{schedule = "0 10 * * *", catch_up_max = 1001}}), "ETASK", "catch_up_max 1001"},
      {cmd_task("t", {{schedule = "0 10 * * *", starting_deadline = 0}}), "ETASK",
        "starting_deadline 0: whole seconds >= 1, or none"},
      {cmd_task("t", {{schedule = "0 10 * * *", starting_deadline = 1.5}}), "ETASK",
        "starting_deadline 1.5"},
      {{name = "t", kind = "file", file = "acb.yaml", context = missing_dir}, "ENOENT", "acb.yaml"},
      {{name = "t", kind = "file", definition = "version: v1.1.0\nsteps: 3\n"}, "ETASK", nil},
    }
    local v0 = tasks.version(st)
    for _, case in ipairs(cases) do
      local ok, err, code = tasks.create(st, case[1])
      assert.is_nil(ok, case[3])
      assert.equal(case[2], code, err)
      assert.is_nil(err:find("\n"), err)
      if case[3] then assert.matches(case[3], err, 1, true) end
    end
    assert.equal(0, count(st, "tasks"))
    assert.equal(0, count(st, "timers"))
    assert.equal(v0, tasks.version(st))
  end)

  it("refuses a second task of the same name (EEXIST) and keeps the first", function()
    assert(tasks.create(st, cmd_task("one", {{schedule = "0 10 * * *"}})))
    local ok, err, code = tasks.create(st, cmd_task("one", {}))
    assert.is_nil(ok)
    assert.equal("EEXIST", code)
    assert.equal("EEXIST: the task 'one' already exists", err)
    assert.equal(1, count(st, "timers"))
  end)

  it("updates fields, rechecks the task, and Disabled hides its timers from the daemon", function()
    assert(tasks.create(st, cmd_task("a", {{schedule = "0 10 * * *"}, {schedule = "0 11 * * *"}})))
    assert(tasks.create(st, cmd_task("b", {{schedule = "0 12 * * *"}})))
    assert(tasks.set_last_fire(st, "a", "t1", 1000))
    assert.equal(3, #tasks.enabled_timers(st))
    local v = tasks.version(st)
    assert(tasks.update(st, "a", {status = "Disabled", timeout = 600}))
    assert.is_true(tasks.version(st) > v)
    local list = tasks.enabled_timers(st)
    assert.equal(1, #list)
    assert.same({"b", "t1", "0 12 * * *", "acr", "UTC"},
      {list[1].task, list[1].timer, list[1].schedule, list[1].dialect, list[1].tz})
    local a = tasks.get(st, "a")
    assert.same({"Disabled", 600, 1000}, {a.status, a.timeout, a.timers[1].last_fire})
    local ok, err, code = tasks.update(st, "a", {executor = "kubernetes"})
    assert.is_nil(ok)
    assert.equal("ETASK", code, err)
    assert.equal("local", tasks.get(st, "a").executor)
    assert(tasks.update(st, "a", {status = "Enabled"}))
    assert(tasks.timer_update(st, "a", "t2", {status = "Disabled"}))
    list = tasks.enabled_timers(st)
    assert.equal(2, #list)
    assert.same({"a", "t1", 1000}, {list[1].task, list[1].timer, list[1].last_fire})
    assert.same({nil, "ENOTFOUND: the task 'zz' does not exist", "ENOTFOUND"},
      {tasks.update(st, "zz", {status = "Disabled"})})
  end)

  it("adds, updates and removes timers with ACR's messages", function()
    assert(tasks.create(st, cmd_task("t", {})))
    assert.same({nil, "ENOTFOUND: No timer triggers exist for the task 't'.", "ENOTFOUND"},
      {tasks.timer_remove(st, "t", "t1")})
    assert(tasks.timer_add(st, "t", {schedule = "0 10 * * *"}))
    assert(tasks.timer_add(st, "t", {name = "nightly", schedule = "0 2 * * *"}))
    assert.same({"nightly", "t1"}, {tasks.get(st, "t").timers[1].name, tasks.get(st, "t").timers[2].name})
    local ok, err, code = tasks.timer_add(st, "t", {name = "nightly", schedule = "0 3 * * *"})
    assert.is_nil(ok)
    assert.equal("EEXIST", code, err)
    ok, err, code = tasks.timer_add(st, "t", {name = "x", schedule = "0 25 * * *"})
    assert.is_nil(ok)
    assert.equal("ECRON", code, err)
    assert.same({nil, "ENOTFOUND: The timer 'zz' does not exist for the task 't'.", "ENOTFOUND"},
      {tasks.timer_update(st, "t", "zz", {status = "Disabled"})})
    ok, err, code = tasks.timer_update(st, "t", "t1", {schedule = "0 10 * * * *"})
    assert.is_nil(ok)
    assert.equal("ECRON", code, err)
    assert.equal("0 10 * * *", tasks.get(st, "t").timers[2].schedule)
    assert(tasks.timer_update(st, "t", "t1", {schedule = "15 10 * * *"}))
    assert.equal("15 10 * * *", tasks.get(st, "t").timers[2].schedule)
    local v = tasks.version(st)
    assert(tasks.set_last_fire(st, "t", "t1", 1700000000))
    assert.equal(v, tasks.version(st))   -- the daemon's own bookkeeping reloads nothing
    assert(tasks.timer_remove(st, "t", "t1"))
    assert.equal(1, count(st, "timers"))
    assert.same({nil, "ENOTFOUND: the task 'q' does not exist", "ENOTFOUND"},
      {tasks.timer_add(st, "q", {schedule = "0 1 * * *"})})
  end)

  it("keeps each timer's catch-up: missed is the alias of all the timers', update keeps "
    .. "last_fire", function()
    assert(tasks.create(st, cmd_task("t", {{schedule = "0 10 * * *"},
      {name = "own", schedule = "0 11 * * *", catch_up = "all", catch_up_max = 4,
       starting_deadline = 600}}, {missed = "run-once", mutex = "reg", concurrency = "queue"})))
    local t = tasks.get(st, "t")
    assert.same({"queue", "reg"}, {t.concurrency, t.mutex})
    assert.same({"own", "all", 4, 600}, {t.timers[1].name, t.timers[1].catch_up,
      t.timers[1].catch_up_max, t.timers[1].starting_deadline})
    assert.same({"t1", "latest"}, {t.timers[2].name, t.timers[2].catch_up})
    assert(tasks.set_last_fire(st, "t", "own", 1700000000))
    assert(tasks.update(st, "t", {missed = "skip", mutex = false}))
    t = tasks.get(st, "t")
    assert.same({"none", "none", 1700000000}, {t.timers[1].catch_up, t.timers[2].catch_up,
      t.timers[1].last_fire})
    assert.is_nil(t.mutex)
    local v = tasks.version(st)
    assert(tasks.timer_update(st, "t", "own", {starting_deadline = require("regsh.json").null,
      catch_up = "latest"}))
    assert.is_true(tasks.version(st) > v)    -- a daemon reloads a changed policy
    local e = tasks.enabled_timers(st)[1]
    assert.same({"own", "latest", 4, "queue"}, {e.timer, e.catch_up, e.catch_up_max, e.concurrency})
    assert.is_nil(e.starting_deadline)
  end)

  it("migrates a store of version 4: missed moves into each timer's catch-up", function()
    local path = dir .. "/v4.db"
    local db = assert(require("regsh.core.store").open(path, 5000))
    for i = 1, 4 do assert(db:exec_script(store.migration(i))) end
    assert(db:exec([[INSERT INTO tasks (name, kind, definition, context, status, timeout,
      concurrency, missed, created, updated) VALUES
      ('once', 'cmd', 'true', '/dev/null', 'Enabled', 60, 'forbid', 'run-once', 0, 0),
      ('skip', 'cmd', 'true', '/dev/null', 'Enabled', 60, 'allow', 'skip', 0, 0)]]))
    assert(db:exec([[INSERT INTO timers (task, name, schedule, dialect, tz, status, last_fire)
      VALUES ('once', 't1', '0 10 * * *', 'acr', 'UTC', 'Enabled', 1700000000),
      ('once', 't2', '0 11 * * *', 'acr', 'UTC', 'Enabled', NULL),
      ('skip', 't1', '0 12 * * *', 'acr', 'UTC', 'Enabled', NULL)]]))
    db:close()
    local st5 = assert(store.open(path))
    local once, skip = tasks.get(st5, "once"), tasks.get(st5, "skip")
    assert.same({"latest", "latest", 10, 1700000000, "forbid"}, {once.timers[1].catch_up,
      once.timers[2].catch_up, once.timers[1].catch_up_max, once.timers[1].last_fire,
      once.concurrency})
    assert.equal("none", skip.timers[1].catch_up)
    assert.is_nil(st5.db:first("SELECT name FROM pragma_table_info('tasks') WHERE name = 'missed'"))
    assert.equal(5, st5.db:first("PRAGMA user_version").user_version)
    st5:close()
  end)

  it("deletes a task and its timers, and keeps its runs", function()
    assert(tasks.create(st, cmd_task("t", {{schedule = "0 10 * * *"}})))
    assert(runs.skip(st, {task = "t", trigger = "Timer", timer = "t1", occurrence = 60,
      reason = "missed"}))
    assert(tasks.delete(st, "t"))
    assert.equal(0, count(st, "tasks"))
    assert.equal(0, count(st, "timers"))
    assert.equal(1, count(st, "task_runs"))
    assert.equal("ENOTFOUND", select(3, tasks.delete(st, "t")))
  end)

  it("lets readers read while another process writes (WAL)", function()
    local proc = require "regsh.proc"
    local async = require "regsh.async"
    local bin = require "support.bin_path"
    local N = 150
    local code = string.format([[
local st = assert(regsh.store.open(%q))
local tasks = require "regsh.schedule.tasks"
for i = 1, %d do
  assert(tasks.create(st, {name = string.format("w%%03d", i), kind = "cmd", definition = "true",
    timers = {{schedule = "0 10 * * *"}}}))
end]], st.path, N)
    local writer = assert(proc.spawn{bin, "-e", code})
    local done, result = false, nil
    local waiter = async.spawn(function()
      result = writer:wait()
      done = true
    end)
    local reads, last, reader = 0, 0, assert(store.open(st.path))
    while not done or last < N do
      local list = tasks.list(reader)
      assert.is_true(#list >= last)     -- a reader sees whole transactions, never fewer
      for _, t in ipairs(list) do assert.equal(1, #t.timers) end
      last, reads = #list, reads + 1
      if done and last < N then break end
      async.sleep(0)
    end
    waiter:wait()
    writer:close()
    reader:close()
    assert.is_true(result.ok, result.stderr)
    assert.equal(N, last)
    assert.is_true(reads > 1)
  end)
end)

describe("regsh.schedule.definition", function()
  local dir, st

  before_each(function()
    dir = assert(fs.temp_dir("regsh-sched-def"))
    st = assert(store.open(dir .. "/state.db"))
  end)

  after_each(function()
    st:close()
    fs.remove_tree(dir)
  end)

  it("builds a --cmd task as az does, with the task timeout on the step", function()
    assert(tasks.create(st, {name = "c", kind = "cmd", definition = "echo {{.Values.a}}",
      values = {a = "x"}, secret_values = {pw = "hunter2"}, timeout = 120, executor = "local"}))
    local task, opts = assert(definition.load(st, "c"))
    local step = task:plan().steps[1]
    assert.same({"cmd", "echo x", 120}, {step.kind, step.cmd, step.timeout})
    assert.same({a = "x", pw = "hunter2"}, opts.values)
    assert.is_truthy(opts.secrets[1] == "hunter2" or opts.secrets[2] == "hunter2")
    assert.same({"c", 120, "local"}, {opts.task_name, opts.timeout, opts.executor})
    assert.is_nil(opts.context)
  end)

  it("reads -f from the context at run time, with the values file beside it", function()
    local ctx = dir .. "/ctx"
    assert(fs.mkdir(ctx))
    write(ctx .. "/acb.yaml", "steps:\n  - cmd: echo one {{.Values.v}}\n")
    write(ctx .. "/values.yaml", "v: fromfile\n")
    assert(tasks.create(st, {name = "f", kind = "file", file = "acb.yaml", context = ctx,
      values_file = "values.yaml"}))
    write(ctx .. "/acb.yaml", "steps:\n  - cmd: echo two {{.Values.v}}\n")
    local task, opts = assert(definition.load(st, "f"))
    assert.equal("echo two fromfile", task:plan().steps[1].cmd)
    assert.equal("table", type(opts.context))
    opts.context:close()
  end)

  it("runs a stored task once per timer occurrence (EEXIST before anything starts)", function()
    local marker = dir .. "/ran"
    assert(tasks.create(st, {name = "m", kind = "cmd", definition = "echo x >> " .. marker,
      executor = "local"}))
    local lines = {}
    local run = assert(definition.run(st, "m", {trigger = "Timer", timer = "t1",
      occurrence = 1700000000, on_output = function(l) lines[#lines + 1] = l end}))
    assert.equal("Succeeded", run.status)
    local rec = runs.get(st, run.id)
    assert.same({"m", "Timer", "t1", 1700000000}, {rec.task, rec.trigger, rec.timer, rec.occurrence})
    local again, err, code = definition.run(st, "m", {trigger = "Timer", timer = "t1",
      occurrence = 1700000000, on_output = function() end})
    assert.is_nil(again)
    assert.equal("EEXIST", code)
    assert.matches("already has run " .. run.id, err, 1, true)
    assert.equal("x\n", require("support.cmd").read_file(marker))
    -- the runner refuses it too, and the index holds even for a raw insert
    local t = assert(definition.load(st, "m"))
    assert.equal("EEXIST", select(3, t:run{store = st, trigger = "Timer", timer = "t1",
      occurrence = 1700000000, task_name = "m", on_output = function() end}))
    assert.is_nil(st.db:exec([[INSERT INTO task_runs (id, seq, task, trigger, timer, occurrence,
      status, created) VALUES ('zz', 999, 'm', 'Timer', 't1', 1700000000, 'Queued', 0)]]))
    -- Manual runs and other occurrences are free
    assert(definition.run(st, "m", {on_output = function() end}))
    assert(definition.run(st, "m", {trigger = "Timer", timer = "t1", occurrence = 1700000060,
      on_output = function() end}))
    assert.equal("x\nx\nx\n", require("support.cmd").read_file(marker))
    assert.equal("ENOTFOUND", select(3, definition.run(st, "nope", {})))
  end)

  it("records a Skipped run with its reason, which takes the occurrence", function()
    assert(tasks.create(st, {name = "s", kind = "cmd", definition = "true", executor = "local"}))
    local id = assert(runs.skip(st, {task = "s", trigger = "Timer", timer = "t1", occurrence = 120,
      reason = "overlap"}))
    local rec = runs.get(st, id)
    assert.same({"Skipped", "overlap", "Timer"}, {rec.status, rec.error, rec.trigger})
    assert.is_number(rec.finished)
    assert.equal("EEXIST", select(3, definition.run(st, "s", {trigger = "Timer", timer = "t1",
      occurrence = 120})))
    assert.equal(1, #runs.list(st, {status = "Skipped"}))
  end)

  it("records an Error run when the stored task cannot be built any more", function()
    local ctx = dir .. "/ctx"
    assert(fs.mkdir(ctx))
    write(ctx .. "/acb.yaml", "steps:\n  - cmd: true\n")
    assert(tasks.create(st, {name = "gone", kind = "file", file = "acb.yaml", context = ctx}))
    os.remove(ctx .. "/acb.yaml")
    local run, err = definition.run(st, "gone", {trigger = "Timer", timer = "t1", occurrence = 5})
    assert.is_nil(run)
    assert.matches("acb.yaml", err, 1, true)
    local rec = runs.list(st, {task = "gone"})[1]
    assert.same({"Error", "Timer", 5}, {rec.status, rec.trigger, rec.occurrence})
  end)
end)
