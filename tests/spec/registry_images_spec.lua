-- Real images pushed by podman (tests/support/images.sh: busybox-static
-- imported without internet) to real docker-registry instances: a Docker
-- schema2 manifest, an OCI manifest, an OCI index and a Docker manifest list
-- with linux/amd64 + linux/arm64/v8; copies within and across registries;
-- referrers through the sha256-<hex> tag schema (distribution 2.8 has no
-- referrers API). podman is required: the specs fail, never skip, without it.
local registry = require "regsh.registry"
local regs = require "support.registry"
local images = require "support.images"
local content = require "support.content"

describe("registry with podman-pushed images", function()
  local reg, reg2, d, r, r2

  setup(function()
    images.require_podman()
    reg = regs.start{}
    reg2 = regs.start{}
    d = images.push(reg.host, "img")
    r = registry.open(reg.host)
    r2 = registry.open(reg2.host)
  end)

  teardown(function()
    regs.stop(reg)
    regs.stop(reg2)
  end)

  local function check_config(repo, m, arch)
    local cfg = assert(r:config(repo, m))
    assert.equal("linux", cfg.os)
    assert.equal(arch, cfg.architecture)
    assert.matches("^%d%d%d%d%-%d%d%-%d%dT", cfg.created)
    assert.equal("busybox", cfg.config.Labels["org.regsh.test"])
    assert.equal(arch, cfg.config.Labels["org.regsh.arch"])
    return cfg
  end

  it("reads a Docker schema2 manifest and its config", function()
    local m = assert(r:manifest("img/docker", "v1"))
    assert.equal(content.DOCKER_MANIFEST, m.media_type)
    assert.equal(d.docker, m.digest)
    assert.equal(#m.raw, m.size)
    assert.equal(content.sha256(m.raw), m.digest)
    assert.equal("application/vnd.docker.container.image.v1+json", m.config.mediaType)
    assert.equal(1, #m.layers)
    check_config("img/docker", m, "amd64")
    local h = assert(r:head("img/docker", "v1"))
    assert.same({d.docker, content.DOCKER_MANIFEST, #m.raw}, {h.digest, h.media_type, h.size})
  end)

  it("reads an OCI manifest whose JSON has no mediaType field (from Content-Type)", function()
    local m = assert(r:manifest("img/oci", "v1"))
    assert.is_nil(m.raw:find('"mediaType":"application/vnd.oci.image.manifest', 1, true))
    assert.equal(content.OCI_MANIFEST, m.media_type)
    assert.equal(d.oci, m.digest)
    assert.equal(content.OCI_CONFIG, m.config.mediaType)
    check_config("img/oci", m, "amd64")
    -- by digest too
    assert.equal(d.oci, assert(r:manifest("img/oci", d.oci)).digest)
  end)

  it("reads an OCI index with both platforms and each child's config", function()
    local idx = assert(r:manifest("img/multi", "v1"))
    assert.equal(content.OCI_INDEX, idx.media_type)
    assert.equal(d.multi, idx.digest)
    assert.equal(2, #idx.manifests)
    local seen = {}
    for _, child in ipairs(idx.manifests) do
      local p = child.platform
      seen[p.os .. "/" .. p.architecture .. (p.variant and ("/" .. p.variant) or "")] = true
      local m = assert(r:manifest("img/multi", child.digest))
      assert.equal(child.digest, m.digest)
      assert.equal(child.size, m.size)
      check_config("img/multi", m, p.architecture)
    end
    assert.same({["linux/amd64"] = true, ["linux/arm64/v8"] = true}, seen)
  end)

  it("picks an index's image for a platform when reading its config", function()
    local idx = assert(r:manifest("img/multi", "v1"))
    assert.equal("amd64", assert(r:config("img/multi", idx)).architecture)
    local arm = assert(r:config("img/multi", "v1", {platform = "linux/arm64"}))
    assert.equal("arm64", arm.architecture)
    assert.equal("arm64", arm.config.Labels["org.regsh.arch"])
    local none, err, code = r:config("img/multi", idx, {platform = "windows/amd64"})
    assert.is_nil(none)
    assert.equal("ENOTFOUND", code)
    assert.matches("lists no windows/amd64 image", err, 1, true)
    assert.has_error(function() r:config("img/multi", idx, {platform = "arm64"}) end)
  end)

  it("reads a Docker manifest list", function()
    local list = assert(r:manifest("img/multi-docker", "v1"))
    assert.equal(content.DOCKER_LIST, list.media_type)
    assert.equal(d.multi_docker, list.digest)
    assert.equal(2, #list.manifests)
    for _, child in ipairs(list.manifests) do
      assert.equal(content.DOCKER_MANIFEST, assert(r:head("img/multi-docker", child.digest)).media_type)
    end
  end)

  local function check_complete(client, repo, top_digest)
    local top = assert(client:manifest(repo, top_digest))
    local children = top.manifests or {top}
    for _, child in ipairs(children) do
      local m = top.manifests and assert(client:manifest(repo, child.digest)) or top
      assert.equal(m.config.size, assert(client:blob_head(repo, m.config.digest)).size)
      for _, layer in ipairs(m.layers) do
        assert.equal(layer.size, assert(client:blob_head(repo, layer.digest)).size)
      end
    end
    return top
  end

  it("copies a whole index (every platform) to another repository", function()
    assert.equal(d.multi, assert(r:copy("img/multi:v1", "copies/multi:v1")))
    assert.equal(d.multi, assert(r:head("copies/multi", "v1")).digest)
    assert.equal(2, #check_complete(r, "copies/multi", d.multi).manifests)
  end)

  it("copies a whole index to another registry instance", function()
    assert.equal(d.multi, assert(r:copy("img/multi:v1", "mirror/multi:v1", {to = r2})))
    local top = check_complete(r2, "mirror/multi", d.multi)
    -- the layer bytes arrived intact
    local m = assert(r2:manifest("mirror/multi", top.manifests[2].digest))
    local blob = assert(r2:blob_get("mirror/multi", m.layers[1].digest))
    assert.equal(m.layers[1].digest, content.sha256(blob))
  end)

  it("copies a Docker image between registries with regsh.registry.copy", function()
    local got = assert(registry.copy(reg.host .. "/img/docker:v1", reg2.host .. "/mirror/docker:v1", {}))
    assert.equal(d.docker, got)
    local m = check_complete(r2, "mirror/docker", d.docker)
    assert.equal(content.DOCKER_MANIFEST, m.media_type)
  end)

  it("uploads chunked, downloads to a file, and mounts across repositories", function()
    local data = string.rep("0123456789abcdef", 200000)  -- 3.2 MB
    local bd = assert(r:blob_upload("blobs/a", data, {chunk_size = 1024 * 1024}))
    assert.equal(content.sha256(data), bd)
    local path = os.tmpname()
    assert.is_true(r:blob_get("blobs/a", bd, {output = path}))
    local f = assert(io.open(path, "rb"))
    local back = f:read("a")
    f:close()
    os.remove(path)
    assert.equal(#data, #back)
    assert.is_true(back == data)
    assert.is_true(r:blob_mount("blobs/b", bd, "blobs/a"))
    assert.equal(#data, assert(r:blob_head("blobs/b", bd)).size)
  end)

  describe("referrers", function()
    local subject

    setup(function()
      local h = assert(r:head("img/oci", "v1"))
      subject = {mediaType = h.media_type, digest = h.digest, size = h.size}
    end)

    it("finds a referrer through the sha256-<hex> fallback tag", function()
      local ad, raw = assert(content.push_artifact(r, "img/oci", subject,
        "application/vnd.example.sbom+json", '{"sbom":"test"}'))
      assert.equal(content.sha256(raw), ad)
      -- the fallback index, as an OCI 1.1 client maintains it on a 2.8 registry
      local tag = "sha256-" .. subject.digest:sub(8)
      local existing = r:manifest("img/oci", tag)
      local entries = {}
      for _, e in ipairs(existing and existing.manifests or {}) do
        if e.digest ~= ad then entries[#entries + 1] = string.format(
          '{"mediaType":"%s","digest":"%s","size":%d,"artifactType":"%s"}',
          e.mediaType, e.digest, e.size, e.artifactType or "") end
      end
      entries[#entries + 1] = string.format(
        '{"mediaType":"%s","digest":"%s","size":%d,"artifactType":"%s"}',
        content.OCI_MANIFEST, ad, #raw, "application/vnd.example.sbom+json")
      local index = string.format('{"schemaVersion":2,"mediaType":"%s","manifests":[%s]}',
        content.OCI_INDEX, table.concat(entries, ","))
      assert(r:put_manifest("img/oci", tag, index, content.OCI_INDEX))
      local refs = assert(r:referrers("img/oci", subject.digest))
      local found
      for _, e in ipairs(refs) do if e.digest == ad then found = e end end
      assert.is_table(found, "the artifact is not among the referrers")
      assert.equal("application/vnd.example.sbom+json", found.artifactType)
      -- filtered by artifact type
      assert.equal(0, #assert(r:referrers("img/oci", subject.digest, "application/vnd.other")))
      local only = assert(r:referrers("img/oci", subject.digest, "application/vnd.example.sbom+json"))
      assert.is_true(#only >= 1)
      for _, e in ipairs(only) do assert.equal("application/vnd.example.sbom+json", e.artifactType) end
    end)

    it("finds a referrer pushed with put_manifest alone (the client keeps the fallback tag)", function()
      local h = assert(r:head("img/docker", "v1"))
      local s = {mediaType = h.media_type, digest = h.digest, size = h.size}
      local ad = assert(content.push_artifact(r, "img/docker", s,
        "application/vnd.dev.cosign.artifact.sig.v1+json", "signature-bytes"))
      local refs = assert(r:referrers("img/docker", s.digest))
      local found = false
      for _, e in ipairs(refs) do if e.digest == ad then found = true end end
      assert.is_true(found, "put_manifest of a manifest with a subject did not update the "
        .. "sha256-<hex> referrers tag on a registry without the referrers API")
    end)

    it("takes deleted referrers out of the fallback index, and the index when empty", function()
      local repo = "img/lonely"  -- a subject of its own: no other spec's referrers
      local sd = assert(content.push_image(r, repo, "v1"))
      local h = assert(r:head(repo, sd))
      local s = {mediaType = h.media_type, digest = h.digest, size = h.size}
      local a = assert(content.push_artifact(r, repo, s, "application/vnd.example.a", "a-bytes"))
      local b = assert(content.push_artifact(r, repo, s, "application/vnd.example.b", "b-bytes"))
      local function listed()
        local out = {}
        for _, e in ipairs(assert(r:referrers(repo, s.digest))) do out[#out + 1] = e.digest end
        table.sort(out)
        return table.concat(out, " ")
      end
      local both = {a, b}
      table.sort(both)
      assert.equal(table.concat(both, " "), listed())
      assert.is_true(r:delete(repo, a, {subject = s.digest}))
      assert.equal(b, listed())
      -- with subject = true the client reads the subject from the manifest itself
      assert.is_true(r:delete(repo, b, {subject = true}))
      assert.equal("", listed())
      local _, _, code = r:head(repo, "sha256-" .. s.digest:sub(8))
      assert.equal("ENOTFOUND", code)  -- the emptied index went, and its tag with it
      assert.equal(sd, assert(r:head(repo, "v1")).digest)  -- the subject stays
      assert.is_true(r:delete(repo, a, {subject = s.digest}))  -- again: still done
      assert.has_error(function() r:delete(repo, b, {subject = "not-a-digest"}) end)
    end)

    it("finds a cosign-style sha256-<hex>.sig tag", function()
      local repo = "img/multi-docker"
      local h = assert(r:head(repo, "v1"))
      assert(r:blob_upload(repo, "{}"))
      local payload = "cosign signature payload"
      local pd = assert(r:blob_upload(repo, payload))
      local raw = string.format('{"schemaVersion":2,"mediaType":"%s","config":{"mediaType":"%s",'
        .. '"digest":"%s","size":2},"layers":[{"mediaType":'
        .. '"application/vnd.dev.cosign.simplesigning.v1+json","digest":"%s","size":%d}]}',
        content.OCI_MANIFEST, content.OCI_EMPTY, content.sha256("{}"), pd, #payload)
      local sd = assert(r:put_manifest(repo, "sha256-" .. h.digest:sub(8) .. ".sig", raw,
        content.OCI_MANIFEST))
      local found = false
      for _, e in ipairs(assert(r:referrers(repo, h.digest))) do
        if e.digest == sd then found = true end
      end
      assert.is_true(found, "the .sig tag's manifest is not among the referrers")
    end)

    it("returns an empty list for a digest nothing refers to", function()
      local h = assert(r:head("img/multi", "v1"))
      assert.same({}, assert(r:referrers("img/multi", h.digest)))
    end)
  end)
end)
