-- regsh.log: levels, REGSH_LOG/REGSH_DEBUG, text and JSON lines, scrubbing,
-- the registry client's default log, the CLI's --verbose/--quiet.
local log = require "regsh.log"
local json = require "regsh.json"
local cmd = require "support.cmd"

-- Lines written while f runs with the given settings.
local function capture(settings, f)
  local out = io.tmpfile()
  settings.stream = out
  local before = log.configure(settings)
  local ok, err = pcall(f)
  log.configure(before)
  assert(ok, err)
  out:seek("set")
  local lines = {}
  for line in out:lines() do lines[#lines + 1] = line end
  out:close()
  return lines
end

describe("regsh.log", function()
  it("writes the levels up to the one set", function()
    local lines = capture({level = "warn", format = "text"}, function()
      for _, level in ipairs(log.LEVELS) do log[level](level .. " line") end
      assert.is_true(log.enabled("warn"))
      assert.is_false(log.enabled("info"))
      assert.equal("warn", log.level())
    end)
    assert.same({"regsh: error: error line", "regsh: warning: warn line"}, lines)
    lines = capture({level = "debug", prefix = "regshd"}, function() log.debug("d", {n = 1}) end)
    assert.same({"regshd: debug: d n=1"}, lines)
  end)

  it("raises on an unknown level, format, option or field type", function()
    assert.has_error(function() log.log("loud", "x") end,
      "bad argument #1 to 'log' (level expected: error, warn, info or debug, got loud)")
    assert.has_error(function() log.configure({level = "verbose"}) end)
    assert.has_error(function() log.configure({format = "xml"}) end)
    assert.has_error(function() log.configure({colour = true}) end)
    assert.has_error(function() log.info("x", "not a table") end)
    assert.has_error(function() log.logger(5) end)
    assert.has_error(function() log.secret(nil) end)
  end)

  it("scrubs credentials from messages and fields, registered secrets included", function()
    local redact = require "regsh.registry.redact"
    local token = redact.secret("s3cr3t-refresh-token")
    log.secret("plain-password-123")
    local lines = capture({level = "info", format = "json"}, function()
      log.info("sent Authorization: Basic dXNlcjpwYXNz with plain-password-123",
        {url = "https://u:pw@r.example/v2/", token = token, n = 7})
    end)
    assert.equal(1, #lines)
    assert.is_nil(lines[1]:find("dXNlcjpwYXNz", 1, true))
    assert.is_nil(lines[1]:find("plain-password-123", 1, true))
    assert.is_nil(lines[1]:find("s3cr3t", 1, true))
    local record = json.decode(lines[1])
    assert.equal("sent Authorization: Basic <redacted> with <redacted>", record.msg)
    assert.equal("https://u:<redacted>@r.example/v2/", record.url)
    assert.equal("<redacted>", record.token)
    assert.equal(7, record.n)
  end)

  it("takes its level and format from REGSH_LOG, and REGSH_DEBUG as debug", function()
    local script = "regsh.log.debug('d'); regsh.log.info('i'); regsh.log.warn('w')"
    local _, status, err = cmd.regsh({"-e", script}, nil, {REGSH_LOG = "debug"})
    assert.equal(0, status)
    assert.equal("regsh: debug: d\nregsh: i\nregsh: warning: w\n", err)
    _, _, err = cmd.regsh({"-e", script}, nil, {REGSH_DEBUG = "1"})
    assert.equal("regsh: debug: d\nregsh: i\nregsh: warning: w\n", err)
    _, _, err = cmd.regsh({"-e", script}, nil, {})
    assert.equal("regsh: i\nregsh: warning: w\n", err)
    _, _, err = cmd.regsh({"-e", script}, nil, {REGSH_LOG = "WARN,json"})
    assert.equal("w", json.decode(err).msg)
    _, status, err = cmd.regsh({"-e", script}, nil, {REGSH_LOG = "chatty"})
    assert.equal(0, status)
    assert.equal('regsh: warning: REGSH_LOG: unknown word "chatty" (levels: error, warn, info, '
      .. "debug; formats: text, json)\nregsh: i\nregsh: warning: w\n", err)
  end)

  it("carries the registry client's default log", function()
    -- a dry-run delete reads first (a preview), so it needs a registry that answers
    local support = require "support.registry"
    local server = support.start()
    local script = "local reg = regsh.registry.open('" .. server.host .. "', {dry_run = true}); "
      .. "local m = [[{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.index.v1+json\","
      .. "\"manifests\":[]}]]; "
      .. "local d = assert(regsh.registry.open('" .. server.host .. "'):put_manifest('app/web', 'v1', m,"
      .. " 'application/vnd.oci.image.index.v1+json')); "
      .. "assert(select(3, reg:delete('app/web', d)) == 'EDRYRUN')"
    local _, status, err = cmd.regsh({"-e", script})
    assert.equal(0, status, err)
    assert.matches("^regsh: would delete " .. server.host:gsub("%p", "%%%0")
      .. "/app/web@sha256:%x+\n$", err)
    _, status, err = cmd.regsh({"-e", script}, nil, {REGSH_LOG = "warn"})
    assert.equal(0, status)
    assert.equal("", err)
    _, _, err = cmd.regsh({"-e", script}, nil, {REGSH_LOG = "json"})
    support.stop(server)
    local record = json.decode(err)
    assert.equal("info", record.level)
    assert.matches("^would delete", record.msg)
    assert.matches("^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%d%.%d%d%dZ$", record.time)
  end)
end)

describe("regsh COMMAND --verbose / --quiet", function()
  local support = require "support.registry"
  local server, home

  lazy_setup(function()
    server = support.start({htpasswd = {carol = "pw-123456"}})
    home = assert(require("regsh.fs").temp_dir("log-spec"))
    -- an unreadable docker config: the client warns about it when asked to log in
    assert(require("regsh.fs").write_atomic(home .. "/config.json", "{broken"))
  end)

  lazy_teardown(function()
    support.stop(server)
    require("regsh.fs").remove_tree(home)
  end)

  local function catalog(...)
    local _, status, err = cmd.regsh({"catalog", server.host, ...}, nil,
      {DOCKER_CONFIG = home, REGISTRY_AUTH_FILE = home .. "/none.json", REGSH_USERNAME = ""})
    return status, err
  end

  it("shows warnings by default, debug lines with -v, nothing but errors with -q", function()
    local status, err = catalog()
    assert.equal(1, status, err)
    assert.matches("regsh catalog: warning: ignoring " .. home .. "/config.json", err, 1, true)
    assert.matches("\nregsh catalog: EAUTH: [^\n]*\n$", err)
    assert.is_nil(err:find("debug:", 1, true))
    status, err = catalog("-v")
    assert.equal(1, status, err)
    assert.matches("regsh catalog: debug: GET http://" .. server.host .. "/v2/", err, 1, true)
    status, err = catalog("--quiet")
    assert.equal(1, status)
    assert.matches("^regsh catalog: EAUTH: [^\n]*\n$", err)
    status, err = catalog("-q", "-v")
    assert.equal(2, status)
    assert.matches("^regsh catalog: %-%-verbose and %-%-quiet exclude each other\n", err)
  end)
end)

describe("regsh.log repeated lines", function()
  -- a clock the spec moves by hand
  local t = 0
  local function clock() return t end

  it("writes a repeated warning once, then one count per window, in text", function()
    t = 1000
    local lines = capture({level = "info", format = "text", clock = clock, repeat_window = 3600},
      function()
        for i = 1, 3601 do
          log.warn("timer job/t never fires (checked at " .. (1000 + i) .. ")", {n = i})
          t = t + 1
        end
        log.info("an info line is never counted")
        log.info("an info line is never counted")
        log.warn("another warning", nil, "k")
        log.warn("a different text, same key", nil, "k")
      end)
    -- 3,600 s after the first one the window ended: the 3,601st was the
    -- first of a new window, written with the count of the one before
    assert.same({
      "regsh: warning: timer job/t never fires (checked at 1001) n=1",
      "regsh: warning: timer job/t never fires (checked at 1001) … repeated 3,599 times in the "
        .. "last hour n=1",
      "regsh: warning: timer job/t never fires (checked at 4601) n=3601",
      "regsh: an info line is never counted",
      "regsh: an info line is never counted",
      "regsh: warning: another warning",
      -- configure (putting the settings back) writes the counts so far
      "regsh: warning: another warning … repeated 1 time in the last second",
    }, lines)
  end)

  it("keeps distinct lines apart and counts in JSON too", function()
    t = 0
    local lines = capture({level = "warn", format = "json", clock = clock, repeat_window = 3600},
      function()
        for _ = 1, 5 do
          log.warn("disk almost full", {mount = "/a"})
          log.warn("disk almost full", {mount = "/b"})
          log.logger("serve")("error", "disk almost full", {mount = "/a"})
          t = t + 60
        end
        log.flush()
        log.warn("disk almost full", {mount = "/a"})
      end)
    assert.equal(7, #lines)
    local records = {}
    for i, line in ipairs(lines) do records[i] = json.decode(line) end
    assert.equal("disk almost full", records[1].msg)
    assert.equal("error", records[3].level)
    assert.equal("serve", records[3].component)
    local summaries = {}
    for i = 4, 6 do
      local r = records[i]
      summaries[r.level .. (r.component or "") .. r.mount] = r
      assert.equal(4, r.repeated)
      assert.equal("disk almost full … repeated 4 times in the last 5 minutes", r.msg)
    end
    assert.truthy(summaries["warn/a"] and summaries["warn/b"] and summaries["errorserve/a"])
    -- after a flush the line starts over: written again
    assert.equal("disk almost full", records[7].msg)
    assert.is_nil(records[7].repeated)
  end)

  it("writes the count of the last window at the next other line, and at exit", function()
    t = 0
    local lines = capture({level = "warn", format = "text", clock = clock, repeat_window = 60},
      function()
        log.warn("retrying 1")
        log.warn("retrying 2")
        t = 61
        log.error("something else")
      end)
    assert.same({"regsh: warning: retrying 1",
                 "regsh: warning: retrying 1 … repeated 1 time in the last minute",
                 "regsh: error: something else"}, lines)
    local _, status, err = cmd.regsh({"-e", "for i = 1, 1000 do regsh.log.warn('w' .. i) end"})
    assert.equal(0, status)
    assert.equal("regsh: warning: w1\nregsh: warning: w1 … repeated 999 times in the last second\n",
      err)
  end)

  it("writes every line with repeat_window = 0, and refuses a bad window", function()
    local lines = capture({level = "warn", repeat_window = 0}, function()
      log.warn("same")
      log.warn("same")
    end)
    assert.same({"regsh: warning: same", "regsh: warning: same"}, lines)
    assert.has_error(function() log.configure({repeat_window = -1}) end,
      "configure: repeat_window must be a number of seconds >= 0")
    assert.equal("1,234,567", log.thousands(1234567))
    assert.equal("999", log.thousands(999))
  end)
end)

describe("regsh serve with a timer that never fires", function()
  local fs = require "regsh.fs"
  local state

  before_each(function() state = assert(fs.temp_dir("never-fires")) end)
  after_each(function() fs.remove_tree(state) end)

  local function regsh_ok(...)
    local argv = {...}
    argv[#argv + 1] = "--state"
    argv[#argv + 1] = state
    local out, status, err = cmd.regsh(argv)
    assert.equal(0, status, err)
    return out
  end

  local function runs(task)
    return #json.decode(regsh_ok("task", "list-runs", "--task", task, "-o", "json"))
  end

  it("writes one warning over months of a fast clock, through reloads", function()
    regsh_ok("task", "create", "feb30", "--cmd", "true", "--executor", "local", "--schedule", "0 0 30 2 *")
    -- a timer that fires every day: it shows how much time went by
    regsh_ok("task", "create", "daily", "--cmd", "true", "--executor", "local", "--schedule", "0 0 * * *")
    -- Jan 1 2027, a day every 2 seconds (one wake a minute of the fast clock)
    local p <close> = assert(regsh.proc.spawn{cmd.bin, "serve", "--state", state,
      env = {REGSH_SERVE_CLOCK = "1798761600:43200"}, env_merge = true,
      stdout = "capture", stderr = "capture"})
    for _ = 1, 600 do
      if runs("daily") >= 2 then break end
      regsh.sleep(0.1)
    end
    -- the store changes: the daemon loads the timers again
    regsh_ok("task", "create", "other", "--cmd", "true", "--executor", "local", "--schedule", "0 0 1 1 *")
    for _ = 1, 600 do
      if runs("daily") >= 4 then break end
      regsh.sleep(0.1)
    end
    assert(p:kill("SIGTERM"))
    local r = p:wait()
    assert.equal(0, r.code, r.stderr)
    assert.is_true(runs("daily") >= 4, r.stderr)
    local warnings = {}
    for line in r.stderr:gmatch("[^\n]+") do
      if line:find("feb30", 1, true) then warnings[#warnings + 1] = line end
    end
    assert.same({"regsh serve: warning: timer never fires error=ECRON: '0 0 30 2 *' never fires "
      .. "task=feb30 timer=t1"}, warnings)
    -- the create's SIGHUP or the minute's look at the store, whichever came first
    assert.is_truthy(r.stderr:find("timers loaded reason=SIGHUP", 1, true)
      or r.stderr:find("timers loaded reason=store changed", 1, true), r.stderr)
  end)
end)
