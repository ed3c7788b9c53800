-- regsh purge through tests/support/fault_proxy.py in front of a real
-- registry: 429 with Retry-After, 503s and connection resets on the reads
-- and the deletes still end at exactly the plan; credentials refused half
-- way stop the run with one clear line, a non-zero exit, and nothing deleted
-- that the plan did not list.
local servers = require "support.servers"
local images = require "support.images"
local cmd = require "support.cmd"
local purge = require "support.purge_state"

-- repo: old00..old19 on 20 manifests, keep0..keep2 on the first three
local function seed(reg, repo) purge.seed_old(reg.url, repo, 20, 3) end

describe("regsh purge under injected faults", function()
  local reg, fp

  setup(function()
    reg, fp = servers.proxied_registry{}
  end)

  teardown(function() servers.stop_all(fp, reg) end)

  before_each(function() fp:clear() end)

  local function args_for(filter, state)
    return {"--registry", fp.host, "--filter", filter, "--ago", "1d", "--untagged",
            "--state", state, "--concurrency", "4"}
  end

  it("converges to the plan through 429s, 503s and resets on reads and deletes", function()
    seed(reg, "flt/a")
    seed(reg, "flt/b")
    local state = cmd.temp_name()
    local args = args_for("flt/.*:^old", state)
    local before = purge.snapshot(reg)
    local plan = purge.plan(args)
    assert.equal(40, plan.totals.tags)
    assert.equal(34, plan.totals.manifests)
    local expected = purge.expected(before, plan)
    fp:clear()
    fp:add{
      {action = "status", status = 429, headers = {["Retry-After"] = "1"},
       match = "/tags/list", method = "GET", times = 1},
      {action = "reset", match = "/manifests/", method = "HEAD", times = 2},
      {action = "status", status = 503, match = "/manifests/", method = "HEAD", skip = 5,
       times = 2},
      {action = "status", status = 503, match = "/manifests/sha256:", method = "DELETE",
       times = 3, per_path = 1},
      {action = "reset", match = "/manifests/sha256:", method = "DELETE", skip = 6, times = 2,
       per_path = 1},
      {action = "status", status = 429, headers = {["Retry-After"] = "1"},
       match = "/manifests/", method = "PUT", times = 1},
    }
    local out, status, err = cmd.regsh({"purge", table.unpack(args)})
    assert.equal(0, status, err .. out)
    assert.matches("Number of deleted tags: 40\nNumber of deleted manifests: 34\n", out, 1, true)
    for _, rule in ipairs(fp:rules()) do
      assert.equal(0, rule.times, "a fault never fired: " .. require("cjson").encode(rule))
    end
    assert.same(expected, purge.snapshot(reg))
    assert.same({}, purge.journal(state, fp.host))
  end)

  it("stops with one clear line when credentials are refused half way", function()
    seed(reg, "cred/a")
    seed(reg, "cred/b")
    local state = cmd.temp_name()
    local args = args_for("cred/.*:^old", state)
    local before = purge.snapshot(reg)
    local planned = purge.expected(before, purge.plan(args))
    fp:clear()
    -- the registry takes five deletes, then refuses the client's credentials
    fp:add{action = "status", status = 401, match = "/manifests/", method = "DELETE", skip = 5,
           times = -1, headers = {["WWW-Authenticate"] = 'Basic realm="regsh-test"'},
           body = '{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}'}
    local out, status, err = cmd.regsh({"purge", table.unpack(args)})
    assert.is_not.equal(0, status, out)
    local lines = {}
    for line in err:gmatch("[^\n]+") do lines[#lines + 1] = line end
    assert.equal(1, #lines, err)
    assert.matches("^regsh purge: ", lines[1])
    assert.matches("EAUTH: " .. fp.host:gsub("%p", "%%%0") .. " wants credentials", lines[1])
    -- what went is only what the plan listed, and the run stopped early
    local after = purge.snapshot(reg)
    local gone = purge.diff(before, after)
    local listed = purge.diff(before, planned).removed
    local in_plan = {}
    for _, k in ipairs(listed) do in_plan[k] = true end
    for _, k in ipairs(gone.removed) do assert.is_true(in_plan[k], k .. " was not planned") end
    -- an untag refused between its throwaway's PUT and DELETE leaves the
    -- planned tag on the throwaway, which the next run takes away
    local throwaways = {}
    for _, k in ipairs(gone.added) do
      if not k:find("@", 1, true) then
        assert.is_true(in_plan[k], k .. " changed but was not planned")
        local repo = k:match("^(.-):")
        throwaways[repo .. "@" .. after.tags[k]] = true
      end
    end
    for _, k in ipairs(gone.added) do
      if k:find("@", 1, true) then assert.is_true(throwaways[k], k .. " appeared") end
    end
    assert.is_true(#gone.removed > 0 and #gone.removed < #listed,
      #gone.removed .. " of " .. #listed .. " removed")
    local refused = 0
    for _, e in ipairs(fp:log("/manifests/")) do
      if e.status == 401 then refused = refused + 1 end
    end
    assert.is_true(refused <= 4, refused .. " deletes refused: the run went on after a 401")

    fp:clear()
    out, status, err = cmd.regsh({"purge", table.unpack(args)})
    assert.equal(0, status, err .. out)
    assert.same(planned, purge.snapshot(reg))
  end)

  it("leaves an index's children alone when the index's wave failed", function()
    local repo = "wave/x"
    local m = images.seed_tags(reg.url, repo, 2, 2, "t")
    purge.index(reg.url, repo, m, "idx")
    local state = cmd.temp_name()
    local args = args_for("wave/x:.*", state)
    local before = purge.snapshot(reg)
    local plan = purge.plan(args)
    local waves = {}
    for _, a in ipairs(plan.repositories[1].actions) do
      waves[a.wave] = (waves[a.wave] or 0) + 1
    end
    assert.same({1, 2}, waves)   -- the index, then its two children
    local idx = before.tags[repo .. ":idx"]
    fp:clear()
    fp:add{action = "status", status = 500, match = "/manifests/" .. idx, method = "DELETE",
           times = -1}
    local out, status, err = cmd.regsh({"purge", table.unpack(args)})
    assert.is_not.equal(0, status, out)
    assert.matches("wave/x", err)
    -- the index could not go, so its children stayed: nothing changed
    assert.same(before, purge.snapshot(reg))
    for _, e in ipairs(fp:log()) do
      if e.method == "DELETE" then assert.matches(idx, e.path, 1, true) end
    end
  end)
end)
