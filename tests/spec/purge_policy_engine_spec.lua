-- Policies through the real engine and CLI on a seeded registry
-- (scripts/seed-registry): every shipped policy's plan with --set; the
-- sandbox (no os.execute, io.popen, writes, require, load), the time limit,
-- garbage from select, --trusted-policy, bad --set: each stops the run
-- before any delete with one line naming the policy file (and line).
local servers = require "support.servers"
local cmd = require "support.cmd"
local purge = require "support.purge_state"

-- "untag repo:tag" | "delete repo (tag, ...)" per action, sorted
local function actions(plan)
  local out = {}
  for _, r in ipairs(plan.repositories) do
    for _, a in ipairs(r.actions) do
      if a.op == "untag" then out[#out + 1] = "untag " .. r.repository .. ":" .. a.tag
      else
        out[#out + 1] = "delete " .. r.repository .. " ("
          .. (#a.tags > 0 and table.concat(a.tags, ", ") or "untagged") .. ")"
      end
    end
  end
  table.sort(out)
  return out
end

describe("purge policies through the engine", function()
  local reg, fp, state, dir

  setup(function()
    reg, fp = servers.proxied_registry{}
    local out, status, err = cmd.regsh({"scripts/seed-registry", reg.host})
    assert(status == 0, err .. out)
    state = cmd.temp_name()
    -- dev-101 untagged: its manifest stays, dangling, known to the store
    out, status, err = cmd.regsh({"purge", "--registry", fp.host, "--state", state,
      "--filter", "app/web:^dev-101$", "--ago", "1d"})
    assert(status == 0, err .. out)
    dir = cmd.temp_name()
    cmd.sh("mkdir -p " .. cmd.quote(dir))
  end)

  teardown(function()
    servers.stop_all(fp, reg)
    cmd.sh("rm -rf " .. cmd.quote(dir))
  end)

  local function policy_plan(name, ...)
    return purge.plan({"--registry", fp.host, "--state", state, "--policy", name, ...})
  end

  local function write(name, text)
    local path = dir .. "/" .. name
    local f = assert(io.open(path, "w"))
    f:write(text)
    f:close()
    return path
  end

  describe("shipped policies", function()
    it("keep-latest keeps the N newest tags", function()
      assert.same({"untag app/web:dev-102", "untag app/web:dev-103", "untag app/web:dev-104",
                   "untag app/web:dev-105", "untag app/web:v1.0.0", "untag app/web:v1.1.0"},
        actions(policy_plan("keep-latest", "--set", "keep=3", "--set", "repositories=app/web")))
      -- by path too, same plan
      assert.same({"untag app/web:v1.0.0"}, actions(policy_plan("policies/keep-latest.lua",
        "--set", "keep=8", "--set", "repositories=app/web")))
    end)

    it("keep-semver keeps the highest versions", function()
      assert.same({"untag app/web:v1.0.0"}, actions(policy_plan("keep-semver", "--set", "keep=2")))
      assert.same({}, actions(policy_plan("keep-semver", "--set", "keep=3")))
    end)

    it("dangling deletes the manifest an untag left", function()
      assert.same({"delete app/web (untagged)"},
        actions(policy_plan("dangling", "--set", "older=0d")))
      -- it is 10 days old (config created): older=30d keeps it
      assert.same({}, actions(policy_plan("dangling", "--set", "older=30d")))
    end)

    it("orphan-referrers finds no orphan where there are no referrers", function()
      local plan = policy_plan("orphan-referrers", "--set", "older=0d")
      assert.same({}, actions(plan))
      assert.equal(3, plan.totals.repositories)
    end)

    it("ecr-lifecycle applies a lifecycle JSON file", function()
      local file = write("ecr.json", [[{"rules":[{"rulePriority":1,"selection":{
        "tagStatus":"tagged","tagPrefixList":["dev-"],"countType":"imageCountMoreThan",
        "countNumber":2},"action":{"type":"expire"}}]}]])
      assert.same({"delete app/api (dev-7)", "delete app/web (dev-102)",
                   "delete app/web (dev-103)", "delete app/web (dev-104)"},
        actions(policy_plan("ecr-lifecycle", "--set", "file=" .. file)))
    end)

    it("harbor-retention retains what its rule retains", function()
      assert.same({"delete app/api (dev-7)", "delete app/api (dev-8)", "delete app/api (dev-9)"},
        actions(policy_plan("harbor-retention", "--set", "template=latestPushedK",
          "--set", "count=1", "--set", "tags=v*", "--set", "repositories=app/api")))
    end)

    it("zot-retention keeps what keepTags keeps, and deletes untagged", function()
      assert.same({"delete app/api (dev-7)", "delete app/api (dev-8)", "delete app/api (dev-9)",
                   "delete app/web (dev-102)", "delete app/web (dev-103)",
                   "delete app/web (dev-104)", "delete app/web (dev-105)",
                   "delete app/web (dev-106)", "delete app/web (untagged)",
                   "delete app/web (v1.0.0)", "delete app/web (v1.1.0)",
                   "delete tools/lint (1.0)", "untag app/web:latest"},
        actions(policy_plan("zot-retention", "--set", "patterns=^v",
          "--set", "most_recently_pushed_count=1")))
    end)

    it("acr-purge by name is what the flags run", function()
      local by_name = actions(policy_plan("acr-purge", "--set", "filter=app/api:^dev-",
        "--set", "ago=10d"))
      assert.same({"untag app/api:dev-7", "untag app/api:dev-8"}, by_name)
      assert.same(by_name, actions(purge.plan({"--registry", fp.host, "--state", state,
        "--filter", "app/api:^dev-", "--ago", "10d"})))
    end)
  end)

  describe("a policy that breaks a rule", function()
    -- run for real (no --dry-run): it must stop before any delete
    -- SIGKILL after 120 s: a safety net so that a policy never stopped
    -- fails, not hangs
    local function refused(path, ...) return purge.refused(reg, fp, state, 120, path, ...) end

    local function escaped(path) return (path:gsub("%p", "%%%0")) end

    local SANDBOXED = {
      ["os.execute"] = 'os.execute("touch /tmp/regsh-policy-was-here")',
      ["io.popen"] = 'io.popen("true")',
      ["io.open for writing"] = 'io.open(os.getenv("HOME") .. "/regsh-policy-was-here", "w")',
      ["require"] = 'require("regsh.fs")',
      ["load of bytecode"] = 'load(string.dump(function() return 1 end))',
    }
    for what, call in pairs(SANDBOXED) do
      it("is refused " .. what .. ", naming its file and line", function()
        local path = write("bad.lua", "return {\n  select = function(repo)\n    " .. call
          .. "\n    return {}\n  end,\n}\n")
        local line = refused(path)
        assert.matches("^regsh purge: .*policy " .. escaped(path) .. ": select%('[%w/._-]+'%) failed: "
          .. escaped(path) .. ":3: ", line)
      end)
    end

    it("refuses those when loading too, and with the same message for each", function()
      local path = write("load.lua", "local p = io.popen('id')\nreturn {select = function() end}\n")
      assert.matches(escaped(path) .. ":1: .*popen", refused(path))
    end)

    it("reads files (a keep-list) but may not open them for writing", function()
      local keep = write("keep.txt", "dev-7\ndev-8\n")
      local path = write("keeplist.lua", [[
return {
  params = {file = ""},
  select = function(repo, params)
    local keep = {}
    for line in io.lines(params.file) do keep[line] = true end
    local f = assert(io.open(params.file, "r"))
    f:close()
    return repo.tags:where(function(t) return t.name:find("^dev%-") and not keep[t.name] end)
  end,
}]])
      assert.same({"untag app/api:dev-9", "untag app/web:dev-102", "untag app/web:dev-103",
                   "untag app/web:dev-104", "untag app/web:dev-105", "untag app/web:dev-106"},
        actions(policy_plan(path, "--set", "file=" .. keep)))
      local writes = write("writes.lua", [[
return {select = function(repo)
  local f = io.open("]] .. dir .. [[/written", "a+")
end}]])
      assert.matches("writes%.lua:2: io%.open: a policy may open files for reading only",
        refused(writes))
      assert.is_nil(io.open(dir .. "/written"))
    end)

    it("is stopped when it loops past its time limit", function()
      local path = write("loop.lua", "return {\n  time_limit = 0.5,\n  select = function()\n"
        .. "    while true do end\n  end,\n}\n")
      local line = refused(path)
      assert.matches("policy " .. escaped(path) .. ": select%('[%w/._-]+'%) failed: .*took more "
        .. "than 0%.5s of CPU time", line)
    end)

    it("is interrupted by SIGTERM while it loops, with the exit status of SIGTERM", function()
      local path = write("forever.lua", "return {\n  time_limit = 600,\n  select = function()\n"
        .. "    while true do end\n  end,\n}\n")
      local run = purge.spawn({"--registry", fp.host, "--state", state, "--policy", path})
      -- once a policy runs, the catalog and tags have been read
      assert.is_true(purge.wait_for(function() return #fp:log("/tags/list") > 0 end, 60))
      cmd.sh("sleep 0.5; kill -TERM " .. run.pid)
      assert.is_true(purge.wait_for(function() return not purge.alive(run.pid) end, 10),
        "regsh purge kept running after SIGTERM")
      local f = assert(io.open(run.err))
      local err = f:read("a")
      f:close()
      assert.matches("regsh purge: terminated", err)
    end)

    it("stops the run when select returns garbage", function()
      local number = write("number.lua", "return {select = function() return 42 end}")
      assert.matches("policy " .. escaped(number) .. ": select returned a number", refused(number))
      local unknown = write("unknown.lua", "return {select = function() return {'no-such-tag'} end}")
      assert.matches("'no%-such%-tag' is not a tag or manifest of [%w/._-]+", refused(unknown))
      local map = write("map.lua", "return {select = function() return {x = 1} end}")
      assert.matches("select returned a table with key x", refused(map))
      -- a manifest of app/api handed back for app/web (and the other way round)
      local foreign = write("foreign.lua", [[
local seen = {}
return {
  repositories = function(name) return name == "app/api" or name == "app/web" end,
  select = function(repo)
    local other = seen[repo.name == "app/api" and "app/web" or "app/api"]
    seen[repo.name] = repo.manifests
    return other
  end,
}]])
      assert.matches("returned 'sha256:%x+' is not a tag or manifest of app/", refused(foreign))
      -- a tag entry of app/api handed back for app/web, where a tag of that name exists
      local same_name = write("same-name.lua", [[
local seen = {}
return {
  repositories = function(name) return name == "app/api" or name == "app/web" end,
  select = function(repo)
    local mine = {}
    for _, t in ipairs(repo.tags) do mine[#mine + 1] = t.name end
    local other = seen[repo.name == "app/api" and "app/web" or "app/api"]
    seen[repo.name] = repo.tags
    if not other then return nil end
    -- one of the other repository's entries, renamed to a tag this one has
    local fake = {}
    for k, v in pairs(other[1]) do fake[k] = v end
    fake.name = mine[1]
    return {fake}
  end,
}]])
      assert.matches("an entry for tag '[%w.-]+' that is not app/%a+'s", refused(same_name))
    end)

    it("stops on an unknown --set key or a wrongly typed value", function()
      assert.matches("%-%-set nope: policy policies/keep%-latest%.lua has no parameter 'nope' "
        .. "%(it has: exclude, keep, repositories, tags%)",
        refused("keep-latest", "--set", "nope=1"))
      assert.matches("%-%-set keep=many: policy policies/keep%-latest%.lua wants a number",
        refused("keep-latest", "--set", "keep=many"))
      assert.matches("%-%-set prerelease=maybe: .* wants true or false",
        refused("keep-semver", "--set", "prerelease=maybe"))
    end)

    it("names an unknown policy", function()
      assert.matches("policy no%-such%-policy: cannot be read", refused("no-such-policy"))
    end)
  end)

  it("--trusted-policy lifts the sandbox", function()
    local marker = dir .. "/trusted-ran"
    local path = write("trusted.lua", "return {select = function(repo)\n  os.execute('touch "
      .. marker .. "')\n  return {}\nend}\n")
    local out, status, err = cmd.regsh({"purge", "--registry", fp.host, "--state", state,
      "--policy", path, "--trusted-policy", "--dry-run"})
    assert.equal(0, status, err .. out)
    assert.is_not_nil(io.open(marker))
    out, status = cmd.regsh({"purge", "--registry", fp.host, "--state", state,
      "--policy", path, "--dry-run"})
    assert.is_not.equal(0, status, out)
  end)

  -- last: it deletes for real
  describe("regsh.purge.plan from a script", function()
    local engine = require "regsh.purge"
    local registry = require "regsh.registry"
    local flags = {filter = {"app/api:^dev-"}, ago = "10d", untagged = true}

    it("prints itself: summary, table, json", function()
      local store = assert(require("regsh.store").open(cmd.temp_name()))
      local plan = assert(engine.plan(assert(registry.open(fp.host)), flags, {store = store}))
      assert.equal("2 tags and 2 manifests to delete in 1 repositories", plan:summary())
      assert.equal(plan:summary(), tostring(plan))
      assert.matches("^app/api: 2 tags and 2 manifests to delete\n  delete  app/api@sha256:%x+ "
        .. "%(dev%-[78]%)", plan:table())
      local data = require("cjson").decode(plan:json())
      assert.same({"delete app/api (dev-7)", "delete app/api (dev-8)"}, actions(data))
      assert.equal(2, data.totals.manifests)
      -- a policy table works the same way
      local own = assert(engine.plan(assert(registry.open(fp.host)),
        {select = function(repo) return repo.tags:match("^dev-9$") end},
        {store = store, repositories = {"app/api"}}))
      assert.same({"untag app/api:dev-9"}, actions(own:data()))
      store:close()
    end)

    it("refuses to apply a plan made with a dry-run client", function()
      local store = assert(require("regsh.store").open(cmd.temp_name()))
      local plan = assert(engine.plan(assert(registry.open(fp.host, {dry_run = true})), flags,
        {store = store}))
      assert.equal(2, plan:totals().manifests)
      local before = purge.snapshot(reg)
      local result, err, code = plan:apply{concurrency = 2}
      assert.is_nil(result)
      assert.equal("EDRYRUN", code)
      assert.matches("^EDRYRUN: ", err)
      assert.same(before, purge.snapshot(reg))
      store:close()
    end)

    it("applies itself", function()
      local store = assert(require("regsh.store").open(cmd.temp_name()))
      local plan = assert(engine.plan(assert(registry.open(fp.host)), flags, {store = store}))
      local before = purge.snapshot(reg)
      local expected = purge.expected(before, require("cjson").decode(plan:json()))
      local done = {}
      local metrics = require "regsh.metrics"
      local series = {registry = fp.host, repository = "app/api"}
      local counted = metrics.get("regsh_purge_deletions_total", series)
      local result = assert(plan:apply{concurrency = 2,
        on_done = function(a, ok) done[#done + 1] = ok and a.digest end})
      assert.same({tags = 2, manifests = 2, failed = {}, deferred = 0}, result)
      assert.equal(2, #done)
      -- what regsh serve --metrics shows as regsh_purge_deletions_total
      assert.equal(counted + 2, metrics.get("regsh_purge_deletions_total", series))
      assert.same(expected, purge.snapshot(reg))
      assert.is_nil(purge.snapshot(reg).tags["app/api:dev-7"])
      store:close()
    end)
  end)
end)
