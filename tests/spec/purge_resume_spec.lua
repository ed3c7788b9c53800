-- A purge killed half way (SIGKILL, through a fault proxy that slows every
-- DELETE) and run again ends at exactly the state the plan made before the
-- first run promised: every planned tag and manifest gone, every other tag
-- on its digest, no throwaway manifest of an interrupted untag left. The
-- journal finishes what a killed run left, but not a tag pushed again since.
local servers = require "support.servers"
local images = require "support.images"
local cmd = require "support.cmd"
local purge = require "support.purge_state"

local REPOS = {"svc/a", "svc/b", "svc/c"}

describe("regsh purge killed mid-run", function()
  local reg, fp

  setup(function()
    reg, fp = servers.proxied_registry{}
  end)

  teardown(function() servers.stop_all(fp, reg) end)

  before_each(function() fp:clear() end)

  it("converges to exactly the plan on the next run", function()
    -- per repository: old00..old49 on 50 manifests (configs of January 2024),
    -- keep0..keep4 on the first five of them: 45 manifest deletes and 5
    -- untags (throwaway manifests on distribution) per repository
    for _, repo in ipairs(REPOS) do
      images.seed_tags(reg.url, repo, 50, 50, "old")
      for i = 0, 4 do purge.retag(reg.url, repo, string.format("old%02d", i), "keep" .. i) end
    end
    local state = cmd.temp_name()
    local args = {"--registry", fp.host, "--filter", "svc/.*:^old", "--ago", "1d", "--untagged",
                  "--state", state, "--concurrency", "2"}
    local before = purge.snapshot(reg)
    local plan = purge.plan(args)
    assert.equal(150, plan.totals.tags)
    assert.equal(135, plan.totals.manifests)
    local expected = purge.expected(before, plan)
    assert.same(before, purge.snapshot(reg))   -- the dry run wrote nothing

    fp:add{action = "delay", seconds = 0.2, method = "DELETE", times = -1}
    local child = purge.spawn(args)
    local function deletes()
      local n = 0
      for _, e in ipairs(fp:log("/manifests/")) do
        if e.method == "DELETE" and e.status == 202 then n = n + 1 end
      end
      return n
    end
    assert.is_true(purge.wait_for(function() return deletes() >= 20 end),
      "the first run made no 20 deletes: " .. cmd.read_file(child.err))
    assert.is_true(purge.alive(child.pid), "the first run ended before it was killed")
    cmd.sh("kill -KILL " .. child.pid)
    assert.is_true(purge.wait_for(function() return not purge.alive(child.pid) end))
    fp:clear()

    local middle = purge.snapshot(reg)
    local done = purge.diff(before, middle)
    assert.is_true(#done.removed > 0, "nothing was deleted before the kill")
    assert.is_not.same(expected, middle)   -- killed half way, not at the end
    assert.is_true(#purge.journal(state, fp.host) > 0, "the killed run left no journal")

    local out, status, err = cmd.regsh({"purge", table.unpack(args)})
    assert.equal(0, status, err .. out)
    local after = purge.snapshot(reg)
    assert.same(purge.diff(before, expected), purge.diff(before, after))
    assert.same(expected, after)
    assert.same({}, purge.journal(state, fp.host))
    -- no throwaway left: every manifest left is one seeded, on a kept tag
    for key in pairs(after.manifests) do
      assert.is_true(before.manifests[key], "a manifest appeared: " .. key)
    end
    os.remove(child.out)
    os.remove(child.err)
  end)

  it("finishes an untag killed between the throwaway PUT and its DELETE", function()
    local repo = "half/untag"
    local digests = images.seed_tags(reg.url, repo, 2, 1, "tag")  -- tag0, tag1 on one manifest
    local client = assert(require("regsh.registry").open(reg.host))
    -- what untag pushes (regsh.registry.manifest's throwaway), written here by hand
    local empty = '{"mediaType":"application/vnd.oci.empty.v1+json","digest":'
      .. '"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2}'
    local throwaway = '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",'
      .. '"config":' .. empty .. ',"layers":[' .. empty .. '],"annotations":{'
      .. '"io.regsh.untag.tag":"tag1","io.regsh.untag.time":"2024-01-01T00:00:00Z",'
      .. '"io.regsh.untag.nonce":"0123456789abcdef0123456789abcdef"}}'
    assert(client:blob_upload(repo, "{}"))
    local put = assert(client:put_manifest(repo, "tag1", throwaway,
      "application/vnd.oci.image.manifest.v1+json"))
    local before = purge.snapshot(reg)
    assert.equal(put, before.tags[repo .. ":tag1"])
    assert.is_true(before.manifests[repo .. "@" .. put])

    -- a run whose filter selects nothing in the repository still finishes it
    local state = cmd.temp_name()
    local out, status, err = cmd.regsh({"purge", "--registry", fp.host, "--filter",
      "half/untag:^nothing$", "--ago", "1d", "--state", state})
    assert.equal(0, status, err .. out)
    assert.matches("untag%s+half/untag:tag1%s+finish an interrupted untag", out)
    local after = purge.snapshot(reg)
    assert.same({added = {}, removed = {repo .. ":tag1", repo .. "@" .. put}},
      purge.diff(before, after))
    assert.equal(digests[1], after.tags[repo .. ":tag0"])
  end)

  it("finishes a journal's untag only while the tag still points where it did", function()
    local repo = "journal/moved"
    -- keep0 -> M0, keep1 -> M1; old-a0 and old-b0 -> M0
    local m = images.seed_tags(reg.url, repo, 2, 2, "keep")
    purge.retag(reg.url, repo, "keep0", "old-a0")
    purge.retag(reg.url, repo, "keep0", "old-b0")
    local before = purge.snapshot(reg)
    assert.equal(m[1], before.tags[repo .. ":old-a0"])
    local state = cmd.temp_name()
    cmd.sh("mkdir -p " .. cmd.quote(state))
    -- a killed run planned to untag both from M0
    local store = assert(require("regsh.store").open(state .. "/state.db"))
    assert(require("regsh.purge.journal").put(store, fp.host, repo, {
      {op = "untag", tag = "old-a0", digest = m[1]},
      {op = "untag", tag = "old-b0", digest = m[1]}}))
    store:close()
    -- since then old-a0 was pushed again, to M1
    purge.retag(reg.url, repo, "keep1", "old-a0")
    local moved = purge.snapshot(reg)
    assert.equal(m[2], moved.tags[repo .. ":old-a0"])

    local out, status, err = cmd.regsh({"purge", "--registry", fp.host, "--filter",
      "journal/moved:^nothing$", "--ago", "1d", "--state", state})
    assert.equal(0, status, err .. out)
    assert.matches("old%-b0%s+left by an interrupted run", out)
    assert.not_matches("old%-a0", out)
    local after = purge.snapshot(reg)
    assert.same({added = {}, removed = {repo .. ":old-b0"}}, purge.diff(moved, after))
    assert.equal(m[2], after.tags[repo .. ":old-a0"])
    assert.same({}, purge.journal(state, fp.host))
  end)
end)
