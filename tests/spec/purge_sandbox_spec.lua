-- Hostile purge policies against the sandbox, through the real CLI on a
-- seeded registry: escapes through load, require, the debug library, the
-- string and List metatables; memory bombs (string.rep, s .. s, a growing
-- table); endless loops, also inside coroutines; yielding. Each run stops
-- before any delete with one line naming the policy, and the registry is
-- as it was.
local servers = require "support.servers"
local cmd = require "support.cmd"
local purge = require "support.purge_state"

describe("the purge policy sandbox against hostile policies", function()
  local reg, fp, state, dir

  setup(function()
    reg, fp = servers.proxied_registry{}
    local out, status, err = cmd.regsh({"scripts/seed-registry", reg.host})
    assert(status == 0, err .. out)
    state = cmd.temp_name()
    dir = cmd.temp_name()
    cmd.sh("mkdir -p " .. cmd.quote(dir))
  end)

  teardown(function()
    servers.stop_all(fp, reg)
    cmd.sh("rm -rf " .. cmd.quote(dir) .. " " .. cmd.quote(state))
  end)

  local function write(name, text)
    local path = dir .. "/" .. name
    local f = assert(io.open(path, "w"))
    f:write(text)
    f:close()
    return path
  end

  -- the run for real (no --dry-run): one error line, no write request, the
  -- registry unchanged
  local function refused(path) return purge.refused(reg, fp, state, 30, path) end

  local HOSTILE = {
    {"load", 'load("return os")()', "global 'load'"},
    {"loadfile", 'loadfile("/etc/passwd")', "global 'loadfile'"},
    {"dofile", 'dofile("/etc/passwd")', "global 'dofile'"},
    {"require", 'require("regsh.fs")', "global 'require'"},
    {"package.loaded", 'package.loaded["regsh.fs"].remove_tree("/")', "global 'package'"},
    {"the debug library", "debug.sethook()", "global 'debug'"},
    {"collectgarbage", 'collectgarbage("stop")', "global 'collectgarbage'"},
    {"os.exit", "os.exit(0)", "field 'exit'"},
    {"os.remove", 'os.remove("/tmp/x")', "field 'remove'"},
    {"the string metatable", 'getmetatable("").__index.rep = nil', "index a nil value"},
    {"string's functions", "string.rep = nil", "a policy cannot change string.rep"},
    {"the List class through getmetatable", "getmetatable(repo.tags).where = nil",
     "index a nil value"},
    {"the List class through setmetatable", "setmetatable(repo.tags, {})",
     "cannot change the metatable of the engine's objects"},
    {"a string.rep memory bomb", 'local s = string.rep("x", 1 << 30)', "not enough memory"},
    {"a doubling memory bomb", 'local s = "x" for _ = 1, 40 do s = s .. s end',
     "not enough memory"},
    {"a growing table", 'local t = {} for i = 1, 1e10 do t[i] = string.rep("x", 1 << 20) .. i end',
     "not enough memory"},
    {"an endless loop in a coroutine", "coroutine.wrap(function() while true do end end)()",
     "took more than 0.5s of CPU time"},
    {"an endless loop in pcall", "while true do pcall(function() while true do end end) end",
     "took more than 0.5s of CPU time"},
    {"yielding", "coroutine.yield()", "yielded; a policy cannot wait"},
  }
  for i, case in ipairs(HOSTILE) do
    it("stops " .. case[1] .. " before any delete, with one line naming the policy", function()
      local path = write("hostile" .. i .. ".lua", "return {\n  time_limit = 0.5,\n"
        .. "  memory_limit = 16 * 1024 * 1024,\n"
        .. "  select = function(repo)\n    " .. case[2] .. "\n    return {}\n  end,\n}\n")
      local line = refused(path)
      assert.matches("policy " .. path, line, 1, true)
      assert.matches(case[3], line, 1, true)
    end)
  end

  it("keeps the memory ceiling a policy may lower but not raise", function()
    local policy = require "regsh.purge.policy"
    local low = assert(policy.load(write("low.lua",
      "return {memory_limit = 1024, select = function() end}")))
    assert.equal(1024, low.memory_limit)
    local high = assert(policy.load(write("high.lua",
      "return {memory_limit = 1 << 40, select = function() end}")))
    assert.equal(policy.MEMORY_LIMIT, high.memory_limit)
    local bomb = assert(policy.load(write("bomb.lua",
      "return {select = function() return {string.rep('x', 300 * 1024 * 1024)} end}")))
    local ok, err = policy.select(bomb, {name = "r"}, {}, nil)
    assert.is_nil(ok)
    assert.matches("not enough memory", err, 1, true)
  end)

  it("lets a policy use metatables of its own", function()
    local path = write("own.lua", [[
return {select = function(repo)
  local counter = setmetatable({}, {__index = function() return 0 end})
  assert(getmetatable(counter).__index)
  assert(getmetatable(repo.tags) == nil)
  return repo.tags:where(function(t) return counter[t.name] > 0 end)
end}]])
    local plan = purge.plan({"--registry", fp.host, "--state", state, "--policy", path})
    assert.is_table(plan.repositories)
  end)
end)
