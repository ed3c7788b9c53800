-- regsh purge through tests/support/fault_proxy.py (issue 12): connections
-- dropped (RST and FIN), answers delayed, stalled, truncated half way, lost
-- after the registry did the delete, and bodies corrupted. Transient faults
-- are retried as docs/reference/registry.md says (dropped connections, 5xx)
-- and the run ends at exactly the plan; a corrupted answer is never taken
-- for the truth: its repository stops with a clear error and nothing in it
-- is deleted, while the other repositories are purged.
local cjson = require "cjson"
local servers = require "support.servers"
local cmd = require "support.cmd"
local purge = require "support.purge_state"
local faults = require "support.faults"

local function seed(reg, repo) purge.seed_old(reg.url, repo, 12, 2) end

describe("regsh purge through a faulty network", function()
  local reg, fp

  setup(function() reg, fp = servers.proxied_registry{} end)
  teardown(function() servers.stop_all(fp, reg) end)
  before_each(function() fp:clear() end)

  local function args_for(filter, state)
    return {"--registry", fp.host, "--filter", filter, "--ago", "1d", "--untagged",
            "--state", state, "--concurrency", "4"}
  end

  local function all_fired()
    for _, rule in ipairs(fp:rules()) do
      assert.equal(0, rule.times, "a fault never fired: " .. cjson.encode(rule))
    end
  end

  it("ends at the plan through drops, delays, stalls, truncations and lost answers", function()
    seed(reg, "net/a")
    seed(reg, "net/b")
    local state = cmd.temp_name()
    local args = args_for("net/.*:^old", state)
    local before = purge.snapshot(reg)
    local plan = purge.plan(args)
    assert.equal(24, plan.totals.tags)
    local expected = purge.expected(before, plan)
    -- a fresh store: the real run reads every manifest and config again
    state = cmd.temp_name()
    args = args_for("net/.*:^old", state)
    fp:clear()
    fp:add{
      {action = "reset", match = "/tags/list", method = "GET", times = 1},
      {action = "delay", seconds = 1, match = "/tags/list", method = "GET", times = 1},
      -- a fresh store: each tag's manifest is a GET (a warm one would HEAD)
      {action = "close", match = "/manifests/old", method = "GET", times = 2, per_path = 1},
      {action = "stall", seconds = 0.5, match = "/manifests/old", method = "GET", times = 1},
      {action = "truncate", match = "/manifests/old", method = "GET", times = 2,
       per_path = 1},
      {action = "truncate", match = "/blobs/", method = "GET", times = 2, per_path = 1},
      -- the registry deletes, the answer never arrives: the retry's 404 means done
      {action = "lost", match = "/manifests/sha256:", method = "DELETE", times = 3, per_path = 1},
      {action = "reset", match = "/manifests/sha256:", method = "DELETE", skip = 4, times = 2,
       per_path = 1},
    }
    local out, status, err = cmd.regsh({"purge", table.unpack(args)})
    assert.equal(0, status, err .. out)
    assert.matches("Number of deleted tags: 24\n", out, 1, true)
    all_fired()
    assert.same(expected, purge.snapshot(reg))
    assert.same({}, purge.journal(state, fp.host))
  end)

  it("never trusts a corrupted manifest or config: that repository stops, the others go on",
    function()
    seed(reg, "bad/a")
    seed(reg, "bad/b")
    local state = cmd.temp_name()
    local args = args_for("bad/.*:^old", state)
    local before = purge.snapshot(reg)
    local plan = purge.plan(args)
    state = cmd.temp_name()
    args = args_for("bad/.*:^old", state)
    fp:clear()
    -- every body of bad/b comes back with one byte flipped (same length), and
    -- without the Docker-Content-Digest header that could give it away
    fp:add{action = "corrupt", match = "^/v2/bad/b/(manifests|blobs)/", method = "GET",
           times = -1, drop_headers = {"Docker-Content-Digest"}}
    local out, status, err = cmd.regsh({"purge", table.unpack(args)})
    assert.is_not.equal(0, status, out)
    assert.matches("^regsh purge: E%u+: [^\n]*bad/b", err)
    assert.not_matches("traceback", err)
    local after = purge.snapshot(reg)
    -- bad/a is purged; bad/b is as it was
    local a_only = {repositories = {}}
    for _, r in ipairs(plan.repositories) do
      if r.repository == "bad/a" then a_only.repositories[1] = r end
    end
    assert.same(purge.expected(before, a_only), after)
    assert.same({}, faults.unselected(before, a_only, after))
    for _, e in ipairs(fp:log("^/v2/bad/b/")) do
      assert.is_not.equal("DELETE", e.method, "a DELETE in bad/b: " .. e.path)
      assert.is_not.equal("PUT", e.method, "a PUT in bad/b: " .. e.path)
    end
    -- once the network is sound again the next run finishes bad/b
    fp:clear()
    out, status, err = cmd.regsh({"purge", table.unpack(args)})
    assert.equal(0, status, err .. out)
    assert.same(purge.expected(before, plan), purge.snapshot(reg))
  end)
end)
