-- regsh serve: the scheduler daemon. Fires the store's enabled task timers
-- (regsh task create --schedule) and the schedules a script adds with
-- regsh.schedule.add, until SIGTERM/SIGINT. lua/regsh/schedule/daemon.lua.
local cli = require "regsh.cli"

local function positive_integer(s)
  local n = math.tointeger(tonumber(s))
  if n and n >= 1 then return n end
  return nil, "must be an integer >= 1"
end

local function seconds(s)
  local n = tonumber(s)
  if n and n >= 0 then return n end
  return nil, "must be a number of seconds >= 0"
end

-- Run the script: its regsh.schedule.add calls register the schedules.
local function load_script(path)
  local chunk, err = loadfile(path)
  if not chunk then return nil, "ENOENT: " .. tostring(err), "ENOENT" end
  _G.arg = {[0] = path}
  local ok, perr = pcall(chunk)
  if not ok then return nil, string.format("%s: %s", path, tostring(perr)) end
  return true
end

return {
  summary = "Run the scheduler: fire task timers and a script's regsh.schedule.add entries.",
  description = "Fires each enabled timer of the tasks in the state store (one run per "
    .. "occurrence, recorded with trigger Timer) and, given a script, the schedules it adds "
    .. "with regsh.schedule.add. At most --concurrency runs at once; each task's concurrency "
    .. "policy (allow, forbid, replace, queue) and mutex group, and each timer's catch-up "
    .. "(none, latest, all) and starting deadline apply. "
    .. "SIGTERM/SIGINT stop firing and give runs --grace seconds before they are canceled "
    .. "(exit 0); SIGHUP reloads the timers. One serve per state store. With --metrics ADDR "
    .. "it serves Prometheus metrics at /metrics and a health check at /healthz.",
  examples = {
    "regsh serve",
    "regsh serve --state /var/lib/regsh --concurrency 8 --grace 60",
    "regsh serve nightly.lua",
    "regsh serve --metrics 127.0.0.1:9090",
  },
  configure = function(cmd)
    cmd:argument("script", "A Lua script that adds schedules (regsh.schedule.add).", nil)
      :args("?")
    cmd:option("--state", "The directory of regsh's state store (default "
      .. "$XDG_STATE_HOME/regsh).", nil):argname("<dir>")
    cmd:option("--concurrency", "At most this many runs at once.", "4", positive_integer)
      :argname("<n>")
    cmd:option("--grace", "Seconds runs may go on after SIGTERM/SIGINT before they are "
      .. "canceled.", "30", seconds):argname("<s>")
    cmd:option("--metrics", "Serve Prometheus metrics at http://ADDR/metrics and a health "
      .. "check at /healthz (ADDR: 127.0.0.1:9090, :9090, [::1]:9090).", nil):argname("<addr>")
  end,
  run = function(args)
    local log = require "regsh.log"
    log.configure({level = args.verbose and "debug" or args.quiet and "error"
      or (log.from_env() or {}).level or "info"})
    local clock, cerr = require("regsh.schedule.clock").from_env(os.getenv("REGSH_SERVE_CLOCK"))
    if not clock then return cli.fail("serve", cerr) end
    local daemon = require "regsh.schedule.daemon"
    require("regsh.proc").reap_orphans()  -- PID 1's duty: no zombie of a step's orphans
    local st, err = require("regsh.store").open(args.state and (args.state .. "/state.db") or nil)
    if not st then return cli.fail("serve", err) end
    -- `regsh task create` and the like SIGHUP the pid in the lock (a reload);
    -- from the lock on, SIGHUP must not end the process by default, even
    -- before the daemon's own watcher exists
    local hup = require("regsh.async").on_signal("SIGHUP", function() end)
    local lock
    lock, err = daemon.lock(st)
    if not lock then
      hup.close()
      st:close()
      return cli.fail("serve", err)
    end
    local server
    local function release()
      if server then server:close() end
      daemon.unlock(st, lock)
      hup.close()
      st:close()
    end
    if args.metrics then
      server, err = require("regsh.schedule.exporter").start(args.metrics, st, lock)
      if not server then
        release()
        return cli.fail("serve", "--metrics: " .. err)
      end
      -- the port chosen, for :0
      log.log("info", "metrics", {address = args.metrics:gsub("%d+$", tostring(server:port()))},
        "serve")
    end
    local schedule = require "regsh.schedule"
    if args.script then
      local ok, serr = load_script(args.script)
      if not ok then
        release()
        return cli.fail("serve", serr)
      end
    end
    local d = daemon.new{store = st, clock = clock, concurrency = args.concurrency,
      grace = args.grace, schedules = schedule.list()}
    local ok, rerr = pcall(d.run, d)
    release()
    if not ok then error(rerr, 0) end
    return 0
  end,
}
