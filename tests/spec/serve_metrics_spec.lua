-- regsh serve --metrics (lua/regsh/schedule/exporter.lua, cli/serve.lua) as a
-- child process on a store in a temp dir, its metrics port chosen by the
-- system (:0) and read from its log; the store is seeded with runs through
-- regsh.task.runs and scraped over HTTP. Waits are for conditions, bounded.
local cmd = require "support.cmd"
local fs = require "regsh.fs"
local http = require "regsh.http"
local json = require "regsh.json"
local runs = require "regsh.task.runs"

describe("regsh serve --metrics", function()
  local dir, state

  before_each(function()
    dir = assert(fs.temp_dir("regsh-metrics"))
    state = dir .. "/state"
  end)
  after_each(function() fs.remove_tree(dir) end)

  local function store()
    return assert(regsh.store.open(state .. "/state.db"))
  end

  local function read_text(path)
    local f = io.open(path)
    local text = f and f:read("a") or ""
    if f then f:close() end
    return text
  end

  local function wait_for(what, fn)
    for _ = 1, 600 do
      local v = fn()
      if v then return v end
      regsh.sleep(0.05)
    end
    error("timed out waiting for " .. what)
  end

  -- serve with --metrics on a free port; returns the process and the base URL
  local function serve_metrics()
    local log = dir .. "/serve.log"
    local p = assert(regsh.proc.spawn{"sh", "-c", 'exec "$0" "$@" 2>' .. cmd.quote(log),
      cmd.bin, "serve", "--state", state, "--metrics", "127.0.0.1:0", env_merge = true,
      env = {}})
    local address = wait_for("the metrics address", function()
      return read_text(log):match("serve: metrics address=(%S+)")
    end)
    return p, "http://" .. address
  end

  local function stop(p)
    assert(p:kill("SIGTERM"))
    local r = p:wait()
    assert.equal(0, r.code, r.stderr)
  end

  -- regsh_runs{status="...",task="..."} N lines of a scrape, as "task/status" -> N
  local function runs_family(text)
    local out = {}
    for status, task, n in text:gmatch('\nregsh_runs{status="([^"]*)",task="([^"]*)"} (%d+)') do
      out[task .. "/" .. status] = tonumber(n)
    end
    return out
  end

  -- the same counts from `regsh task list-runs -o json`
  local function list_runs_counts()
    local out, status, err = cmd.regsh({"task", "list-runs", "-o", "json", "--top", "1000",
      "--state", state})
    assert.equal(0, status, err)
    local counts = {}
    for _, r in ipairs(json.decode(out)) do
      local key = (r.task or "") .. "/" .. r.status
      counts[key] = (counts[key] or 0) + 1
    end
    return counts
  end

  local function seed(list)
    local st = store()
    for _, r in ipairs(list) do
      if r.status == "Skipped" then
        assert(runs.skip(st, {task = r.task, trigger = "Timer", timer = "t1",
          occurrence = r.occurrence, reason = "overlap"}))
      else
        local id = assert(runs.begin(st, {task = r.task, trigger = "Manual"}))
        assert(runs.started(st, id))
        assert(runs.finish(st, id, r.status))
      end
    end
    st:close()
  end

  it("serves counts of the store's runs that match task list-runs, read at each scrape", function()
    seed{{task = "nightly", status = "Succeeded"}, {task = "nightly", status = "Succeeded"},
         {task = "nightly", status = "Failed"}, {task = "weekly", status = "Succeeded"},
         {task = "nightly", status = "Skipped", occurrence = 1767261600}}
    local p <close>, base = serve_metrics()
    local r = assert(http.get(base .. "/metrics"))
    assert.equal(200, r.status)
    assert.equal("text/plain; version=0.0.4; charset=utf-8", r.headers["content-type"])
    local scraped = runs_family(r.body)
    assert.same({["nightly/Succeeded"] = 2, ["nightly/Failed"] = 1, ["weekly/Succeeded"] = 1,
                 ["nightly/Skipped"] = 1}, scraped)
    assert.same(list_runs_counts(), scraped)
    assert.matches("\nregsh_up 1\n", r.body, 1, true)
    local started = tonumber(r.body:match("\nregsh_serve_start_time_seconds (%d+)\n"))
    assert.is_true(started > 1.7e9 and started <= os.time())
    for _, family in ipairs({"regsh_runs_started_total counter", "regsh_skipped_runs_total counter",
        "regsh_catchup_runs_total counter", "regsh_deadline_exceeded_total counter",
        "regsh_timer_next_fire_timestamp_seconds gauge", "regsh_run_duration_seconds histogram",
        "regsh_purge_deletions_total counter", "regsh_runs gauge"}) do
      assert.matches("# TYPE " .. family .. "\n", r.body, 1, true)
    end
    -- a run recorded while serve runs shows at the next scrape
    seed{{task = "weekly", status = "Failed"}}
    r = assert(http.get(base .. "/metrics"))
    scraped = runs_family(r.body)
    assert.equal(1, scraped["weekly/Failed"])
    assert.same(list_runs_counts(), scraped)
    -- and one removed (regsh gc) is gone from it
    local st = store()
    assert(st.db:exec("DELETE FROM task_runs WHERE task = 'weekly' AND status = 'Failed'"))
    st:close()
    scraped = runs_family(assert(http.get(base .. "/metrics")).body)
    assert.is_nil(scraped["weekly/Failed"])
    assert.same(list_runs_counts(), scraped)
    stop(p)
  end)

  it("answers /healthz 200 while it holds the lock and 503 once it does not", function()
    local p <close>, base = serve_metrics()
    local r = assert(http.get(base .. "/healthz"))
    assert.equal(200, r.status)
    assert.equal("ok\n", r.body)
    r = assert(http.request{url = base .. "/metrics", method = "POST", body = ""})
    assert.equal(405, r.status)
    assert.equal(404, assert(http.get(base .. "/nothing")).status)
    local st = store()
    local lock = st:runs("serve")[1]
    assert(st:run_end(lock.id, "stopped", {}))  -- as if another process took the store over
    st:close()
    r = assert(http.get(base .. "/healthz"))
    assert.equal(503, r.status)
    assert.equal("the serve lock is no longer held\n", r.body)
    stop(p)
  end)

  it("refuses a metrics address in use with one line, and leaves the store unlocked", function()
    local busy = assert(regsh.httpd.listen("127.0.0.1:0", function() return 200, "text/plain", "" end))
    local address = "127.0.0.1:" .. busy:port()
    local out, status, err = cmd.regsh({"serve", "--state", state, "--metrics", address})
    busy:close()
    assert.equal(1, status, out)
    assert.equal("regsh serve: --metrics: EADDRINUSE: cannot listen on " .. address
      .. ": address already in use\n", err)
    local st = store()
    assert.equal("stopped", st:runs("serve")[1].status)
    st:close()
    out, status, err = cmd.regsh({"serve", "--state", state, "--metrics", "localhost"})
    assert.equal(1, status, out)
    assert.matches("^regsh serve: %-%-metrics: EINVAL: bad listen address 'localhost' [^\n]*\n$", err)
  end)
end)

describe("regsh.schedule.exporter", function()
  it("keeps its families through a metrics.reset() elsewhere (a daemon that reloads)", function()
    local exporter = require "regsh.schedule.exporter"
    local metrics = require "regsh.metrics"
    local dir = assert(fs.temp_dir("regsh-exporter"))
    local st = assert(regsh.store.open(dir .. "/state.db"))
    local id = assert(runs.begin(st, {task = "t", trigger = "Manual"}))
    assert(runs.finish(st, id, "Succeeded"))
    exporter.describe(1767225600)
    local first = assert(exporter.scrape(st))
    metrics.reset()
    local second = assert(exporter.scrape(st))
    st:close()
    fs.remove_tree(dir)
    for _, text in ipairs({first, second}) do
      assert.matches('\nregsh_runs{status="Succeeded",task="t"} 1\n', text, 1, true)
      assert.matches("\nregsh_up 1\n", text, 1, true)
      assert.matches("\nregsh_serve_start_time_seconds 1767225600\n", text, 1, true)
    end
  end)
end)
