-- regsh serve (lua/regsh/schedule/daemon.lua) as a child process on a state
-- store in a temp dir, with the test clock REGSH_SERVE_CLOCK=START:SCALE, and
-- `--executor local` tasks of sh commands that append to files. Waits are
-- for conditions (the file, the store), bounded, never for a time. Also the
-- pure parts: timers.lua (due occurrences, policies), clock.lua, schedule.add.
local cmd = require "support.cmd"
local fs = require "regsh.fs"
local json = require "regsh.json"
local timers = require "regsh.schedule.timers"
local cron = require "regsh.schedule.cron"

local function utc(s) return assert(require("regsh.time").parse_rfc3339(s)) end

local START = utc("2026-01-01T09:59:50Z")

describe("schedule timers (pure)", function()
  local every10 = assert(cron.parse("*/10 * * * *"))

  it("counts the occurrences in (after, now], leaving out recorded ones", function()
    local due = timers.due(every10, utc("2026-01-01T09:00:00Z"), START)
    assert.same({count = 5, first = utc("2026-01-01T09:10:00Z"),
                 latest = utc("2026-01-01T09:50:00Z"), capped = false,
                 last = {utc("2026-01-01T09:50:00Z")}}, due)
    due = timers.due(every10, utc("2026-01-01T09:00:00Z"), START, nil, 3)
    assert.same({utc("2026-01-01T09:30:00Z"), utc("2026-01-01T09:40:00Z"),
                 utc("2026-01-01T09:50:00Z")}, due.last)
    local recorded = {[utc("2026-01-01T09:50:00Z")] = true}
    due = timers.due(every10, utc("2026-01-01T09:00:00Z"), START, function(t) return recorded[t] end)
    assert.equal(4, due.count)
    assert.equal(utc("2026-01-01T09:40:00Z"), due.latest)
    assert.equal(0, timers.due(every10, utc("2026-01-01T09:50:00Z"), START).count)
    assert.equal(1, timers.due(every10, utc("2026-01-01T09:50:00Z"), utc("2026-01-01T10:00:00Z")).count)
  end)

  it("caps a catch-up over a very long downtime", function()
    local minutely = assert(cron.parse("* * * * *"))
    local due = timers.due(minutely, START - 400 * 86400, START)
    assert.is_true(due.capped)
    assert.equal(timers.MAX_COUNT, due.count)
    assert.matches("^missed: at least 100000 occurrences from ",
      timers.missed_text(timers.plan(due, {catch_up = "none"}).missed, "none"))
  end)

  it("decides a fire by the concurrency policy", function()
    assert.equal("start", timers.decide("forbid", 0))
    assert.equal("skip", timers.decide("forbid", 1))
    assert.equal("start", timers.decide("allow", 3))
    assert.equal("replace", timers.decide("replace", 1))
    assert.equal("start", timers.decide("queue", 0))
    assert.equal("queue", timers.decide("queue", 1, 0))
    assert.equal("skip", timers.decide("queue", 2, 1))   -- one waits already: the bound
    assert.has_error(function() timers.decide("sometimes", 1) end,
      "unknown concurrency policy 'sometimes' (allow, forbid, replace or queue)")
  end)

  it("picks the earliest entry, ties by key", function()
    local e = timers.earliest{a = {key = "b", next = 5}, b = {key = "a", next = 5},
                              c = {key = "c", next = 9}, d = {key = "d"}}
    assert.equal("a", e.key)
    assert.is_nil(timers.earliest{})
  end)

  it("words the missed and the deadline records", function()
    assert.equal("missed: 1 occurrence (2026-01-01T09:50:00Z) while no daemon ran (catch-up none)",
      timers.missed_text({count = 1, latest = utc("2026-01-01T09:50:00Z")}, "none"))
    assert.equal("deadline: 2 occurrences from 2026-01-01T09:40:00Z to 2026-01-01T09:50:00Z not "
      .. "started within the starting deadline of 5m", timers.deadline_text({count = 2,
        first = utc("2026-01-01T09:40:00Z"), latest = utc("2026-01-01T09:50:00Z")}, 300))
  end)

  -- the due occurrences 09:10 .. 09:50 at START (09:59:50) as a policy plans them
  local function plan(policy)
    policy.max, policy.now = policy.max or 10, START
    local due = timers.due(every10, utc("2026-01-01T09:00:00Z"), START, nil, policy.max + 1)
    return timers.plan(due, policy)
  end
  local function at(s) return utc("2026-01-01T" .. s .. ":00Z") end

  it("plans a catch-up: none, latest, all, all capped, and a starting deadline", function()
    local p = plan{catch_up = "none"}
    assert.same({}, p.run)
    assert.same({count = 5, first = at("09:10"), latest = at("09:50"), capped = false}, p.missed)
    p = plan{catch_up = "latest"}
    assert.same({at("09:50")}, p.run)
    assert.same({count = 4, first = at("09:10"), latest = at("09:40"), capped = false}, p.missed)
    p = plan{catch_up = "all"}
    assert.same({at("09:10"), at("09:20"), at("09:30"), at("09:40"), at("09:50")}, p.run)
    assert.is_nil(p.missed)
    p = plan{catch_up = "all", max = 2}
    assert.same({at("09:40"), at("09:50")}, p.run)
    assert.same({count = 3, first = at("09:10"), latest = at("09:30"), capped = false}, p.missed)
    -- 09:50 is 9m50s old at START, 09:40 19m50s: a deadline of 15m skips the older
    p = plan{catch_up = "all", max = 2, deadline = 900}
    assert.same({at("09:50")}, p.run)
    assert.same({count = 1, first = at("09:40"), latest = at("09:40")}, p.deadline)
    -- the daemon's own (late) fire runs the latest even under none
    p = plan{catch_up = "none", fire_latest = true}
    assert.same({at("09:50")}, p.run)
    assert.equal(4, p.missed.count)
    assert.has_error(function() plan{catch_up = "some"} end,
      "unknown catch-up policy 'some' (none, latest or all)")
  end)
end)

