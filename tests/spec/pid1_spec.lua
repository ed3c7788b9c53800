-- regsh serve as PID 1 of a PID namespace (unshare --pid --fork --mount-proc,
-- as in a container): the grandchild a step orphans is re-parented to regsh
-- and reaped when it ends (no zombie), and SIGTERM to PID 1 stops serve
-- cleanly. Also regsh.proc.reap_orphans in this process's own children.
local cmd = require "support.cmd"
local fs = require "regsh.fs"
local proc = require "regsh.proc"

local wait = require "support.wait"
local wait_for, find_process = wait.until_true, wait.find_process

-- "pid (comm) S ppid ...": state and ppid, or nil once the pid is gone
local function stat_of(pid)
  local f = io.open("/proc/" .. pid .. "/stat")
  if not f then return nil end
  local text = f:read("a")
  f:close()
  local state, ppid = text:match("^.*%)%s+(%S)%s+(%d+)")
  return state, math.tointeger(tonumber(ppid))
end

local function children(pid)
  local f = io.open(string.format("/proc/%d/task/%d/children", pid, pid))
  local text = f and f:read("a") or ""
  if f then f:close() end
  local out = {}
  for n in text:gmatch("%d+") do out[#out + 1] = math.tointeger(tonumber(n)) end
  return out
end

describe("PID 1 duties", function()
  local dir, state

  before_each(function()
    dir = assert(fs.temp_dir("regsh-pid1"))
    state = dir .. "/state"
  end)

  after_each(function() fs.remove_tree(dir) end)

  it("regsh serve as PID 1 reaps a step's orphaned grandchild and stops on SIGTERM", function()
    local unshare = proc.run{"unshare", "--pid", "--fork", "--mount-proc", "true"}
    if not (unshare and unshare.ok) then
      pending("unshare --pid is not allowed here")
      return
    end
    local stop, marker = dir .. "/stop", "regsh-orphan-" .. dir:match("[^/]+$")
    -- the step's shell starts a grandchild and exits: the grandchild is orphaned
    -- (a fire a minute, a second at serve's clock: a late start misses none)
    local step = string.format("sh -c 'while [ ! -e %s ]; do sleep 0.05; done' %s "
      .. ">/dev/null 2>&1 & exit 0", stop, marker)
    local code = string.format([[
local st = assert(regsh.store.open(%q))
assert(require("regsh.schedule.tasks").create(st, {name = "orphans", kind = "cmd",
  context = "/dev/null", executor = "local", definition = %q,
  timers = {{schedule = "* * * * *"}}}))]], state .. "/state.db", step)
    local out, status, err = cmd.regsh({"-e", code})
    assert.equal(0, status, out .. err)
    local start = assert(require("regsh.time").parse_rfc3339("2026-01-01T09:59:58Z"))
    local p <close> = assert(proc.spawn{"unshare", "--pid", "--fork", "--mount-proc", cmd.bin,
      "serve", "--state", state,
      env = {REGSH_SERVE_CLOCK = string.format("%d:60", start)}, env_merge = true,
      stdout = "capture", stderr = "capture"})
    local serve = wait_for("serve", function() return children(p:pid())[1] end)
    local orphan = wait_for("the grandchild", function() return find_process(marker) end)
    wait_for("the grandchild re-parented to PID 1", function()
      local _, ppid = stat_of(orphan)
      return ppid == serve
    end)
    assert(io.open(stop, "w")):close()
    -- reaped: the pid is gone from /proc (a zombie would stay there, state Z)
    wait_for("the grandchild reaped", function() return stat_of(orphan) == nil end)
    assert(proc.signal(serve, "SIGTERM"))
    local r = p:wait()
    assert.equal(0, r.code, r.stderr)
    assert.matches("serve: stopping", r.stderr, 1, true)
  end)

  it("reap_orphans never takes the exit status of a process regsh.proc started", function()
    -- in a regsh of its own: this busted process stays no subreaper
    local code = [[
assert(regsh.proc.reap_orphans())
local tasks = {}
for i = 1, 40 do
  tasks[i] = regsh.spawn(function()
    local r = assert(regsh.proc.run{"sh", "-c", "sleep 0.0$0; exit $0", tostring(i % 7)})
    assert(r.code == i % 7, "process " .. i .. ": exit " .. tostring(r.code))
  end)
end
for _, t in ipairs(tasks) do t:wait() end
print("ok")]]
    -- a stolen status would leave libuv waiting for ever: a timeout ends that
    local r = assert(proc.run{cmd.bin, "-e", code, timeout = 60})
    assert.equal(0, r.code, r.stderr)
    assert.equal("ok\n", r.stdout)
  end)
end)
