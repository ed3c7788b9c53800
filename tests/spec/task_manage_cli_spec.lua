-- `regsh task create|list|show|update|delete|run|timer|cancel-run|export`
-- through the binary with --state in a temp dir: the recipe's command shape
-- stored and shown, bad input refused with one line and nothing stored
-- (checked in the store), a --cmd task run with the local executor, timers
-- with ACR's messages, a run canceled by cancel-run, and export's YAML read
-- back with regsh.yaml.
local cmd = require "support.cmd"
local fs = require "regsh.fs"
local json = require "regsh.json"
local store = require "regsh.store"

local function write(path, text)
  local f = assert(io.open(path, "wb"))
  f:write(text)
  f:close()
end

describe("regsh task (stored tasks)", function()
  local dir, state

  before_each(function()
    dir = assert(fs.temp_dir("regsh-task-manage"))
    state = dir .. "/state"
  end)

  after_each(function() fs.remove_tree(dir) end)

  local function task(args, stdin)
    local full = {"task"}
    for _, a in ipairs(args) do full[#full + 1] = a end
    full[#full + 1] = "--state"
    full[#full + 1] = state
    return cmd.regsh(full, stdin)
  end

  local function stored(sql)
    local st = assert(store.open(state .. "/state.db"))
    local row = st.db:first("SELECT count(*) AS n FROM " .. sql)
    st:close()
    return row.n
  end

  local PURGE = "regsh purge --registry 127.0.0.1:5000 --filter 'scratch:.*' --ago 10d --untagged"

  it("stores the recipe's task and shows it with its steps and next fire times", function()
    local out, status, err = task({"create", "--name", "purgetask", "--registry", "127.0.0.1:5000",
      "--context", "/dev/null", "--cmd", PURGE, "--schedule", "0 10 * * *"})
    assert.equal(0, status, err)
    local created = assert(json.decode(out))
    assert.same({"purgetask", "cmd", PURGE, "127.0.0.1:5000", "Enabled", 3600},
      {created.name, created.kind, created.cmd, created.registry, created.status, created.timeout})
    assert.same({"t1", "0 10 * * *", "acr", "UTC"}, {created.timers[1].name,
      created.timers[1].schedule, created.timers[1].dialect, created.timers[1].timeZone})
    out, status, err = task({"show", "purgetask"})
    assert.equal(0, status, err)
    assert.matches("Command:     " .. PURGE, out, 1, true)
    assert.matches("acb_step_0  cmd    -                         regsh purge", out, 1, true)
    local nexts = {}
    for t in out:gmatch("next: (%d%d%d%d%-%d%d%-%d%dT10:00:00Z)") do nexts[#nexts + 1] = t end
    assert.equal(5, #nexts)
    local shown = assert(json.decode((task({"show", "-n", "purgetask", "-o", "json"}))))
    assert.equal(5, #shown.timers[1].next)
    assert.equal("acb_step_0", shown.steps[1].id)
    out, status = task({"list"})
    assert.equal(0, status)
    assert.matches("NAME%s+PLATFORM%s+STATUS%s+SOURCE REPOSITORY%s+TRIGGERS\n", out)
    assert.matches("purgetask%s+linux%s+Enabled%s+/dev/null%s+TIMER\n", out)
    local list = assert(json.decode((task({"list", "-o", "json"}))))
    assert.equal("purgetask", list[1].name)
  end)

  it("refuses bad input with one line and stores nothing", function()
    local ctx = dir .. "/ctx"
    assert(fs.mkdir(ctx))
    local cases = {
      {{"create", "t", "--cmd", "true", "--schedule", "0 10 * * * *"}, "ECRON: the acr dialect takes exactly 5 fields"},
      {{"create", "t", "--cmd", "true", "--schedule", "0 0 10 * * * *"}, "ECRON: the acr dialect takes exactly 5 fields"},
      {{"create", "t", "--cmd", "true", "--schedule", "0 24 * * *"}, "ECRON: field 'hour': value 24 out of range 0-23"},
      {{"create", "t", "--cmd", "true", "--schedule", "0 10 * * Funday"}, "ECRON"},
      {{"create", "t", "--cmd", "true", "--schedule", "0 10 * * *", "--tz", "Nowhere/City"}, "Nowhere/City"},
      {{"create", "t", "--cmd", "true", "--schedule", "a:0 10 * * *", "--schedule", "a:0 11 * * *"},
        "ETASK: task 't': two timers named 'a'"},
      {{"create", "t", "-f", dir .. "/missing.yaml"}, "ENOENT"},
      {{"create", "t", "-f", "acb.yaml", "-c", ctx}, "ENOENT"},
      {{"create", "t", "--cmd", "true", "--timeout", "99999"}, "ETASK: timeout 99999"},
      {{"create", "bad/name", "--cmd", "true"}, "ETASK: task name 'bad/name'"},
    }
    for _, case in ipairs(cases) do
      local _, status, err = task(case[1])
      assert.equal(1, status, table.concat(case[1], " "))
      assert.matches(case[2], err, 1, true)
      assert.equal(1, select(2, err:gsub("\n", "")), err)
    end
    local _, status, err = task({"create", "t", "--cmd", "true", "-f", "x.yaml"})
    assert.equal(2, status)
    assert.matches("Azure Container Registry can run with either --cmd myCommand /dev/null or "
      .. "-f myFile mySourceLocation, but not both.", err, 1, true)
    _, status, err = task({"show", "nope"})
    assert.equal(1, status)
    assert.equal("regsh task: ENOTFOUND: the task 'nope' does not exist\n", err)
    -- the policies: one line naming the flag and what it takes
    for _, case in ipairs{
      {{"--catch-up", "sometimes"}, "argument for option '--catch-up' must be one of 'none', "
        .. "'latest', 'all'"},
      {{"--concurrency", "often"}, "argument for option '--concurrency' must be one of 'allow', "
        .. "'forbid', 'replace', 'queue'"},
      {{"--catch-up-max", "0"}, "--catch-up-max 0: an integer from 1 to 1000"},
      {{"--catch-up-max", "many"}, "--catch-up-max many: an integer from 1 to 1000"},
      {{"--starting-deadline", "soon"}, "--starting-deadline soon: a duration of 1s or more "
        .. "(e.g. 30m, 2h, 1d) or none"},
      {{"--starting-deadline", "0s"}, "--starting-deadline 0s"},
      {{"--missed", "always"}, "argument for option '--missed' must be one of 'skip', 'run-once'"},
    } do
      local argv = {"create", "t", "--cmd", "true", "--schedule", "0 10 * * *"}
      for _, a in ipairs(case[1]) do argv[#argv + 1] = a end
      _, status, err = task(argv)
      assert.equal(2, status, err)
      assert.matches("^regsh task: " .. case[2]:gsub("%p", "%%%0"), err)
    end
    _, status, err = task({"create", "t", "--cmd", "true", "--mutex", "a b"})
    assert.equal(1, status)
    assert.equal("regsh task: ETASK: mutex group 'a b': 1 to 100 letters, digits, '.', ':', '-' "
      .. "or '_', starting with a letter or digit\n", err)
    assert.equal(0, stored("tasks"))
    assert.equal(0, stored("timers"))
  end)

  it("runs a --cmd task with the local executor (trigger Manual) and exits as regsh run", function()
    local marker = dir .. "/ran"
    assert.equal(0, select(2, task({"create", "hello", "--cmd", "echo hi {{.Values.who}} > "
      .. marker .. "; echo said {{.Values.who}}", "--set", "who=world", "--executor", "local"})))
    local out, status, err = task({"run", "hello", "--set", "who=there"})
    assert.equal(0, status, err)
    assert.matches("acb_step_0 | said there\n", out, 1, true)
    assert.matches("Run ID: ca1 was successful after %d+s\n$", out)
    assert.equal("hi there\n", cmd.read_file(marker))
    out = task({"list-runs", "-n", "hello", "-o", "json"})
    local runs = assert(json.decode(out))
    assert.same({"ca1", "hello", "Manual", "Succeeded"},
      {runs[1].runId, runs[1].task, runs[1].trigger, runs[1].status})
    out, status = task({"logs", "--name", "hello"})
    assert.equal(0, status)
    assert.matches("^Showing logs of the last created run for task 'hello'%.\nRun ID: ca1\n", out)
    assert.matches("said there", (task({"logs", "--run-id", "ca1"})), 1, true)
    assert(task({"update", "hello", "--cmd", "exit 3"}))
    _, status = task({"run", "-n", "hello"})
    assert.equal(1, status)
    out = task({"list-runs", "--run-status", "Failed"})
    assert.matches("ca2%s+hello%s+linux%s+Failed%s+Manual", out)
    assert.equal(1, select(2, task({"run", "nope"})))
  end)

  it("updates the status and fields, and deletes only when told", function()
    assert.equal(0, select(2, task({"create", "u", "--cmd", "true", "--schedule", "0 1 * * *"})))
    local out, status, err = task({"update", "u", "--status", "Disabled", "--timeout", "600",
      "--concurrency", "forbid", "--missed", "run-once"})
    assert.equal(0, status, err)
    local t = assert(json.decode(out))
    -- --missed stays as the alias of the catch-up of all the task's timers
    assert.same({"Disabled", 600, "forbid", "latest"},
      {t.status, t.timeout, t.concurrency, t.timers[1].catchUp})
    assert.matches("u%s+linux%s+Disabled%s+/dev/null%s+TIMER", (task({"list"})))
    _, status, err = task({"update", "u", "--timeout", "0"})
    assert.equal(1, status)
    assert.matches("ETASK: timeout 0", err, 1, true)
    assert.equal(600, assert(json.decode((task({"show", "u", "-o", "json"})))).timeout)
    _, status = task({"delete", "u"}, "n\n")
    assert.equal(1, status)
    assert.equal(1, stored("tasks"))
    _, status = task({"delete", "u", "--yes"})
    assert.equal(0, status)
    assert.equal(0, stored("tasks"))
    assert.equal(0, stored("timers"))
    assert.equal(1, select(2, task({"delete", "u", "--yes"})))
  end)

  it("stores the catch-up, deadline, queue and mutex flags per timer and per task", function()
    local out, status, err = task({"create", "cu", "--cmd", "true", "--schedule", "0 * * * *",
      "--catch-up", "all", "--catch-up-max", "3", "--starting-deadline", "30m",
      "--concurrency", "queue", "--mutex", "127.0.0.1:5000"})
    assert.equal(0, status, err)
    local t = assert(json.decode(out))
    assert.same({"queue", "127.0.0.1:5000", "all", 3, 1800}, {t.concurrency, t.mutex,
      t.timers[1].catchUp, t.timers[1].catchUpMax, t.timers[1].startingDeadlineSeconds})
    out, status, err = task({"timer", "add", "cu", "--timer-name", "n", "--schedule", "0 5 * * *",
      "--catch-up", "latest"})
    assert.equal(0, status, err)
    local timers = assert(json.decode(out))
    assert.same({"n", "latest", 10}, {timers[1].name, timers[1].catchUp, timers[1].catchUpMax})
    assert.is_nil(timers[1].startingDeadlineSeconds)
    assert.equal(0, select(2, task({"timer", "update", "cu", "--timer-name", "t1",
      "--starting-deadline", "none", "--catch-up-max", "5"})))
    _, status, err = task({"timer", "update", "cu", "--timer-name", "t1", "--catch-up", "every"})
    assert.equal(2, status)
    assert.matches("--catch-up", err, 1, true)
    out = assert(task({"show", "cu"}))
    assert.matches("Concurrency: queue\nMutex:       127.0.0.1:5000\n", out, 1, true)
    assert.matches("  t1  0 * * * *  (acr, UTC)  Enabled  catch-up all (at most 5)\n", out, 1, true)
    t = assert(json.decode((task({"update", "cu", "--mutex", ""}))))
    assert.is_nil(t.mutex)
    local st = assert(store.open(state .. "/state.db"))
    local row = st.db:first("SELECT catch_up_max, starting_deadline FROM timers WHERE name = 't1'")
    st:close()
    assert.same({5}, {row.catch_up_max, row.starting_deadline})
  end)

  it("adds, updates, removes and lists timers with ACR's messages", function()
    assert.equal(0, select(2, task({"create", "tt", "--cmd", "true"})))
    local _, status, err = task({"timer", "remove", "tt", "--timer-name", "t1"})
    assert.equal(1, status)
    assert.equal("regsh task: ENOTFOUND: No timer triggers exist for the task 'tt'.\n", err)
    local out
    out, status, err = task({"timer", "add", "tt", "--timer-name", "daily", "--schedule", "0 10 * * *"})
    assert.equal(0, status, err)
    assert.equal("daily", assert(json.decode(out))[1].name)
    _, status, err = task({"timer", "add", "tt", "--timer-name", "daily", "--schedule", "0 11 * * *"})
    assert.equal(1, status)
    assert.matches("EEXIST: the timer 'daily' already exists for the task 'tt'", err, 1, true)
    _, status, err = task({"timer", "update", "tt", "--timer-name", "nope", "--enabled", "false"})
    assert.equal(1, status)
    assert.equal("regsh task: ENOTFOUND: The timer 'nope' does not exist for the task 'tt'.\n", err)
    out, status = task({"timer", "update", "tt", "--timer-name", "daily", "--enabled", "false",
      "--schedule", "30 10 * * *"})
    assert.equal(0, status)
    local list = assert(json.decode(out))
    assert.same({"daily", "30 10 * * *", "Disabled"}, {list[1].name, list[1].schedule, list[1].status})
    _, status = task({"timer", "update", "tt", "--timer-name", "daily", "--schedule", "0 10 * * * *"})
    assert.equal(1, status)
    list = assert(json.decode((task({"timer", "list", "tt"}))))
    assert.equal("30 10 * * *", list[1].schedule)
    assert.equal(0, select(2, task({"timer", "remove", "-n", "tt", "--timer-name", "daily"})))
    assert.equal(0, stored("timers"))
    _, status, err = task({"timer", "list", "zz"})
    assert.equal(1, status)
    assert.matches("ENOTFOUND: the task 'zz' does not exist", err, 1, true)
  end)

  it("stores -f with a directory context and reads it at each run", function()
    local ctx = dir .. "/ctx"
    assert(fs.mkdir(ctx))
    write(ctx .. "/acb.yaml", "steps:\n  - cmd: echo first\n")
    assert.equal(0, select(2, task({"create", "f", "-f", "acb.yaml", "-c", ctx,
      "--executor", "local"})))
    write(ctx .. "/acb.yaml", "steps:\n  - cmd: echo second\n")
    local out, status, err = task({"run", "f"})
    assert.equal(0, status, err)
    assert.matches("acb_step_0 | second\n", out, 1, true)
  end)

  it("cancels a running run with SIGTERM, and marks one whose process is gone", function()
    local proc = require "regsh.proc"
    local fifo = dir .. "/started"
    assert.equal(0, select(2, task({"create", "slow", "--executor", "local",
      "--cmd", "echo go > " .. fifo .. "; sleep 30"})))
    assert(proc.run{"mkfifo", fifo})
    local p = assert(proc.spawn{require("support.bin_path"), "task", "run", "slow", "--state",
      state, stdout = "null", stderr = "null"})
    local f = assert(io.open(fifo, "r"))   -- opens once the step writes: the run is Running
    f:read("a")
    f:close()
    local out, status, err = task({"cancel-run", "ca1"})
    assert.equal(0, status, err)
    assert.matches("Sent SIGTERM to the process of run ca1", out, 1, true)
    local res = p:wait()
    p:close()
    assert.equal(143, res.code)
    local runs = assert(json.decode((task({"list-runs", "-o", "json"}))))
    assert.equal("Canceled", runs[1].status)
    _, status, err = task({"cancel-run", "--run-id", "ca1"})
    assert.equal(1, status)
    assert.matches("EINVAL: the run ca1 is not running (Canceled)", err, 1, true)
    -- a Running record whose process is gone (pid of a finished process)
    local st = assert(store.open(state .. "/state.db"))
    local gone = assert(proc.spawn{"true"})
    local pid = gone:pid()
    gone:wait()
    gone:close()
    assert(st.db:exec([[INSERT INTO task_runs (id, seq, task, trigger, status, pid, created)
      VALUES ('ca9', 9, 'slow', 'Manual', 'Running', ?, 0)]], pid))
    st:close()
    out, status = task({"cancel-run", "ca9"})
    assert.equal(0, status)
    assert.matches("marked Canceled", out, 1, true)
    assert.matches("ca9%s+slow%s+linux%s+Canceled", (task({"list-runs"})))
  end)

  it("exports a timer's starting deadline, and warns of the policies a CronJob cannot keep",
    function()
    assert.equal(0, select(2, task({"create", "pol", "--cmd", "true", "--schedule", "0 10 * * *",
      "--catch-up", "all", "--starting-deadline", "5m", "--concurrency", "queue",
      "--mutex", "reg"})))
    local out, status, err = task({"export", "pol"})
    assert.equal(0, status, err)
    local job = assert(require("regsh.yaml").decode_all(out))[1]
    assert.same({"Forbid", 300}, {job.spec.concurrencyPolicy, job.spec.startingDeadlineSeconds})
    assert.matches("timer 't1': Kubernetes has no concurrency queue", err, 1, true)
    assert.matches("timer 't1': the mutex group 'reg' has no Kubernetes counterpart", err, 1, true)
    assert.matches("timer 't1': Kubernetes starts only the latest missed occurrence", err, 1, true)
    assert(task({"update", "pol", "--missed", "run-once", "--concurrency", "allow", "--mutex", ""}))
    assert(task({"timer", "update", "pol", "--timer-name", "t1", "--starting-deadline", "none"}))
    out, status, err = task({"export", "pol"})
    assert.equal(0, status, err)
    assert.equal("", err)
    job = assert(require("regsh.yaml").decode_all(out))[1]
    assert.same({"Allow"}, {job.spec.concurrencyPolicy, job.spec.startingDeadlineSeconds})
  end)

  it("exports one CronJob per enabled timer that regsh.yaml reads back", function()
    assert.equal(0, select(2, task({"create", "exp_task", "--registry", "127.0.0.1:5000",
      "--cmd", "echo {{.Values.a}}", "--set", "a=b", "--set-secret", "pw=hunter2",
      "--schedule", "0 10 * * *", "--schedule", "wk:30 9 * Jan Monday", "--schedule", "off:0 1 * * *",
      "--tz", "Europe/Berlin", "--concurrency", "forbid", "--timeout", "900"})))
    assert.equal(0, select(2, task({"timer", "update", "exp_task", "--timer-name", "off",
      "--enabled", "false"})))
    local out, status, err = task({"export", "exp_task", "--format", "k8s-cronjob",
      "--image", "example.com/regsh:1"})
    assert.equal(0, status, err)
    assert.is_nil(out:find("hunter2", 1, true))
    local docs = assert(require("regsh.yaml").decode_all(out))
    assert.equal(2, #docs)
    local job = docs[1]
    assert.same({"batch/v1", "CronJob", "exp-task-t1"}, {job.apiVersion, job.kind, job.metadata.name})
    assert.same({"0 10 * * *", "Europe/Berlin", "Forbid", 60},
      {job.spec.schedule, job.spec.timeZone, job.spec.concurrencyPolicy,
       job.spec.startingDeadlineSeconds})
    assert.equal("30 9 * Jan Mon", docs[2].spec.schedule)
    local pod = job.spec.jobTemplate.spec.template.spec
    assert.equal(900, job.spec.jobTemplate.spec.activeDeadlineSeconds)
    assert.equal("Never", pod.restartPolicy)
    local c = pod.containers[1]
    assert.equal("example.com/regsh:1", c.image)
    assert.equal("run", c.args[1])
    assert.equal("--encoded-task", c.args[2])
    local yaml_text = assert(require("regsh.task.values").decode_encoded(c.args[3]))
    assert.matches("  - cmd: echo {{.Values.a}}\n", yaml_text, 1, true)
    assert.matches("    timeout: 900\n", yaml_text, 1, true)
    local joined = table.concat(c.args, " ")
    assert.matches("--set a=b --set-secret pw=$(REGSH_SECRET_PW) /dev/null", joined, 1, true)
    assert.same({name = "exp-task-secrets", key = "pw"}, c.env[1].valueFrom.secretKeyRef)
    -- the pod's command runs the same task here
    local run_args = {}
    for i = 1, #c.args - 1 do run_args[#run_args + 1] = c.args[i] end
    for i, a in ipairs(run_args) do if a == "--executor" then run_args[i + 1] = "local" end end
    local idx
    for i, a in ipairs(run_args) do if a == "--set-secret" then idx = i end end
    table.remove(run_args, idx + 1)
    table.remove(run_args, idx)
    run_args[#run_args + 1] = "--state"
    run_args[#run_args + 1] = dir .. "/pod-state"
    run_args[#run_args + 1] = "/dev/null"
    local pod_out, pod_status, pod_err = cmd.regsh(run_args)
    assert.equal(0, pod_status, pod_err)
    assert.matches("acb_step_0 | b\n", pod_out, 1, true)
    _, status, err = task({"export", "nope"})
    assert.equal(1, status)
    assert.matches("ENOTFOUND", err, 1, true)
  end)
end)