describe("schedule clock", function()
  local clock = require "regsh.schedule.clock"

  it("runs SCALE times as fast from START", function()
    local mono = 100
    local c = clock.scaled(START, 60, function() return mono end)
    assert.equal(START, c.now())
    mono = 101.5
    assert.equal(START + 90, c.now())
  end)

  it("reads REGSH_SERVE_CLOCK, naming a bad value", function()
    assert.equal(1, clock.from_env(nil).scale)
    assert.equal(60, assert(clock.from_env("1767261590:60")).scale)
    local c, err = clock.from_env("tomorrow:2")
    assert.is_nil(c)
    assert.equal("EINVAL: REGSH_SERVE_CLOCK=tomorrow:2: expected START:SCALE (epoch seconds, "
      .. "a speed factor > 0)", err)
    assert.is_nil((clock.from_env("5:0")))
  end)
end)

describe("regsh.schedule.add", function()
  local schedule = require "regsh.schedule"
  before_each(function() schedule.clear() end)
  after_each(function() schedule.clear() end)

  it("registers schedules in order and refuses bad ones", function()
    schedule.add("purge", "0 10 * * *", function() end)
    schedule.add("report", assert(cron.parse("@hourly")), function() end, {concurrency = "forbid"})
    local list = schedule.list()
    assert.equal(2, #list)
    assert.equal("purge", list[1].name)
    assert.equal("forbid", list[2].concurrency)
    assert.equal("none", list[1].catch_up)
    assert.equal(10, list[1].catch_up_max)
    assert.has_error(function() schedule.add("purge", "* * * * *", function() end) end,
      "add: a schedule named 'purge' exists already")
    assert.has_error(function() schedule.add("x", "61 * * * *", function() end) end)
    assert.has_error(function() schedule.add("bad name", "* * * * *", function() end) end)
    assert.has_error(function() schedule.add("y", "* * * * *", 42) end,
      "bad argument #3 to 'add' (function or regsh.task expected, got number)")
    assert.has_error(function() schedule.add("z", "* * * * *", function() end, {missed = "all"}) end,
      "option 'missed' must be skip or run-once, got 'all'")
    local s = schedule.add("q", "* * * * *", function() end, {concurrency = "queue", mutex = "reg",
      catch_up = "all", catch_up_max = 3, starting_deadline = "30m"})
    assert.same({"queue", "reg", "all", 3, 1800},
      {s.concurrency, s.mutex, s.catch_up, s.catch_up_max, s.starting_deadline})
    assert.equal("latest", schedule.add("r", "* * * * *", function() end,
      {missed = "run-once"}).catch_up)
    for _, case in ipairs{
      {{catch_up = "some"}, "option 'catch_up' must be none, latest or all, got 'some'"},
      {{concurrency = "often"}, "option 'concurrency' must be allow, forbid, replace or queue, "
        .. "got 'often'"},
      {{catch_up_max = 0}, "option catch_up_max 0: an integer from 1 to 1000"},
      {{starting_deadline = "soon"}, "option 'starting_deadline': EDURATION: \"soon\": expected "
        .. "a number at \"soon\" (write e.g. 10d, 2d3h, 30m)"},
      {{starting_deadline = 0}, "option starting_deadline 0: whole seconds >= 1, or none"},
      {{mutex = "a b"}, "option 'mutex': mutex group 'a b': 1 to 100 letters, digits, '.', ':', "
        .. "'-' or '_', starting with a letter or digit"},
    } do
      assert.has_error(function() schedule.add("bad", "* * * * *", function() end, case[1]) end,
        case[2])
    end
  end)
end)

describe("regsh serve", function()
  local dir, state

  before_each(function()
    dir = assert(fs.temp_dir("regsh-serve"))
    state = dir .. "/state"
  end)
  after_each(function() fs.remove_tree(dir) end)

  local function q(s) return cmd.quote(s) end

  -- A stored task through tasks.create (in a regsh -e of its own).
  local function create(def)
    def.kind = def.kind or "cmd"
    def.context = def.context or "/dev/null"
    def.executor = def.executor or "local"
    local code = string.format([[
local st = assert(regsh.store.open(%q))
local def = regsh.json.decode(%q)
assert(require("regsh.schedule.tasks").create(st, def))
if def.last_fire then
  assert(require("regsh.schedule.tasks").set_last_fire(st, def.name, "t1", def.last_fire))
end]], state .. "/state.db", json.encode(def))
    local out, status, err = cmd.regsh({"-e", code})
    assert.equal(0, status, out .. err)
  end

  local function store()
    return assert(regsh.store.open(state .. "/state.db"))
  end

  local function run_list(filter)
    local st = store()
    local rows = assert(require("regsh.task.runs").list(st, filter))
    st:close()
    table.sort(rows, function(a, b) return a.seq < b.seq end)
    return rows
  end

  local function runs_of(task, status)
    return run_list({task = task, status = status})
  end

  local function serve(extra, start, scale)
    local argv = {cmd.bin, "serve", "--state", state}
    for _, a in ipairs(extra or {}) do argv[#argv + 1] = a end
    argv.env = {REGSH_SERVE_CLOCK = string.format("%d:%d", start or START, scale or 60)}
    argv.env_merge = true   -- REGSH_LUA_PATH and PATH too
    argv.stdout, argv.stderr = "capture", "capture"
    return assert(regsh.proc.spawn(argv))
  end

  -- serve with its log in a file, to watch it while it runs
  local function serve_logged(log, extra, start, scale)
    local argv = {"sh", "-c", 'exec "$0" "$@" 2>' .. q(log), cmd.bin, "serve", "--state", state}
    for _, a in ipairs(extra) do argv[#argv + 1] = a end
    argv.env = {REGSH_SERVE_CLOCK = string.format("%d:%d", start or START, scale or 60)}
    argv.env_merge = true
    return assert(regsh.proc.spawn(argv))
  end

  local function read_text(path)
    local f = io.open(path)
    local text = f and f:read("a") or ""
    if f then f:close() end
    return text
  end

  local function lines(path)
    local n = 0
    local f = io.open(path)
    if not f then return 0 end
    for _ in f:lines() do n = n + 1 end
    f:close()
    return n
  end

  local function wait_for(what, fn)
    for _ = 1, 600 do
      local v = fn()
      if v then return v end
      regsh.sleep(0.05)
    end
    error("timed out waiting for " .. what)
  end

  local function read_number(path)
    local f = io.open(path)
    local n = f and f:read("n")
    if f then f:close() end
    return n
  end

  -- SIGTERM to the daemon alone, as a supervisor (Kubernetes, podman stop)
  -- sends it: p:kill signals the whole group, steps in flight included, and
  -- a step killed that way ends its run Failed instead of finishing.
  local function stop(p)
    assert(regsh.proc.signal(p:pid(), "SIGTERM"))
    local r = p:wait()
    assert.equal(0, r.code, r.stderr)
    return r
  end

  it("fires each occurrence once, in order, and logs fire and finish", function()
    local out = dir .. "/out"
    create{name = "tick", definition = "echo tick >> " .. q(out),
      timers = {{schedule = "* * * * *"}}}
    local p <close> = serve()
    wait_for("three fires", function() return lines(out) >= 3 end)
    local r = stop(p)
    local rows = runs_of("tick")
    assert.equal(lines(out), #rows)
    for i, run in ipairs(rows) do
      assert.equal(utc("2026-01-01T10:00:00Z") + 60 * (i - 1), run.occurrence)
      assert.equal("Timer", run.trigger)
      assert.equal("t1", run.timer)
      assert.equal("Succeeded", run.status)
    end
    assert.matches("serve: fire occurrence=2026-01-01T10:00:00Z run=ca1 task=tick timer=t1",
      r.stderr, 1, true)
    assert.matches("serve: finish occurrence=2026%-01%-01T10:00:00Z run=ca1 seconds=[%d.]+ "
      .. "status=Succeeded task=tick timer=t1", r.stderr)
  end)

  it("skips an overlapping run under forbid and records it Skipped", function()
    local out = dir .. "/out"
    create{name = "slow", concurrency = "forbid",
      definition = "echo start >> " .. q(out) .. "; sleep 2.5; echo end >> " .. q(out),
      timers = {{schedule = "* * * * *"}}}
    local p <close> = serve()
    wait_for("a skip", function() return #runs_of("slow", "Skipped") >= 1 end)
    wait_for("the first run's end", function() return #runs_of("slow", "Succeeded") >= 1 end)
    stop(p)
    local skipped = runs_of("slow", "Skipped")
    assert.matches("^overlap: run ca1 is still running %(concurrency forbid%)$", skipped[1].error)
    assert.equal(utc("2026-01-01T10:01:00Z"), skipped[1].occurrence)
    -- never two at once: each start is followed by its end before the next start
    local text = cmd.read_file(out)
    assert.is_nil(text:find("start\nstart\n", 1, true), text)
  end)

  -- a step that notes its start, waits for the gate file (the spec opens it
  -- when it has seen what it waits for: no timing), and notes its end
  -- (it also ends when the test's directory is gone: a step a broken serve
  -- left running must not outlive the test)
  local function gated(name, out, gate)
    return string.format("echo start %s >> %s; while [ ! -e %s ] && [ -e %s ]; do sleep 0.05; "
      .. "done; echo end %s >> %s", name, q(out), q(gate), q(out), name, q(out))
  end

  -- no two "start" lines without an "end" between them
  local function never_two_at_once(out)
    local text = read_text(out)
    local depth = 0
    for line in text:gmatch("[^\n]+") do
      depth = depth + (line:match("^start") and 1 or -1)
      assert.is_true(depth <= 1, "two runs at once:\n" .. text)
    end
  end

  local function record_at(task, hhmm, status)
    for _, r in ipairs(runs_of(task, status)) do
      if os.date("!%H:%M", r.occurrence) == hhmm then return r end
    end
  end

  it("queues a fire behind the running run under queue: one waiting per timer, the next "
    .. "Skipped, a wait past the starting deadline Skipped", function()
    local out, gate = dir .. "/out", dir .. "/gate"
    create{name = "q", concurrency = "queue", definition = gated("q", out, gate),
      timers = {{name = "t1", schedule = "* * * * *"},
                {name = "t2", schedule = "1 10 * * *", starting_deadline = 120}}}
    local log = dir .. "/serve.log"
    local p <close> = serve_logged(log, {})
    wait_for("the 10:04 skip", function() return record_at("q", "10:04", "Skipped") end)
    assert.matches("serve: waits occurrence=2026-01-01T10:01:00Z reason=concurrency queue: "
      .. "run ca1 of task q is running task=q timer=t1", read_text(log), 1, true)
    assert(io.open(gate, "w")):close()
    wait_for("the waiting t1 run", function() return record_at("q", "10:01", "Succeeded") end)
    wait_for("t2's fire past its deadline", function()
      return #runs_of("q", "Skipped") >= 4 and record_at("q", "10:01", "Skipped")
    end)
    stop(p)
    for _, hhmm in ipairs{"10:02", "10:03", "10:04"} do
      assert.equal("overlap: the run of 2026-01-01T10:01:00Z already waits (concurrency queue: "
        .. "at most one waiting per timer)", record_at("q", hhmm, "Skipped").error)
    end
    local late = record_at("q", "10:01", "Skipped")
    assert.equal("t2", late.timer)
    assert.equal("deadline: 1 occurrence (2026-01-01T10:01:00Z) not started within the starting "
      .. "deadline of 2m", late.error)
    -- the queued run started once the first had ended
    local first, queued = record_at("q", "10:00", "Succeeded"), record_at("q", "10:01", "Succeeded")
    assert.is_true(queued.started >= first.finished)
    never_two_at_once(out)
  end)

  it("keeps the runs of a mutex group apart across tasks: forbid Skipped(mutex), allow waits "
    .. "(one per timer)", function()
    local out, gate = dir .. "/out", dir .. "/gate"
    create{name = "a", mutex = "reg", definition = gated("a", out, gate),
      timers = {{schedule = "0 10 * * *"}}}
    create{name = "b", mutex = "reg", concurrency = "forbid", definition = gated("b", out, gate),
      timers = {{schedule = "0 10 * * *"}}}
    create{name = "c", mutex = "reg", definition = gated("c", out, gate),
      timers = {{schedule = "* * * * *"}}}
    local p <close> = serve()
    wait_for("c's 10:02 skip", function() return record_at("c", "10:02", "Skipped") end)
    assert(io.open(gate, "w")):close()
    wait_for("c's waiting run", function() return record_at("c", "10:00", "Succeeded") end)
    stop(p)
    local a = record_at("a", "10:00", "Succeeded")
    assert.equal("mutex: the run of task a for 2026-01-01T10:00:00Z holds the mutex group reg "
      .. "(concurrency forbid)", record_at("b", "10:00", "Skipped").error)
    assert.equal("mutex: run " .. a.id .. " of task a holds the mutex group reg and the run of "
      .. "2026-01-01T10:00:00Z already waits for it (at most one waiting per timer)",
      record_at("c", "10:01", "Skipped").error)
    assert.is_true(record_at("c", "10:00", "Succeeded").started >= a.finished)
    assert.equal(0, #runs_of("b", "Succeeded"))
    never_two_at_once(out)
  end)

  it("cancels the running run for the new one under replace", function()
    local out = dir .. "/out"
    create{name = "swap", concurrency = "replace",
      definition = "echo start >> " .. q(out) .. "; exec sleep 60",
      timers = {{schedule = "* * * * *"}}}
    local p <close> = serve({"--grace", "0"})
    wait_for("the second run", function() return lines(out) >= 2 end)
    wait_for("the first one canceled", function() return #runs_of("swap", "Canceled") >= 1 end)
    stop(p)
    local first = runs_of("swap")[1]
    assert.equal("Canceled", first.status)
    assert.equal("replaced by the run of 2026-01-01T10:01:00Z (concurrency replace)", first.error)
  end)

  -- serve at real speed from START with no enabled timer, its log in a file
  -- (to see its signal watchers in place, "timers loaded", before going on)
  local function idle_serve(start)
    create{name = "later", definition = "true", timers = {{schedule = "0 0 1 1 *"}},
      status = "Disabled"}
    local log = dir .. "/serve.log"
    local p = serve_logged(log, {}, start, 1)
    wait_for("the timers loaded", function()
      return read_text(log):find("timers loaded", 1, true)
    end)
    return p, log, dir .. "/out"
  end

  it("reloads the timers on SIGHUP", function()
    local p <close>, log, out = idle_serve(utc("2026-01-01T09:59:57Z"))
    -- a task the CLI adds now is only seen at the next minute's check, or at once on SIGHUP
    create{name = "added", definition = "echo added >> " .. q(out),
      timers = {{schedule = "0 10 * * *"}}}
    assert(p:kill("SIGHUP"))
    wait_for("the fire of the added task", function() return lines(out) >= 1 end)
    stop(p)
    assert.equal(utc("2026-01-01T10:00:00Z"), runs_of("added")[1].occurrence)
    assert.matches("timers loaded reason=SIGHUP timers=1", cmd.read_file(log), 1, true)
  end)

  it("reloads at once when regsh task create adds a task (the CLI sends SIGHUP)", function()
    -- without the CLI's signal the next store check would come a minute
    -- after the start (10:00:55), past the fire time, and nothing would fire
    local p <close>, log, out = idle_serve(utc("2026-01-01T09:59:55Z"))
    local o, status, err = cmd.regsh({"task", "create", "--name", "added", "--state", state,
      "--context", "/dev/null", "--executor", "local", "--cmd", "echo added >> " .. q(out),
      "--schedule", "0 10 * * *"})
    assert.equal(0, status, o .. err)
    wait_for("the reload", function()
      return read_text(log):find("timers loaded reason=SIGHUP timers=1", 1, true)
    end)
    wait_for("the fire of the added task", function() return lines(out) >= 1 end)
    stop(p)
    assert.equal(utc("2026-01-01T10:00:00Z"), runs_of("added")[1].occurrence)
  end)

  it("lets a run end within the grace period, then exits", function()
    local out = dir .. "/out"
    create{name = "brief", definition = "echo go >> " .. q(out) .. "; sleep 1; echo done >> "
      .. q(out), timers = {{schedule = "0 10 * * *"}}}
    local p <close> = serve({"--grace", "30"})
    wait_for("the run", function() return lines(out) >= 1 end)
    local r = stop(p)
    assert.equal("Succeeded", runs_of("brief")[1].status)
    assert.equal(2, lines(out))
    assert.matches("serve: stopping grace=30 running=1 signal=SIGTERM", r.stderr, 1, true)
  end)

  it("cancels a run still going when the grace period ends: Canceled", function()
    local pidfile = dir .. "/pid"
    create{name = "long", definition = "echo $$$$ > " .. q(pidfile) .. "; exec sleep 60",
      timers = {{schedule = "0 10 * * *"}}}
    local p <close> = serve({"--grace", "0.5"})
    local pid = wait_for("the step", function() return read_number(pidfile) end)
    stop(p)
    local run = runs_of("long")[1]
    assert.equal("Canceled", run.status)
    assert.matches("grace period of 0.5s ended", run.error, 1, true)
    assert.is_nil(io.open("/proc/" .. pid .. "/stat"))   -- the step's process is gone
  end)

  it("records a fire still waiting for a slot at the stop as Skipped", function()
    local out = dir .. "/out"
    create{name = "hog", definition = "echo go >> " .. q(out) .. "; exec sleep 60",
      timers = {{schedule = "* * * * *"}}}
    local log = dir .. "/serve.log"
    local p <close> = serve_logged(log, {"--concurrency", "1", "--grace", "0"})
    wait_for("the run", function() return lines(out) >= 1 end)
    wait_for("the next fire queued", function()
      return read_text(log):find("serve: queued occurrence=2026-01-01T10:01:00Z", 1, true)
    end)
    stop(p)
    local rows = runs_of("hog")
    assert.equal("Canceled", rows[1].status)
    assert.equal("Skipped", rows[2].status)
    assert.equal(utc("2026-01-01T10:01:00Z"), rows[2].occurrence)
    assert.equal("stopped: the daemon stopped (SIGTERM) before a slot was free", rows[2].error)
    assert.equal(1, lines(out))
  end)

  it("marks the run of a daemon killed with -9 Error on the next start, keeping every record",
    function()
    local pidfile, out = dir .. "/pid", dir .. "/out"
    create{name = "orphan", definition = "echo $$$$ > " .. q(pidfile) .. "; exec sleep 60",
      timers = {{schedule = "0 10 * * *"}}}
    create{name = "other", definition = "echo x >> " .. q(out),
      timers = {{schedule = "* * * * *"}}}
    local p = serve()
    local pid = wait_for("the step", function() return read_number(pidfile) end)
    wait_for("a run of other", function() return #runs_of("other", "Succeeded") >= 1 end)
    assert(p:kill("SIGKILL"))
    p:wait()
    p:close()
    os.execute("kill -9 " .. pid .. " 2>/dev/null")
    local before = run_list()
    assert.equal("Running", runs_of("orphan")[1].status)
    local p2 <close> = serve({}, START + 3600)
    wait_for("the orphan marked", function() return runs_of("orphan")[1].status == "Error" end)
    wait_for("a new run of other", function() return #run_list() > #before end)
    stop(p2)
    local run = runs_of("orphan")[1]
    assert.matches("^the daemon running it died %(pid %d+%)$", run.error)
    local after = {}
    for _, r in ipairs(run_list()) do after[r.id] = r end
    for _, r in ipairs(before) do assert.is_not_nil(after[r.id], r.id) end
  end)

  it("applies the missed-run alias after a downtime: skip records one Skipped, run-once runs"
    .. " the latest", function()
    local out = dir .. "/out"
    local last = utc("2026-01-01T09:00:00Z")
    create{name = "skipper", missed = "skip", definition = "echo s >> " .. q(out),
      timers = {{schedule = "*/10 * * * *"}}, last_fire = last}
    create{name = "catcher", missed = "run-once", definition = "echo c >> " .. q(out),
      timers = {{schedule = "*/10 * * * *"}}, last_fire = last}
    -- back at 09:55: the 10:00 fire is 5 real seconds away, past this test's end
    local p <close> = serve({}, utc("2026-01-01T09:55:00Z"), 60)
    wait_for("the catch-up run", function() return #runs_of("catcher", "Succeeded") >= 1 end)
    stop(p)
    local skipped = runs_of("skipper")
    assert.equal(1, #skipped)
    assert.equal("Skipped", skipped[1].status)
    assert.equal(utc("2026-01-01T09:50:00Z"), skipped[1].occurrence)
    assert.equal("missed: 5 occurrences from 2026-01-01T09:10:00Z to 2026-01-01T09:50:00Z "
      .. "while no daemon ran (catch-up none)", skipped[1].error)
    local caught = runs_of("catcher")
    assert.equal(2, #caught)
    assert.same({"Skipped", utc("2026-01-01T09:40:00Z")}, {caught[1].status, caught[1].occurrence})
    assert.equal("missed: 4 occurrences from 2026-01-01T09:10:00Z to 2026-01-01T09:40:00Z "
      .. "while no daemon ran (catch-up latest)", caught[1].error)
    assert.same({"Succeeded", utc("2026-01-01T09:50:00Z")}, {caught[2].status, caught[2].occurrence})
    assert.equal("c\n", cmd.read_file(out))
  end)

  -- the records of a task as {status, "HH:MM", error}, by occurrence
  local function records(task)
    local rows = runs_of(task)
    table.sort(rows, function(a, b) return a.occurrence < b.occurrence end)
    local out = {}
    for i, r in ipairs(rows) do
      out[i] = {r.status, os.date("!%H:%M", r.occurrence), r.error}
    end
    return out
  end

  local function count_lines(path, word)
    local n = 0
    for line in read_text(path):gmatch("[^\n]+") do
      if line == word then n = n + 1 end
    end
    return n
  end

  it("gives exactly what each catch-up policy promises after a downtime over three hourly "
    .. "occurrences", function()
    local out = dir .. "/out"
    local function hourly(name, timer)
      timer.schedule = "0 * * * *"
      create{name = name, definition = "echo " .. name .. " >> " .. q(out), timers = {timer}}
    end
    hourly("none", {catch_up = "none"})
    hourly("latest", {catch_up = "latest"})
    hourly("all", {catch_up = "all"})
    hourly("capped", {catch_up = "all", catch_up_max = 2})
    hourly("late", {catch_up = "all", starting_deadline = 2700})
    -- a first daemon fires 09:00: the last fire is in the store
    local p1 = serve({}, utc("2026-01-01T08:59:50Z"))
    wait_for("the 09:00 runs", function() return #run_list({status = "Succeeded"}) >= 5 end)
    stop(p1)
    p1:close()
    -- down over 10:00, 11:00 and 12:00; back at 12:30
    local p2 <close> = serve({}, utc("2026-01-01T12:30:00Z"))
    wait_for("the catch-up", function()
      local rows = run_list()
      if #rows < 16 then return false end
      for _, r in ipairs(rows) do
        if r.status == "Queued" or r.status == "Running" then return false end
      end
      return true
    end)
    stop(p2)
    local ran = {"Succeeded", "09:00"}
    assert.same({ran, {"Skipped", "12:00", "missed: 3 occurrences from 2026-01-01T10:00:00Z to "
      .. "2026-01-01T12:00:00Z while no daemon ran (catch-up none)"}}, records("none"))
    assert.same({ran, {"Skipped", "11:00", "missed: 2 occurrences from 2026-01-01T10:00:00Z to "
      .. "2026-01-01T11:00:00Z while no daemon ran (catch-up latest)"}, {"Succeeded", "12:00"}},
      records("latest"))
    assert.same({ran, {"Succeeded", "10:00"}, {"Succeeded", "11:00"}, {"Succeeded", "12:00"}},
      records("all"))
    assert.same({ran, {"Skipped", "10:00", "missed: 1 occurrence (2026-01-01T10:00:00Z) while no "
      .. "daemon ran (catch-up all, at most 2)"}, {"Succeeded", "11:00"}, {"Succeeded", "12:00"}},
      records("capped"))
    -- 10:00 and 11:00 are older than 45m at 12:30, 12:00 is not
    assert.same({ran, {"Skipped", "11:00", "deadline: 2 occurrences from 2026-01-01T10:00:00Z to "
      .. "2026-01-01T11:00:00Z not started within the starting deadline of 45m"},
      {"Succeeded", "12:00"}}, records("late"))
    for name, n in pairs{none = 1, latest = 2, all = 4, capped = 3, late = 2} do
      assert.equal(n, count_lines(out, name), name)
    end
  end)

  it("runs each occurrence once across a restart inside the fire minute and a clock set back "
    .. "over it", function()
    local out = dir .. "/out"
    create{name = "once", definition = "echo once >> " .. q(out),
      timers = {{schedule = "0 10 * * *", catch_up = "all"}}}
    local p1 = serve()
    wait_for("the 10:00 run", function() return #runs_of("once", "Succeeded") == 1 end)
    stop(p1)
    p1:close()
    -- each later daemon is watched until it fired a marker at 10:01
    local function restart(marker, start)
      create{name = marker, definition = "true", timers = {{schedule = "1 10 * * *"}}}
      local p <close> = serve({}, start)
      wait_for("the marker " .. marker, function() return #runs_of(marker, "Succeeded") == 1 end)
      return stop(p)
    end
    local r2 = restart("m2", utc("2026-01-01T10:00:20Z"))
    local r3 = restart("m3", utc("2026-01-01T09:59:55Z"))
    assert.equal(1, #runs_of("once"))
    assert.equal(1, count_lines(out, "once"))
    -- the daemons knew from the store: they did not even try (the index is the backstop)
    for _, r in ipairs{r2, r3} do
      assert.is_nil(r.stderr:find("task=once", 1, true), r.stderr)
    end
  end)

  it("lets one of two serve processes started at once on a store schedule it: one run per "
    .. "occurrence", function()
    create{name = "both", definition = "true", timers = {{schedule = "* * * * *"}}}
    local a <close> = serve()
    local b <close> = serve()
    -- one of them takes the lock; the other refuses at once
    local holder = wait_for("the lock", function()
      local st = store()
      local rows = st:runs("serve")
      st:close()
      for _, row in ipairs(rows) do
        if row.status == "running" then return row.info.pid end
      end
    end)
    local other, first = a, b
    if holder == b:pid() then other, first = b, a end
    assert.equal(holder, other:pid())
    local r = first:wait()
    assert.equal(1, r.code)
    assert.matches("EBUSY: .* another regsh serve %(pid " .. other:pid() .. "%)", r.stderr)
    wait_for("three fires", function() return #runs_of("both", "Succeeded") >= 3 end)
    stop(other)
    local seen = {}
    for _, run in ipairs(runs_of("both")) do
      assert.is_nil(seen[run.occurrence], run.id)
      seen[run.occurrence] = true
    end
  end)

  it("keeps the store readable by task list-runs while it writes", function()
    create{name = "busy", definition = "true", timers = {{schedule = "* * * * *"}}}
    local p <close> = serve({}, START, 1200)
    wait_for("runs", function() return #runs_of("busy") >= 3 end)
    for _ = 1, 15 do
      local text, status, err = cmd.regsh({"task", "list-runs", "--state", state, "-o", "json"})
      assert.equal(0, status, err)
      assert.is_table(json.decode(text))
    end
    stop(p)
    -- at 1200 times real speed a minute is 50 ms: a wakeup late by more
    -- under load skips the minutes it slept through, as a late daemon does
    for _, r in ipairs(runs_of("busy")) do
      if r.status ~= "Succeeded" then
        assert.equal("Skipped", r.status, r.error)
        assert.matches("^missed: .* while the daemon was late %(catch%-up none%)$", r.error)
      end
    end
    assert.is_true(#runs_of("busy", "Succeeded") >= 1)
  end)

  it("refuses a second serve on the same store with one line", function()
    create{name = "idle", definition = "true", timers = {{schedule = "0 10 * * *"}}}
    local p <close> = serve()
    wait_for("the lock", function()
      local st = store()
      local rows = st:runs("serve")
      st:close()
      return rows[1] and rows[1].status == "running"
    end)
    local out, status, err = cmd.regsh({"serve", "--state", state})
    assert.equal(1, status, out)
    assert.matches("^regsh serve: EBUSY: .*state%.db: another regsh serve %(pid " .. p:pid()
      .. "%) is scheduling this store; stop it first or give another %-%-state\n$", err)
    wait_for("the first daemon's fire", function() return #runs_of("idle") >= 1 end)
    stop(p)
    local st = store()
    assert.equal("stopped", st:runs("serve")[1].status)
    st:close()
  end)

  it("runs a script's regsh.schedule.add functions as recorded runs", function()
    local out = dir .. "/out"
    local script = dir .. "/sched.lua"
    local f = assert(io.open(script, "w"))
    f:write(string.format([[
regsh.schedule.add("hello", "* * * * *", function(ctx)
  local f = assert(io.open(%q, "a"))
  f:write(ctx.occurrence, "\n")
  f:close()
  ctx.log("said hello for", ctx.schedule)
end)
regsh.schedule.add("broken", "* * * * *", function() error("no luck") end)
]], out))
    f:close()
    local p <close> = serve({script})
    wait_for("two fires", function() return lines(out) >= 2 end)
    wait_for("the broken runs", function() return #runs_of("broken") >= 2 end)
    stop(p)
    local rows = runs_of("hello", "Succeeded")
    assert.is_true(#rows >= 2)
    assert.equal(utc("2026-01-01T10:00:00Z"), rows[1].occurrence)
    assert.equal("Timer", rows[1].trigger)
    assert.equal("lua", rows[1].timer)
    local first = io.open(out):read("l")
    assert.equal(tostring(utc("2026-01-01T10:00:00Z")), first)
    local log = cmd.regsh({"task", "logs", "--state", state, rows[1].id})
    assert.matches("main | said hello for hello", log, 1, true)
    local broken = runs_of("broken")[1]
    assert.equal("Failed", broken.status)
    assert.matches("no luck", broken.error, 1, true)
  end)
end)

describe("regsh serve's metrics (the daemon in this process, on a clock that moves only when "
  .. "no run goes)", function()
  local metrics = require "regsh.metrics"
  local daemon = require "regsh.schedule.daemon"
  local tasks = require "regsh.schedule.tasks"
  local dir, st

  before_each(function()
    metrics.reset()
    dir = assert(fs.temp_dir("regsh-serve-metrics"))
    st = assert(regsh.store.open(dir .. "/state.db"))
  end)
  after_each(function()
    st:close()
    fs.remove_tree(dir)
    metrics.reset()
  end)

  it("counts catch-up runs, deadline skips, skips by reason, runs, durations and next fires",
    function()
    local function hourly(name, timer)
      timer.schedule = "0 * * * *"
      assert(tasks.create(st, {name = name, kind = "cmd", definition = "true",
        executor = "local", timers = {timer}}))
      assert(tasks.set_last_fire(st, name, "t1", utc("2026-01-01T09:00:00Z")))
    end
    hourly("all", {catch_up = "all"})
    hourly("late", {catch_up = "all", starting_deadline = 2700})
    hourly("none", {catch_up = "none"})
    local now, d = utc("2026-01-01T12:30:00Z"), nil
    local limit = utc("2026-01-01T13:00:30Z")
    local clock = {scale = 1, now = function() return now end}
    function clock.sleep(seconds)
      while next(d.fires) do regsh.sleep(0.02) end
      now = math.min(now + seconds, limit)
      if now >= limit then d.stopping = "the spec's end" end
    end
    d = daemon.new{store = st, clock = clock}
    local saved = require("regsh.log").configure{level = "error"}
    local ok, err = pcall(d.run, d)
    require("regsh.log").configure(saved)
    assert(ok, err)
    local at = {task = "all", timer = "t1"}
    assert.equal(3, metrics.get("regsh_catchup_runs_total", at))          -- 10:00 11:00 12:00
    assert.equal(4, metrics.get("regsh_runs_started_total", {task = "all", trigger = "Timer"}))
    assert.equal(4, metrics.get("regsh_run_duration_seconds", {task = "all", status = "Succeeded"}))
    assert.equal(2, metrics.get("regsh_deadline_exceeded_total", {task = "late", timer = "t1"}))
    assert.equal(1, metrics.get("regsh_skipped_runs_total", {task = "late", reason = "deadline"}))
    assert.equal(1, metrics.get("regsh_skipped_runs_total", {task = "none", reason = "missed"}))
    assert.equal(0, metrics.get("regsh_catchup_runs_total", {task = "none", timer = "t1"}))
    assert.equal(utc("2026-01-01T14:00:00Z"),
      metrics.get("regsh_timer_next_fire_timestamp_seconds", at))
    local text = metrics.render()
    for _, m in ipairs(daemon.METRICS) do
      assert.matches("# TYPE " .. m[1] .. " " .. m[2], text, 1, true)
    end
  end)
end)
