-- Faults in the middle of a purge (issue 12): the registry killed (-9) and
-- restarted, and regsh itself killed (-9) after some deletes, once at a
-- point chosen by the load and once exactly between an index's wave and its
-- children's. Whatever the point: nothing the plan did not select changed,
-- every planned action not yet done is in the journal of a repository the
-- run had started on, and the next run ends at exactly the plan.
local servers = require "support.servers"
local images = require "support.images"
local cmd = require "support.cmd"
local purge = require "support.purge_state"
local faults = require "support.faults"

-- per repository: old00..old29 on 30 manifests, keep0..keep2 on the first three
local function seed(reg, repo) purge.seed_old(reg.url, repo, 30, 3) end

describe("a purge interrupted by a fault", function()
  local reg, fp

  setup(function() reg, fp = servers.proxied_registry{} end)
  teardown(function() servers.stop_all(fp, reg) end)
  before_each(function() fp:clear() end)

  local function args_for(filter, state)
    return {"--registry", fp.host, "--filter", filter, "--ago", "1d", "--untagged",
            "--state", state, "--concurrency", "2"}
  end

  -- after an interruption: the safety rules, then the next run to the end
  local function check_and_finish(before, plan, args, state)
    local middle = purge.snapshot(reg)
    assert.same({}, faults.unselected(before, plan, middle))
    assert.same({}, faults.untracked(before, plan, middle, purge.journal(state, fp.host)))
    local out, status, err = cmd.regsh({"purge", table.unpack(args)})
    assert.equal(0, status, err .. out)
    assert.same(purge.expected(before, plan), purge.snapshot(reg))
    assert.same({}, purge.journal(state, fp.host))
    return middle
  end

  it("registry killed and restarted: the run stops with one clear line, the next finishes",
    function()
    seed(reg, "down/a")
    seed(reg, "down/b")
    local state = cmd.temp_name()
    local args = args_for("down/.*:^old", state)
    local before = purge.snapshot(reg)
    local plan = purge.plan(args)
    assert.equal(60, plan.totals.tags)
    fp:add{action = "delay", seconds = 0.2, method = "DELETE", times = -1}
    local child = purge.spawn(args)
    faults.wait_for("10 deletes", function() return faults.deletes(fp) >= 10 end)
    assert.is_true(purge.alive(child.pid), "the run ended before the registry was killed")
    faults.kill_registry(reg)
    faults.wait_for("the run to give up", function() return not purge.alive(child.pid) end)
    local err = cmd.read_file(child.err)
    assert.matches("regsh purge: [^\n]*E[%u]+: [^\n]*" .. fp.host:gsub("%p", "%%%0"), err)
    assert.not_matches("traceback", err)
    faults.restart_registry(reg)
    fp:clear()
    local middle = check_and_finish(before, plan, args, state)
    assert.is_true(#purge.diff(before, middle).removed > 0, "nothing was deleted before the kill")
    os.remove(child.out)
    os.remove(child.err)
  end)

  it("regsh killed after some deletes: the journal covers what is left, the next run ends it",
    function()
    for _, r in ipairs({"kill/a", "kill/b", "kill/c"}) do seed(reg, r) end
    local state = cmd.temp_name()
    local args = args_for("kill/.*:^old", state)
    local before = purge.snapshot(reg)
    local plan = purge.plan(args)
    assert.equal(90, plan.totals.tags)
    fp:add{action = "delay", seconds = 0.2, method = "DELETE", times = -1}
    local child = purge.spawn(args)
    faults.wait_for("15 deletes", function() return faults.deletes(fp) >= 15 end)
    assert.is_true(purge.alive(child.pid), "the run ended before it was killed")
    faults.kill(child.pid)
    -- DELETEs the proxy was holding still reach the registry after the kill
    -- (as a request in flight would): look once every one has been answered
    faults.wait_for("the DELETEs in flight to end", function()
      local sent = 0
      for _, e in ipairs(fp:log("/manifests/")) do
        if e.method == "DELETE" then sent = sent + 1 end
      end
      return fp:rules()[1].hits == sent
    end)
    fp:clear()
    assert.is_true(#purge.journal(state, fp.host) > 0, "the killed run left no journal")
    local middle = check_and_finish(before, plan, args, state)
    assert.is_not.same(purge.expected(before, plan), middle)   -- killed half way
    os.remove(child.out)
    os.remove(child.err)
  end)

  it("regsh killed between an index's wave and its children's: the journal names the children",
    function()
    local repo = "wave/kill"
    local m = images.seed_tags(reg.url, repo, 2, 2, "old")
    purge.index(reg.url, repo, m, "old-idx")
    -- the children lose their tags first, so that only the index holds them
    for _, t in ipairs({"old0", "old1"}) do
      cmd.sh("curl -sSf -X DELETE " .. cmd.quote(reg.url .. "/v2/" .. repo .. "/manifests/" .. t))
    end
    local state = cmd.temp_name()
    local args = args_for(repo .. ":^old", state)
    local before = purge.snapshot(reg)
    local plan = purge.plan(args)
    local waves = {}
    for _, a in ipairs(plan.repositories[1].actions) do
      waves[a.wave] = (waves[a.wave] or 0) + 1
    end
    assert.same({1, 2}, waves)   -- the index, then its two children
    -- the children's DELETEs never come through: the run waits in wave 2
    fp:add{action = "stall", seconds = 300, method = "DELETE", match = m[1] .. "|" .. m[2],
           times = -1}
    local child = purge.spawn(args)
    faults.wait_for("a child's DELETE", function() return fp:rules()[1].hits >= 1 end)
    faults.kill(child.pid)
    fp:clear()
    local rows = purge.journal(state, fp.host)
    local named = {}
    for _, r in ipairs(rows) do named[r.target] = r.op end
    assert.same({[m[1]] = "delete", [m[2]] = "delete"}, named)
    local middle = check_and_finish(before, plan, args, state)
    assert.is_nil(middle.manifests[repo .. "@" .. before.tags[repo .. ":old-idx"]])
    os.remove(child.out)
    os.remove(child.err)
  end)
end)
