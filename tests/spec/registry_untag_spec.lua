-- client:untag on a real docker-registry (distribution 2.8), which deletes
-- manifests by digest only (a tag DELETE answers 400 DIGEST_INVALID): the
-- tag goes by a throwaway manifest put to it and deleted by digest, and
-- nothing else changes. Also: a dry run writes nothing (storage compared file
-- by file), a registry with deletes disabled (405) refuses before anything is
-- pushed, a throwaway left by a dead run is finished, concurrent untags.
local registry = require "regsh.registry"
local manifest = require "regsh.registry.manifest"
local async = require "regsh.async"
local support = require "support.registry"
local servers = require "support.servers"
local content = require "support.content"

local function quiet() end

-- Every file under the registry's storage, with its size: blobs, links, uploads.
local function storage(reg)
  local out = servers.sh("cd " .. support.shell_quote(reg.dir .. "/data")
    .. " && find . -type f -printf '%p %s\\n' | sort")
  return out
end

-- An image with the given tags; returns its digest.
local function image(client, repo, tags)
  local d, raw = assert(content.push_image(client, repo, tags[1], {label = repo}))
  for i = 2, #tags do assert(client:put_manifest(repo, tags[i], raw, content.OCI_MANIFEST)) end
  return d
end

local function tag_names(client, repo)
  local names = {}
  for _, t in ipairs(assert(client:tags(repo))) do names[#names + 1] = t.name end
  table.sort(names)
  return names
end

describe("registry untag", function()
  local reg, fp, client

  setup(function()
    reg, fp = servers.proxied_registry{}
    client = assert(registry.open(reg.host, {log = quiet}))
  end)

  teardown(function() servers.stop_all(fp, reg) end)

  before_each(function() fp:clear() end)

  it("removes one tag of a shared digest; the other tag and the manifest stay", function()
    local d = image(client, "two/app", {"v1", "keep"})
    local ok, removed = client:untag("two/app", "v1")
    assert.is_true(ok, removed)
    assert.is_true(removed)
    assert.same({"keep"}, tag_names(client, "two/app"))
    assert.equal(d, assert(client:head("two/app", "keep")).digest)
    assert.equal(d, assert(client:manifest("two/app", d)).digest)
    local _, _, code = client:head("two/app", "v1")
    assert.equal("ENOTFOUND", code)
    -- already gone: true, false
    ok, removed = client:untag("two/app", "v1")
    assert.is_true(ok)
    assert.is_false(removed)
  end)

  it("leaves the manifest of a digest's only tag fetchable by digest", function()
    local d = image(client, "only/app", {"v1"})
    assert.is_true((client:untag("only/app", "v1")))
    assert.same({}, tag_names(client, "only/app"))
    local m = assert(client:manifest("only/app", d))
    assert.equal(d, m.digest)
    assert.is_false(registry.is_throwaway(m))
  end)

  it("asks the registry once per client: later untags go straight to the throwaway", function()
    image(client, "learn/app", {"a", "b", "c"})
    local fresh = assert(registry.open(fp.host, {log = quiet}))
    assert.is_true((fresh:untag("learn/app", "a")))
    assert.is_true((fresh:untag("learn/app", "b")))
    local by_tag = {}
    for _, e in ipairs(fp:log("/manifests/[abc]$")) do
      if e.method == "DELETE" then by_tag[#by_tag + 1] = e.path end
    end
    assert.same({"/v2/learn/app/manifests/a"}, by_tag)
    -- each throwaway went by digest: two DELETEs of a sha256 digest
    assert.equal(2, #fp:log("/manifests/sha256:"))
    assert.same({"c"}, tag_names(client, "learn/app"))
  end)

  it("untags 5 tags of one digest concurrently", function()
    local tags = {"t1", "t2", "t3", "t4", "t5", "keep"}
    local d = image(client, "many/app", tags)
    local fresh = assert(registry.open(reg.host, {log = quiet}))
    local jobs = {}
    for i = 1, 5 do
      jobs[i] = function() return {fresh:untag("many/app", tags[i])} end
    end
    local results = async.gather(jobs)
    for i = 1, 5 do
      assert.is_true(results[i][1], tostring(results[i][2]))
      assert.is_true(results[i][2])
    end
    assert.same({"keep"}, tag_names(client, "many/app"))
    assert.equal(d, assert(client:head("many/app", "keep")).digest)
  end)

  it("finishes an untag a dead run left half done (the tag on a throwaway)", function()
    local d = image(client, "half/app", {"v1", "keep"})
    assert(client:blob_upload("half/app", "{}"))
    local raw = manifest.throwaway("v1")
    local throwaway = assert(client:put_manifest("half/app", "v1", raw, content.OCI_MANIFEST))
    local m = assert(client:manifest("half/app", "v1"))
    assert.is_true(registry.is_throwaway(m))
    fp:clear()
    local fresh = assert(registry.open(fp.host, {log = quiet}))
    local ok, removed = fresh:untag("half/app", "v1")
    assert.is_true(ok, removed)
    assert.is_true(removed)
    -- no new throwaway: the one there was deleted by its digest
    for _, e in ipairs(fp:log()) do assert.not_equal("PUT", e.method, e.path) end
    assert.equal(1, #fp:log("/manifests/" .. throwaway .. "$"))
    local _, _, code = client:head("half/app", throwaway)
    assert.equal("ENOTFOUND", code)
    assert.same({"keep"}, tag_names(client, "half/app"))
    assert.equal(d, assert(client:head("half/app", "keep")).digest)
  end)

  it("in a dry run writes nothing and answers as the real run would", function()
    local d = image(client, "dry/app", {"v1", "keep"})
    local d2 = image(client, "dry/other", {"x"})
    local before = storage(reg)
    local catalog = assert(client:repositories())
    local dry = assert(registry.open(reg.host, {dry_run = true, log = quiet}))
    local ok, err, code = dry:untag("dry/app", "v1")
    assert.is_nil(ok)
    assert.equal("EDRYRUN", code)
    assert.equal("EDRYRUN: would untag " .. reg.host .. "/dry/app:v1", err)
    ok, err = dry:untag("dry/app", "nope")
    assert.is_true(ok, err)
    assert.is_false(err)
    _, _, code = dry:untag("no/such/repository", "v1")
    assert.equal("ENOTFOUND", code)
    assert.equal(before, storage(reg))
    assert.same(catalog, assert(client:repositories()))
    assert.same({"keep", "v1"}, tag_names(client, "dry/app"))
    assert.equal(d, assert(client:head("dry/app", "v1")).digest)
    assert.equal(d2, assert(client:head("dry/other", "x")).digest)
  end)

  it("through regsh rm removes one tag of a shared digest", function()
    local d = image(client, "rm/app", {"v1", "keep"})
    local cmd = require "support.cmd"
    local dry_out, dry_status = cmd.regsh({"rm", reg.host .. "/rm/app:v1", "--dry-run"})
    assert.equal(0, dry_status)
    assert.matches("would untag " .. reg.host .. "/rm/app:v1", dry_out, 1, true)
    local out, status, err = cmd.regsh({"rm", reg.host .. "/rm/app:v1"})
    assert.equal(0, status, err)
    assert.matches("untagged " .. reg.host .. "/rm/app:v1", out, 1, true)
    assert.same({"keep"}, tag_names(client, "rm/app"))
    assert.equal(d, assert(client:head("rm/app", "keep")).digest)
  end)
end)

describe("registry untag where deletes are disabled", function()
  local reg, client

  setup(function()
    reg = support.start({no_delete = true})
    client = assert(registry.open(reg.host, {log = quiet}))
  end)

  teardown(function() servers.stop_all(reg) end)

  it("fails ENOTSUP (405) before anything is pushed", function()
    local d = image(client, "locked/app", {"v1", "keep"})
    local before = storage(reg)
    local ok, err, code = client:untag("locked/app", "v1")
    assert.is_nil(ok)
    assert.equal("ENOTSUP", code, err)
    assert.matches("405", err)
    assert.equal(before, storage(reg))
    assert.same({"keep", "v1"}, tag_names(client, "locked/app"))
    assert.equal(d, assert(client:head("locked/app", "v1")).digest)
  end)
end)

describe("the untag throwaway", function()
  it("is unique per call, even for one tag at one time", function()
    local a = manifest.throwaway("v1", 1700000000)
    local b = manifest.throwaway("v1", 1700000000)
    assert.not_equal(a, b)
    local m = require("regsh.json").decode(a)
    assert.equal("v1", m.annotations["io.regsh.untag.tag"])
    assert.equal("2023-11-14T22:13:20Z", m.annotations["io.regsh.untag.time"])
    assert.is_true(manifest.is_throwaway(m))
  end)

  it("is told apart from images and other empty-config artifacts", function()
    local plain = content.artifact({mediaType = content.OCI_MANIFEST,
      digest = "sha256:" .. string.rep("1", 64), size = 10}, "application/example",
      "sha256:" .. string.rep("2", 64), 3)
    assert.is_false(manifest.is_throwaway(require("regsh.json").decode(plain)))
    local m = require("regsh.json").decode(manifest.throwaway("v1"))
    m.config.mediaType = content.OCI_CONFIG
    assert.is_false(manifest.is_throwaway(m))
    assert.is_false(manifest.is_throwaway(nil))
  end)
end)
