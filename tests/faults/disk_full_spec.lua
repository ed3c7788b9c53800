-- The state store on a full disk (issue 12): the store lives on a small
-- tmpfs that is filled while a purge runs. The write that fails says so in
-- one line (ENOSPC, naming the store); nothing is deleted without its journal
-- row; once space returns the store passes SQLite's integrity check and the
-- next run ends at exactly the plan. The same for a task run's records.
local servers = require "support.servers"
local images = require "support.images"
local cmd = require "support.cmd"
local purge = require "support.purge_state"
local faults = require "support.faults"

describe("the state store on a full disk", function()
  local reg, fp, mnt

  setup(function() reg, fp = servers.proxied_registry{} end)
  teardown(function() servers.stop_all(fp, reg) end)
  before_each(function()
    fp:clear()
    mnt = faults.tmpfs("1m")
  end)
  after_each(function() faults.unmount(mnt) end)

  local function integrity(state)
    local st = assert(require("regsh.store").open(state .. "/state.db"))
    local row = assert(st.db:first("PRAGMA integrity_check"))
    st:close()
    return row.integrity_check
  end

  it("a purge whose journal cannot be written deletes nothing; the next run finishes", function()
    for i = 0, 1 do
      local repo = "full/r" .. i
      images.seed_tags(reg.url, repo, 10, 10, "old")
      purge.retag(reg.url, repo, "old00", "keep0")
    end
    local state = mnt .. "/state"
    local args = {"--registry", fp.host, "--filter", "full/.*:^old", "--ago", "1d", "--untagged",
                  "--state", state}
    local before = purge.snapshot(reg)
    local plan = purge.plan(args)   -- creates the store, and fills it with the facts
    assert.equal(20, plan.totals.tags)
    -- the run waits on its first tag list while the disk fills up
    fp:add{action = "delay", seconds = 3, match = "/tags/list", method = "GET", times = 1}
    local child = purge.spawn(args)
    faults.wait_for("the tag list held", function() return fp:rules()[1].hits >= 1 end)
    local fill = faults.fill(mnt)
    faults.wait_for("the run to end", function() return not purge.alive(child.pid) end)
    local err = cmd.read_file(child.err)
    assert.matches("^regsh purge: ENOSPC: " .. state:gsub("%p", "%%%0") .. "/state.db", err)
    assert.not_matches("traceback", err)
    -- not one DELETE or PUT reached the registry, and nothing changed there
    for _, e in ipairs(fp:log()) do
      assert.is_true(e.method == "GET" or e.method == "HEAD", e.method .. " " .. e.path)
    end
    assert.same(before, purge.snapshot(reg))
    -- space returns: the store is sound and the next run ends at the plan
    os.remove(fill)
    assert.equal("ok", integrity(state))
    local out, status
    out, status, err = cmd.regsh({"purge", table.unpack(args)})
    assert.equal(0, status, err .. out)
    assert.same(purge.expected(before, plan), purge.snapshot(reg))
    assert.same({}, purge.journal(state, fp.host))
    assert.equal("ok", integrity(state))
    os.remove(child.out)
    os.remove(child.err)
  end)

  it("a task run on a full disk fails with one clear line; the store stays sound", function()
    local state = mnt .. "/state"
    local out, status, err = cmd.regsh({"run", "--executor", "local", "--state", state,
      "--cmd", "echo first", "/dev/null"})
    assert.equal(0, status, err .. out)
    local fill = faults.fill(mnt)
    out, status, err = cmd.regsh({"run", "--executor", "local", "--state", state,
      "--cmd", "echo second", "/dev/null"})
    assert.is_not.equal(0, status, out)
    assert.matches("ENOSPC: [^\n]*" .. state:gsub("%p", "%%%0"), err)
    assert.not_matches("traceback", err)
    os.remove(fill)
    assert.equal("ok", integrity(state))
    out, status, err = cmd.regsh({"task", "list-runs", "--state", state, "-o", "json"})
    assert.equal(0, status, err)
    local runs = require("cjson").decode(out)
    assert.equal("Succeeded", runs[#runs].status)   -- the first run's record is intact
    out, status, err = cmd.regsh({"run", "--executor", "local", "--state", state,
      "--cmd", "echo third", "/dev/null"})
    assert.equal(0, status, err .. out)
  end)
end)
