-- The purge engine on a real docker-registry (distribution 2.8) where the
-- graph matters: multi-platform indexes with untagged children, dangling
-- manifests the store remembers (--untagged-only), signed images (cosign's
-- sha256-<hex>.sig tag, an OCI referrer in the sha256-<hex> fallback index),
-- a digest shared by a kept and a deleted tag (the throwaway-manifest untag),
-- a dry run that writes nothing and plans exactly what the real run does, the
-- journal an interrupted run leaves, and the safety rules no policy can
-- override (locks through a synthetic repository: distribution has none).
local cjson = require "cjson"
local registry = require "regsh.registry"
local purge = require "regsh.purge"
local journal = require "regsh.purge.journal"
local planner = require "regsh.purge.plan"
local synthetic = require "regsh.purge.synthetic"
local store_mod = require "regsh.store"
local regs = require "support.registry"
local cmd = require "support.cmd"
local P = require "support.purge"

local DAY = P.DAY
local OLD = 20 * DAY

local function quiet() end

describe("purge on a real registry's graph", function()
  local server, reg, world

  setup(function()
    server = regs.start{}
    reg = assert(registry.open(server.host, {log = quiet}))
    world = P.world(reg, server)
  end)

  teardown(function() regs.stop(server) end)

  local function run(args, state)
    return P.run(server.host, state or cmd.temp_name(), args)
  end

  local function expect(repo, tags, gone)
    assert.same(tags, world:tags(repo))
    world:expect_gone(repo, gone or {})
  end

  local function fallback_tag(d) return (d:gsub(":", "-")) end

  it("keeps the untagged children of a tagged index; a deleted index takes its children", function()
    local kept, kept_children = world:index("g1/app", {"v1"}, OLD)
    local doomed, doomed_children = world:index("g1/app", {"dev-1"}, OLD)
    local out, status, err = run({"--filter", "g1/app:dev", "--ago", "1d", "--untagged"})
    assert.equal(0, status, err)
    assert.matches("Number of deleted tags: 1\nNumber of deleted manifests: 3\n$", out)
    expect("g1/app", {"v1"}, {doomed.digest, doomed_children[1], doomed_children[2]})
    assert.equal(kept.digest, assert(reg:head("g1/app", "v1")).digest)
    assert.truthy(kept_children[2])
  end)

  it("--untagged-only deletes the dangling manifests the store has seen, never a tag", function()
    local state = cmd.temp_name()
    local first = world:image("g2/app", {"t"}, OLD)
    local index, children = world:index("g2/app", {"multi"}, OLD)
    -- a dry run records what is there
    local _, status, err = run({"--untagged-only", "--filter", "g2/app:.*", "--dry-run"}, state)
    assert.equal(0, status, err)
    local second = world:image("g2/app", {"t"}, OLD)          -- `first` now dangles
    local never_seen = world:image("g2/app", {}, OLD)        -- pushed by digest
    local out
    out, status, err = run({"--untagged-only", "--filter", "g2/app:.*"}, state)
    assert.equal(0, status, err)
    assert.matches("Number of deleted tags: 0\nNumber of deleted manifests: 1\n$", out)
    expect("g2/app", {"multi", "t"}, {first})
    assert.equal(second, assert(reg:head("g2/app", "t")).digest)
    assert.truthy(index and children and never_seen)
  end)

  it("--untagged --ago: a dangling manifest newer than the cutoff stays", function()
    local old = world:image("g2b/app", {"dev-old"}, OLD)
    local new = world:image("g2b/app", {"dev-new"}, 2 * DAY)
    local _, status, err = run({"--filter", "g2b/app:dev", "--ago", "1d", "--untagged"})
    assert.equal(0, status, err)
    expect("g2b/app", {}, {old, new})
    old = world:image("g2b/app2", {"dev-old"}, OLD)
    new = world:image("g2b/app2", {"dev-new"}, 2 * DAY)
    _, status, err = run({"--filter", "g2b/app2:dev", "--ago", "10d", "--untagged"})
    assert.equal(0, status, err)
    expect("g2b/app2", {"dev-new"}, {old})
    assert.equal(new, assert(reg:head("g2b/app2", "dev-new")).digest)
  end)

  describe("a signed image", function()
    -- subject S (v1) and X (dev-1), each with a cosign signature tag and an
    -- OCI referrer (recorded in its sha256-<hex> fallback index)
    local function signed(repo)
      local out = {}
      for _, tag in ipairs({"v1", "dev-1"}) do
        local d, raw = world:image(repo, {tag}, OLD)
        local sig = world:cosign(repo, d, OLD)
        local ref = world:referrer(repo, {digest = d, size = #raw,
          mediaType = "application/vnd.oci.image.manifest.v1+json"}, "signature of " .. tag)
        out[tag] = {digest = d, sig = sig, ref = ref,
                    fallback = assert(reg:head(repo, fallback_tag(d))).digest}
      end
      return out
    end

    local function all_of(s) return {s.digest, s.sig, s.ref, s.fallback} end

    it("keeps the signatures of a kept subject and deletes those of a deleted one", function()
      local s = signed("g3/app")
      -- '.*' matches every ordinary tag; referrer-schema tags are not ordinary tags
      local out, status, err = run({"--filter", "g3/app:.*", "--ago", "1d", "--untagged",
                                    "--exclude", "^v1$"})
      assert.equal(0, status, err)
      -- dev-1's manifest, its cosign signature, its referrer and its fallback index
      assert.matches("Number of deleted tags: 1\nNumber of deleted manifests: 4\n$", out)
      local v1 = s.v1.digest
      expect("g3/app", {fallback_tag(v1), fallback_tag(v1) .. ".sig", "v1"}, all_of(s["dev-1"]))
      assert.equal(s.v1.sig, assert(reg:head("g3/app", fallback_tag(v1) .. ".sig")).digest)
      assert.equal(s.v1.fallback, assert(reg:head("g3/app", fallback_tag(v1))).digest)
      local referrers = assert(reg:referrers("g3/app", v1))
      local found = {}
      for i, r in ipairs(referrers) do found[i] = r.digest end
      table.sort(found)
      local want = {s.v1.ref, s.v1.sig}
      table.sort(want)
      assert.same(want, found)
    end)

    it("selecting a signature tag by its name does not delete the subject", function()
      local s = signed("g3c/app")
      local _, status, err = run({"--filter", "g3c/app:\\.sig$", "--ago", "0d", "--untagged"})
      assert.equal(0, status, err)
      expect("g3c/app", world:tags("g3c/app"), {})   -- nothing gone
      assert.equal(6, #world:tags("g3c/app"))
      assert.truthy(s.v1)
    end)

    it("--keep-orphan-referrers keeps the signatures of a deleted subject", function()
      local s = signed("g3b/app")
      local _, status, err = run({"--filter", "g3b/app:dev", "--ago", "1d", "--untagged",
                                  "--keep-orphan-referrers"})
      assert.equal(0, status, err)
      local x = s["dev-1"].digest
      local v1 = s.v1.digest
      local tags = {fallback_tag(x), fallback_tag(x) .. ".sig", fallback_tag(v1),
                    fallback_tag(v1) .. ".sig", "v1"}
      table.sort(tags)
      expect("g3b/app", tags, {x})
    end)
  end)

  it("untags one tag of a shared digest by a throwaway manifest; the other tag stays", function()
    local shared = world:image("g4/app", {"dev-1", "keep"}, OLD)
    local alone = world:image("g4/app", {"dev-2"}, OLD)
    local out, status, err = run({"--filter", "g4/app:dev", "--ago", "1d", "--untagged",
                                  "-o", "json"})
    assert.equal(0, status, err)
    local data = cjson.decode(out)
    local ops = {}
    for _, a in ipairs(data.repositories[1].actions) do
      ops[#ops + 1] = a.op .. " " .. (a.tag or a.digest)
    end
    assert.same({"untag dev-1", "delete " .. alone}, ops)
    assert.same({tags = 2, manifests = 1}, data.deleted)
    -- expect_gone also checks that storage holds no manifest nobody pushed
    expect("g4/app", {"keep"}, {alone})
    assert.equal(shared, assert(reg:head("g4/app", "keep")).digest)
  end)

  it("a dry run writes nothing and plans exactly what the real run does", function()
    local state = cmd.temp_name()
    world:index("g5/a", {"v1"}, OLD)
    world:index("g5/a", {"dev-1"}, OLD)
    world:image("g5/a", {"dev-2", "stable"}, OLD)
    world:image("g5/a", {"dev-3"}, 2 * DAY)
    local subject, raw = world:image("g5/b", {"dev-9"}, OLD)
    world:cosign("g5/b", subject, OLD)
    world:referrer("g5/b", {digest = subject, size = #raw,
      mediaType = "application/vnd.oci.image.manifest.v1+json"}, "sbom")
    world:image("g5/b", {"v2"}, OLD)
    local args = {"--filter", "g5/.*:dev", "--ago", "10d", "--untagged", "-o", "json"}
    local before = world:state("g5/")
    local dry_args = table.move(args, 1, #args, 1, {})
    dry_args[#dry_args + 1] = "--dry-run"
    local dry_out, status, err = run(dry_args, state)
    assert.equal(0, status, err)
    assert.same(before, world:state("g5/"))
    local real_out
    real_out, status, err = run(args, state)
    assert.equal(0, status, err)
    local dry, real = cjson.decode(dry_out), cjson.decode(real_out)
    assert.is_true(dry.dry_run)
    assert.same(P.plan_shape(dry), P.plan_shape(real))
    assert.same({tags = real.totals.tags, manifests = real.totals.manifests}, real.deleted)
    -- the end state is the start state less exactly what the plan listed
    local expected = cjson.decode(cjson.encode(before))
    for _, r in ipairs(real.repositories) do
      local e = expected[r.repository]
      for _, a in ipairs(r.actions) do
        assert.is_true(a.done, cjson.encode(a))
        if a.op == "untag" then
          e.tags[a.tag] = nil
        else
          e.digests[a.digest] = "ENOTFOUND"
          e.revisions[a.digest] = nil
          for name, d in pairs(e.tags) do if d == a.digest then e.tags[name] = nil end end
        end
      end
    end
    assert.same(expected, world:state("g5/"))
    assert.equal(3, real.totals.tags)        -- dev-1, dev-2 (untag), dev-9; not dev-3
    -- dev-1's index and its two children; dev-9, its cosign signature, its
    -- referrer and the referrer's fallback index
    assert.equal(7, real.totals.manifests)
  end)

  describe("through regsh.purge.plan", function()
    it("refuses to apply a plan made with a dry-run client (EDRYRUN)", function()
      local d = world:image("g6/app", {"dev-1"}, OLD)
      local before = world:state("g6/")
      local dry = assert(registry.open(server.host, {log = quiet, dry_run = true}))
      local st = assert(store_mod.open(cmd.temp_name()))
      local plan = assert(purge.plan(dry, {filter = {"g6/app:dev"}, ago = "1d", untagged = true},
        {store = st}))
      assert.same({d}, {plan.repositories[1].actions[1].digest})
      local result, err, code = plan:apply()
      assert.is_nil(result)
      assert.equal("EDRYRUN", code)
      assert.matches("dry%-run client", err)
      assert.same(before, world:state("g6/"))
      st:close()
    end)

    it("finishes an interrupted untag only while the tag points where it did", function()
      local st = assert(store_mod.open(cmd.temp_name()))
      local old = world:image("g7/app", {"moved", "still", "keep"}, OLD)
      -- a killed run had planned to untag both; `moved` was pushed again since
      assert(journal.put(st, server.host, "g7/app", {
        {op = "untag", tag = "moved", digest = old}, {op = "untag", tag = "still", digest = old}}))
      local new = world:image("g7/app", {"moved"}, OLD)
      local plan = assert(purge.plan(reg, {filter = {"g7/app:^nothing$"}, ago = "1d"},
        {store = st}))
      local ops = {}
      for _, a in ipairs(plan.repositories[1].actions) do
        ops[#ops + 1] = a.op .. " " .. a.tag .. " " .. a.reason
      end
      assert.same({"untag still left by an interrupted run"}, ops)
      local result = assert(plan:apply())
      assert.equal(1, result.tags)
      expect("g7/app", {"keep", "moved"})
      assert.equal(new, assert(reg:head("g7/app", "moved")).digest)
      assert.equal(old, assert(reg:head("g7/app", "keep")).digest)
      -- done: the journal is empty
      assert.same({untags = {}, manifests = {}}, assert(journal.pending(st, server.host,
        "g7/app")))
      st:close()
    end)
  end)
end)

describe("purge safety rules (synthetic repository)", function()
  local function H(s) return "sha256:" .. string.rep(s, 64):sub(1, 64) end

  local function plan_of(spec, selection, opts)
    local repo = synthetic.synthetic(spec)
    local sel = {tags = {}, manifests = {}}
    for _, name in ipairs(selection.tags or {}) do sel.tags[#sel.tags + 1] = repo:tag(name) end
    for _, d in ipairs(selection.manifests or {}) do
      sel.manifests[#sel.manifests + 1] = repo:manifest(d)
    end
    return planner.repo(repo, sel, opts)
  end

  local function deleted(p)
    local out = {}
    for _, a in ipairs(p.actions) do out[#out + 1] = a.op .. " " .. (a.tag or a.digest) end
    table.sort(out)
    return out
  end

  it("never deletes a manifest a kept tag points at", function()
    local p = plan_of({tags = {{name = "a", digest = H"1"}, {name = "b", digest = H"1"}}},
      {tags = {"a"}, manifests = {H"1"}})
    assert.same({"untag a"}, deleted(p))
    assert.same({{kind = "manifest", digest = H"1", reason = "tag b is kept"}},
      {{kind = p.kept[1].kind, digest = p.kept[1].digest, reason = p.kept[1].reason}})
  end)

  it("never deletes a child of a kept index", function()
    local p = plan_of({tags = {{name = "multi", digest = H"i"}, {name = "one", digest = H"1"}},
      manifests = {{digest = H"i", children = {H"1", H"2"}}}},
      {tags = {"one"}, manifests = {H"1", H"2"}})
    assert.same({"untag one"}, deleted(p))
  end)

  it("never deletes the subject of a kept referrer", function()
    local p = plan_of({tags = {{name = "sig", digest = H"s"}, {name = "x", digest = H"1"}},
      manifests = {{digest = H"s", subject = H"1"}}},
      {tags = {"x"}, manifests = {H"1"}})
    assert.same({"untag x"}, deleted(p))
    assert.equal("subject of kept referrer " .. H"s":sub(1, 19), p.kept[1].reason)
  end)

  it("never deletes a locked tag or manifest unless include_locked", function()
    local spec = {tags = {{name = "a", digest = H"1", locked = true}, {name = "b", digest = H"2"}},
      manifests = {{digest = H"2", locked = true}}}
    local sel = {tags = {"a", "b"}, manifests = {H"1", H"2"}}
    local p = plan_of(spec, sel)
    -- a's lock keeps a and so its manifest; b goes, its locked manifest stays
    assert.same({"untag b"}, deleted(p))
    p = plan_of(spec, sel, {include_locked = true})
    assert.same({"delete " .. H"1", "delete " .. H"2"}, deleted(p))
  end)

  it("keeps a locked child of a deleted index", function()
    local spec = {tags = {{name = "multi", digest = H"i"}},
      manifests = {{digest = H"i", children = {H"1", H"2"}}, {digest = H"1", locked = true}}}
    local p = plan_of(spec, {tags = {"multi"}, manifests = {H"i"}})
    assert.same({"delete " .. H"2", "delete " .. H"i"}, deleted(p))
    p = plan_of(spec, {tags = {"multi"}, manifests = {H"i"}}, {include_locked = true})
    assert.same({"delete " .. H"1", "delete " .. H"2", "delete " .. H"i"}, deleted(p))
  end)
end)
