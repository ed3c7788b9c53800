-- The registry client's layering where it can break: every write goes through
-- the one dry-run gate (a dry-run client sends no write request at all; the
-- fault proxy's request log in front of a real registry is the witness), and
-- the graph walk (reg:walk, which copy plans with) reaches an index's
-- children and every referrer, by the tag schema and cosign's tags too.
local registry = require "regsh.registry"
local regs = require "support.registry"
local servers = require "support.servers"
local content = require "support.content"

local function quiet() end

-- An image index of two content.push_image images, put under `tag`.
local function push_index(reg, repo, tag)
  local children = {}
  for i, arch in ipairs({"amd64", "arm64"}) do
    local d, raw = assert(content.push_image(reg, repo, tag .. "-" .. arch, {arch = arch}))
    children[i] = {mediaType = content.OCI_MANIFEST, digest = d, size = #raw,
                   platform = {os = "linux", architecture = arch}}
  end
  local raw = require("regsh.json").encode({schemaVersion = 2, mediaType = content.OCI_INDEX,
                                            manifests = children})
  local d = assert(reg:put_manifest(repo, tag, raw, content.OCI_INDEX))
  return {digest = d, size = #raw, mediaType = content.OCI_INDEX}, children
end

local function descriptor(d, raw)
  return {digest = d, size = #raw, mediaType = content.OCI_MANIFEST}
end

-- The requests in a proxy log that are not reads.
local function writes(log)
  local out = {}
  for _, e in ipairs(log) do
    if e.method ~= "GET" and e.method ~= "HEAD" then out[#out + 1] = e.method .. " " .. e.path end
  end
  return out
end

describe("registry layering", function()
  local server, fp, reg
  local index, children, sbom, sbom_sig, child_att, cosign_sig

  setup(function()
    server = regs.start{}
    fp = servers.fault_proxy(server.url)
    reg = assert(registry.open(server.host, {log = quiet}))
    local children_list
    index, children_list = push_index(reg, "g/app", "v1")
    children = children_list
    -- distribution 2.8 has no referrers API: these land in sha256-<hex> fallback indexes
    local raw
    sbom, raw = assert(content.push_artifact(reg, "g/app", index, "application/spdx+json",
      "an sbom"))
    sbom_sig = assert(content.push_artifact(reg, "g/app", descriptor(sbom, raw),
      "application/vnd.example.sig", "a signature of the sbom"))
    child_att = assert(content.push_artifact(reg, "g/app", children[1],
      "application/vnd.in-toto+json", "an attestation of amd64"))
    -- cosign's tag for a signature of the index
    cosign_sig = assert(content.push_image(reg, "g/app",
      index.digest:gsub(":", "-") .. ".sig", {label = "cosign"}))
  end)

  teardown(function()
    servers.stop(fp)
    regs.stop(server)
  end)

  describe("walk", function()
    -- every visit as {digest = {kind, from, position}}
    local function walk(opts)
      local visits, n = {}, 0
      assert(reg:walk("g/app", "v1", function(m, edge)
        n = n + 1
        assert.is_nil(visits[m.digest], "visited twice: " .. m.digest)
        visits[m.digest] = {kind = edge.kind, from = edge.from, position = n}
      end, opts))
      return visits, n
    end

    it("reaches an index's children and every referrer, each once, in a usable order", function()
      local visits, n = walk()
      assert.equal(7, n)
      assert.same({kind = "root", position = visits[index.digest].position},
        visits[index.digest])
      for _, c in ipairs(children) do
        assert.equal("child", visits[c.digest].kind)
        assert.equal(index.digest, visits[c.digest].from)
        assert.is_true(visits[c.digest].position < visits[index.digest].position)
      end
      local referrers = {
        {sbom, index.digest},             -- fallback index of the index
        {sbom_sig, sbom},                 -- a referrer's own referrer
        {child_att, children[1].digest},  -- a referrer of a child
        {cosign_sig, index.digest},       -- cosign's sha256-<hex>.sig tag
      }
      for _, r in ipairs(referrers) do
        local d, subject = r[1], r[2]
        assert.equal("referrer", visits[d].kind, d)
        assert.equal(subject, visits[d].from, d)
        assert.is_true(visits[d].position > visits[subject].position, d)
      end
    end)

    it("follows index children only with referrers = false", function()
      local visits, n = walk({referrers = false})
      assert.equal(3, n)
      assert.equal(3, visits[index.digest].position)
      assert.is_truthy(visits[children[1].digest] and visits[children[2].digest])
    end)

    it("stops at the first failure of visit, or of a manifest read", function()
      local calls = 0
      local ok, err, code = reg:walk("g/app", "v1", function()
        calls = calls + 1
        return nil, "EX: stop here", "EX"
      end)
      assert.same({nil, "EX: stop here", "EX"}, {ok, err, code})
      assert.equal(1, calls)
      ok, err, code = reg:walk("g/app", "missing", function() calls = calls + 1 end)
      assert.is_nil(ok)
      assert.equal("ENOTFOUND", code)
      assert.matches("g/app:missing", err, 1, true)
      assert.equal(1, calls)
    end)

    it("checks its arguments like every client method", function()
      local _, err, code = reg:walk("Bad/Name", "v1", quiet)
      assert.equal("EREF", code)
      assert.matches("Bad/Name", err, 1, true)
      assert.error_matches(function() reg:walk("g/app", "v1", "visit") end,
        "bad argument #3 to 'walk' %(function expected, got string%)")
      assert.error_matches(function() reg:walk("g/app", "v1", quiet, {depth = 1}) end,
        "walk: unknown option 'depth'")
    end)
  end)

  describe("the dry-run gate", function()
    before_each(function() fp:clear() end)

    it("is the only way out for writes: a dry-run client sends none", function()
      local sink = content.log_sink()
      local dry = assert(registry.open(fp.host, {dry_run = true, log = sink.fn}))
      local blob = assert(reg:manifest("g/app", children[1].digest)).layers[1].digest
      local attempts = {
        function() return dry:copy("g/app:v1", "g/mirror:v1") end,
        function() return registry.copy(fp.host .. "/g/app:v1", fp.host .. "/g/other:v1",
          {dry_run = true, log = sink.fn}) end,
        function() return dry:put_manifest("g/app", "v2", assert(reg:manifest("g/app", "v1")).raw)
        end,
        function() return dry:put_manifest("g/app", "att", content.artifact(index,
          "application/vnd.example", blob, 1)) end,
        function() return dry:delete("g/app", sbom_sig, {subject = true}) end,
        function() return dry:blob_upload("g/app", "bytes the registry has not seen") end,
        function() return dry:blob_mount("g/mirror", blob, "g/app") end,
      }
      for i, attempt in ipairs(attempts) do
        local ok, err, code = attempt()
        assert.is_nil(ok, "attempt " .. i)
        assert.equal("EDRYRUN", code, "attempt " .. i .. ": " .. tostring(err))
      end
      assert.equal(#attempts, select(2, sink.text():gsub("would ", "")))
      -- an untag (a throwaway manifest pushed, then deleted) writes nothing either
      assert.equal("EDRYRUN", select(3, dry:untag("g/app", "v1-amd64")))
      local log = fp:log()
      assert.is_true(#log >= #attempts)  -- they read (copy reads its source)
      assert.same({}, writes(log))
      -- nothing changed behind the proxy
      assert.equal("ENOTFOUND", select(3, reg:tags("g/mirror")))
      assert.equal(sbom_sig, assert(reg:head("g/app", sbom_sig)).digest)
    end)

    it("lets a live client's writes through, where the witness sees them", function()
      local live = assert(registry.open(fp.host, {log = quiet}))
      assert(live:blob_upload("g/app", "a witness blob"))
      assert.same({"POST", "PUT"}, (function()
        local methods = {}
        for i, w in ipairs(writes(fp:log())) do methods[i] = w:match("^%u+") end
        return methods
      end)())
    end)

    it("refuses a write request that bypassed it", function()
      assert.error_matches(function()
        reg.transport:request({method = "DELETE", path = "/v2/g/app/manifests/" .. index.digest})
      end, "did not pass the dry%-run gate")
      assert.equal(index.digest, assert(reg:head("g/app", "v1")).digest)
    end)
  end)
end)
