-- The registry client (regsh.registry) against a real docker-registry 2.8,
-- anonymous and with htpasswd Basic auth; plus, through a fault proxy in front
-- of one, what a healthy registry never shows (the headers sent, a storage
-- redirect elsewhere, Link loops). Faults, tokens, integrity and pagination
-- have specs of their own (registry_*_spec.lua); the commands built on the
-- client are in registry_cli_spec.lua.
local registry = require "regsh.registry"
local json = require "regsh.json"
local digest = require "regsh.digest"
local support = require "support.registry"
local servers = require "support.servers"

local OCI_MANIFEST = registry.media_types.oci_manifest
local OCI_INDEX = registry.media_types.oci_index
local DOCKER_MANIFEST = registry.media_types.docker_manifest

-- Build and push a tiny image in Lua: a config blob, a layer blob, a manifest.
local function push_image(reg, repository, tag, opts)
  opts = opts or {}
  local config = json.encode({architecture = opts.arch or "amd64", os = "linux",
    created = opts.created or "2024-01-02T03:04:05Z",
    config = {Labels = {["org.example.name"] = repository}}})
  local layer = opts.layer
    or ("layer of " .. repository .. ":" .. tostring(tag) .. " " .. (opts.arch or ""))
  local config_digest = assert(reg:blob_upload(repository, config))
  local layer_digest = assert(reg:blob_upload(repository, layer))
  local docker = opts.docker
  local m = {
    schemaVersion = 2,
    mediaType = docker and DOCKER_MANIFEST or OCI_MANIFEST,
    config = {digest = config_digest, size = #config,
              mediaType = docker and registry.media_types.docker_config
                or registry.media_types.oci_config},
    layers = {{digest = layer_digest, size = #layer,
               mediaType = docker and "application/vnd.docker.image.rootfs.diff.tar.gzip"
                 or "application/vnd.oci.image.layer.v1.tar"}},
  }
  local raw = json.encode(m)
  local d = assert(reg:put_manifest(repository, tag or digest.string(raw), raw, m.mediaType))
  return d, raw, {config = config_digest, layer = layer_digest}
end

-- An OCI index over two single-platform images.
local function push_index(reg, repository, tag)
  local amd = push_image(reg, repository, nil, {arch = "amd64"})
  local arm = push_image(reg, repository, nil, {arch = "arm64"})
  local raw = json.encode({schemaVersion = 2, mediaType = OCI_INDEX, manifests = {
    {mediaType = OCI_MANIFEST, digest = amd, size = #assert(reg:manifest(repository, amd)).raw,
     platform = {os = "linux", architecture = "amd64"}},
    {mediaType = OCI_MANIFEST, digest = arm, size = #assert(reg:manifest(repository, arm)).raw,
     platform = {os = "linux", architecture = "arm64"}},
  }})
  return assert(reg:put_manifest(repository, tag, raw, OCI_INDEX)), amd, arm
end

local function quiet() end

local function log_collector()
  local lines = {}
  return function(level, message) lines[#lines + 1] = level .. " " .. message end, lines
end

describe("registry client against docker-registry 2.8 #disk", function()
  local server, reg

  lazy_setup(function()
    server = support.start()
    reg = assert(registry.open(server.host, {log = quiet}))
  end)

  lazy_teardown(function() support.stop(server) end)

  it("puts, heads, gets and deletes an OCI manifest", function()
    local d, raw = push_image(reg, "round/trip", "v1")
    assert.equal(digest.string(raw), d)
    local head = assert(reg:head("round/trip", "v1"))
    assert.same({d, OCI_MANIFEST, #raw}, {head.digest, head.media_type, head.size})
    local m = assert(reg:manifest("round/trip", "v1"))
    assert.equal(raw, m.raw)
    assert.equal(d, m.digest)
    assert.equal(OCI_MANIFEST, m.media_type)
    assert.equal(#raw, m.size)
    assert.equal(2, m.schemaVersion)
    local by_digest = assert(reg:manifest("round/trip", d))
    assert.equal(raw, by_digest.raw)
    assert.is_true(reg:delete("round/trip", d))
    local gone, err, code = reg:manifest("round/trip", "v1")
    assert.is_nil(gone)
    assert.equal("ENOTFOUND", code)
    assert.matches(server.host .. "/round/trip:v1", err, 1, true)
  end)
end)

describe("registry client against docker-registry 2.8", function()
  local server, reg

  lazy_setup(function()
    server = support.start()
    reg = assert(registry.open(server.host, {log = quiet}))
  end)

  lazy_teardown(function() support.stop(server) end)

  it("pings the registry anonymously", function()
    assert.is_true(reg:ping())
    assert.equal("regsh.registry (" .. server.host .. ")", tostring(reg))
  end)

  it("puts a Docker schema2 manifest and reads its config", function()
    local d = push_image(reg, "docker/app", "v1", {docker = true, created = "2023-05-06T07:08:09Z"})
    local m = assert(reg:manifest("docker/app", "v1"))
    assert.equal(DOCKER_MANIFEST, m.media_type)
    assert.equal(d, m.digest)
    local config = assert(reg:config("docker/app", m))
    assert.equal("2023-05-06T07:08:09Z", config.created)
    assert.equal("docker/app", config.config.Labels["org.example.name"])
    assert.equal("2023-05-06T07:08:09Z", assert(reg:config("docker/app", "v1")).created)
  end)

  it("reads an OCI index and its platforms' configs", function()
    local index, amd, arm = push_index(reg, "multi/app", "v1")
    local m = assert(reg:manifest("multi/app", "v1"))
    assert.equal(OCI_INDEX, m.media_type)
    assert.equal(index, m.digest)
    assert.same({amd, arm}, {m.manifests[1].digest, m.manifests[2].digest})
    assert.equal("amd64", assert(reg:config("multi/app", "v1")).architecture)
    assert.equal("arm64", assert(reg:config("multi/app", arm)).architecture)
  end)

  it("puts a manifest given as a table, by tag and by its digest", function()
    local cd = assert(reg:blob_upload("table/app", "{}"))
    local t = {schemaVersion = 2, mediaType = OCI_MANIFEST, layers = json.array(),
               config = {mediaType = registry.media_types.oci_config, digest = cd, size = 2}}
    local d = assert(reg:put_manifest("table/app", "v1", t))
    assert.equal(d, assert(reg:head("table/app", "v1")).digest)
    assert.equal(d, assert(reg:put_manifest("table/app", d, t)))
    local res, err, code = reg:put_manifest("table/app", "sha256:" .. string.rep("0", 64), t)
    assert.is_nil(res)
    assert.equal("EDIGEST", code, err)
  end)

  it("answers ENOTFOUND for a missing manifest, blob and repository", function()
    local _, err, code = reg:head("nothing/here", "v1")
    assert.equal("ENOTFOUND", code)
    assert.matches("nothing/here:v1", err, 1, true)
    _, _, code = reg:manifest("nothing/here", "sha256:" .. string.rep("1", 64))
    assert.equal("ENOTFOUND", code)
    _, _, code = reg:blob_head("nothing/here", "sha256:" .. string.rep("2", 64))
    assert.equal("ENOTFOUND", code)
    _, err, code = reg:tags("nothing/here")
    assert.equal("ENOTFOUND", code)
    assert.matches("nothing/here", err, 1, true)
  end)

  it("counts a second delete, and a delete of what never existed, as done", function()
    local d = push_image(reg, "twice/app", "v1")
    assert.is_true(reg:delete("twice/app", d))
    assert.is_true(reg:delete("twice/app", d))
    assert.is_true(reg:delete("twice/app", "sha256:" .. string.rep("3", 64)))
  end)

  it("untags on distribution 2.8 (by a throwaway manifest) and keeps the manifest", function()
    local d = push_image(reg, "untag/app", "v1")
    local ok, removed = reg:untag("untag/app", "v1")
    assert.is_true(ok, removed)
    assert.is_true(removed)
    local _, _, code = reg:head("untag/app", "v1")
    assert.equal("ENOTFOUND", code)
    assert.equal(d, assert(reg:head("untag/app", d)).digest)
  end)

  it("rejects malformed arguments with EREF and raises on misuse", function()
    local _, err, code = reg:manifest("Upper/Case", "v1")
    assert.equal("EREF", code)
    assert.matches("Upper/Case", err, 1, true)
    _, _, code = reg:manifest("ok/name", "bad tag")
    assert.equal("EREF", code)
    _, _, code = reg:delete("ok/name", "v1")
    assert.equal("EREF", code)
    local ok, misuse = pcall(reg.manifest, reg, nil, "v1")
    assert.is_false(ok)
    assert.matches("bad argument #1 to '[%w.:]*manifest' %(repository name expected, got nil%)",
      misuse)
    assert.has_error(function() registry.open(server.host, {colour = "blue"}) end,
      "open: unknown option 'colour'")
    assert.has_error(function() registry.open(server.host, {timeout = "10"}) end,
      "open: option 'timeout' must be a number, got string")
    assert.has_error(function() registry.open(server.host, {password = "x"}) end,
      "open: option 'password' needs 'username' too")
    local none, open_err, open_code = registry.open("not a host")
    assert.is_nil(none)
    assert.equal("EREF", open_code, open_err)
    none, open_err, open_code = registry.open("http://registry.example.com")
    assert.is_nil(none)
    assert.equal("EREF", open_code)
    assert.matches("insecure", open_err, 1, true)
    assert.truthy(registry.open("http://registry.example.com", {insecure = true}))
  end)

  describe("blobs", function()
    it("uploads monolithically and reads back verified bytes", function()
      local data = "hello blob " .. string.rep("x", 3000)
      local d = assert(reg:blob_upload("blobs/app", data))
      assert.equal(digest.string(data), d)
      assert.equal(#data, assert(reg:blob_head("blobs/app", d)).size)
      assert.equal(data, assert(reg:blob_get("blobs/app", d)))
    end)

    it("uploads in chunks and from a file, and downloads to a file", function()
      local data = string.rep("0123456789abcdef", 4096) .. "tail"
      local d = assert(reg:blob_upload("blobs/chunked", data, {chunk_size = 10000}))
      assert.equal(digest.string(data), d)
      assert.equal(data, assert(reg:blob_get("blobs/chunked", d)))
      local path = os.tmpname()
      local f = assert(io.open(path, "wb"))
      f:write(data .. "file")
      f:close()
      local fd = assert(reg:blob_upload("blobs/file", {path = path}, {chunk_size = 7000}))
      assert.equal(digest.string(data .. "file"), fd)
      os.remove(path)
      assert.is_true(reg:blob_get("blobs/file", fd, {output = path}))
      assert.equal(data .. "file", assert(io.open(path, "rb")):read("a"))
      os.remove(path)
    end)

    it("mounts a blob from another repository, and reports false when it cannot", function()
      local d = assert(reg:blob_upload("blobs/source", "mount me"))
      assert.is_true(reg:blob_mount("blobs/target", d, "blobs/source"))
      assert.equal("mount me", assert(reg:blob_get("blobs/target", d)))
      local unknown = "sha256:" .. string.rep("4", 64)
      assert.is_false(reg:blob_mount("blobs/target", unknown, "blobs/source"))
    end)

    it("answers ENOTFOUND for a missing blob", function()
      local _, err, code = reg:blob_get("blobs/app", "sha256:" .. string.rep("5", 64))
      assert.equal("ENOTFOUND", code)
      assert.matches("blobs/app@sha256:5555", err, 1, true)
    end)
  end)

  describe("listing", function()
    lazy_setup(function()
      for i = 1, 5 do push_image(reg, string.format("list/r%d", i), "v1") end
    end)

    it("walks the catalog in pages of page_size", function()
      local paged = assert(registry.open(server.host, {page_size = 2, log = quiet}))
      local all = assert(reg:repositories("^list/"))
      assert.same({"list/r1", "list/r2", "list/r3", "list/r4", "list/r5"}, all)
      assert.same(all, assert(paged:repositories("^list/")))
      local seen = {}
      for name in paged:each_repository("^list/") do seen[#seen + 1] = name end
      assert.same(all, seen)
    end)

    it("follows the catalog's relative Link header page by page", function()
      local log, lines = log_collector()
      local paged = assert(registry.open(server.host, {page_size = 2, log = log}))
      assert(paged:repositories())
      local pages = 0
      for _, line in ipairs(lines) do
        if line:find("GET http://[^ ]*/v2/_catalog") then pages = pages + 1 end
      end
      -- distribution sends no Link after a page that ends the list exactly
      local total = #assert(reg:repositories())
      assert.is_true(pages == (total + 1) // 2 or pages == total // 2 + 1,
        pages .. " pages for " .. total)
    end)

    it("lists tags", function()
      for _, tag in ipairs({"b", "a", "c"}) do push_image(reg, "list/tags", tag) end
      local names = {}
      for _, t in ipairs(assert(reg:tags("list/tags"))) do names[#names + 1] = t.name end
      table.sort(names)
      assert.same({"a", "b", "c"}, names)
      local iterated = {}
      for t in reg:each_tag("list/tags") do iterated[#iterated + 1] = t.name end
      table.sort(iterated)
      assert.same(names, iterated)
    end)
  end)

  describe("copy", function()
    it("copies an index with every platform to another repository", function()
      local index, amd, arm = push_index(reg, "copy/src", "v1")
      assert.equal(index, assert(reg:copy("copy/src:v1", "copy/dst:v2")))
      assert.equal(index, assert(reg:head("copy/dst", "v2")).digest)
      for _, child in ipairs({amd, arm}) do
        local m = assert(reg:manifest("copy/dst", child))
        assert.truthy(reg:blob_head("copy/dst", m.config.digest))
        assert.truthy(reg:blob_head("copy/dst", m.layers[1].digest))
      end
    end)

    it("keeps the source tag when the destination names none", function()
      local d = push_image(reg, "copy/plain", "keep")
      assert.equal(d, assert(registry.copy(server.host .. "/copy/plain:keep",
        server.host .. "/copy/plain-copy", {log = quiet})))
      assert.equal(d, assert(reg:head("copy/plain-copy", "keep")).digest)
    end)

    it("copies between two registries", function()
      local other = support.start()
      local ok, err = pcall(function()
        local d = push_image(reg, "copy/cross", "v1")
        assert.equal(d, assert(registry.copy(server.host .. "/copy/cross:v1",
          other.host .. "/landed/here:v9", {log = quiet})))
        local there = assert(registry.open(other.host, {log = quiet}))
        local m = assert(there:manifest("landed/here", "v9"))
        assert.equal(d, m.digest)
        assert.truthy(there:blob_head("landed/here", m.layers[1].digest))
      end)
      support.stop(other)
      assert(ok, err)
    end)

    it("takes separate credentials for the source and the destination", function()
      local locked = support.start({htpasswd = {dora = "dora-pass-1"}})
      local ok, err = pcall(function()
        local d = push_image(reg, "copy/creds", "v1")
        local _, _, code = registry.copy(server.host .. "/copy/creds:v1",
          locked.host .. "/in/locked:v1", {log = quiet})
        assert.equal("EAUTH", code)
        assert.equal(d, assert(registry.copy(server.host .. "/copy/creds:v1",
          locked.host .. "/in/locked:v1",
          {log = quiet, destination = {username = "dora", password = "dora-pass-1"}})))
        local there = assert(registry.open(locked.host,
          {username = "dora", password = "dora-pass-1", log = quiet}))
        assert.equal(d, assert(there:head("in/locked", "v1")).digest)
      end)
      support.stop(locked)
      assert(ok, err)
    end)

    it("fails with ENOTFOUND naming a missing source", function()
      local _, err, code = reg:copy("copy/none:v1", "copy/x:v1")
      assert.equal("ENOTFOUND", code)
      assert.matches("copy/none:v1", err, 1, true)
    end)
  end)

  describe("dry run", function()
    it("refuses every write with EDRYRUN, logs it, and leaves the registry unchanged", function()
      local d, raw = push_image(reg, "dry/app", "v1")
      local log, lines = log_collector()
      local dry = assert(registry.open(server.host, {dry_run = true, log = log}))
      local repositories_before = assert(reg:repositories())
      local attempts = {
        function() return dry:delete("dry/app", d) end,
        function() return dry:put_manifest("dry/app", "v2", raw, OCI_MANIFEST) end,
        function() return dry:blob_upload("dry/new", "never stored") end,
        function() return dry:blob_mount("dry/new", d, "dry/app") end,
        function() return dry:copy("dry/app:v1", "dry/copy:v1") end,
      }
      for i, attempt in ipairs(attempts) do
        local ok, err, code = attempt()
        assert.is_nil(ok, "write " .. i .. " was not refused")
        assert.equal("EDRYRUN", code, err)
        assert.matches("^EDRYRUN: would ", err)
      end
      -- an untag is previewed, not just gated: the tag is read first
      local _, untag_err, untag_code = dry:untag("dry/app", "v1")
      assert.equal("EDRYRUN", untag_code, untag_err)
      assert.equal("EDRYRUN: would untag " .. server.host .. "/dry/app:v1", untag_err)
      assert.matches("would delete " .. server.host .. "/dry/app@" .. d,
        table.concat(lines, "\n"), 1, true)
      -- reads still work, and nothing changed
      assert.equal(d, assert(dry:head("dry/app", "v1")).digest)
      assert.same(repositories_before, assert(reg:repositories()))
      assert.equal(1, #assert(reg:tags("dry/app")))
      local _, _, code = reg:head("dry/app", "v2")
      assert.equal("ENOTFOUND", code)
      _, _, code = reg:head("dry/copy", "v1")
      assert.equal("ENOTFOUND", code)
    end)
  end)

  describe("referrers", function()
    it("finds an index under the sha256-<hex> fallback tag and cosign's .sig tag", function()
      local subject = push_image(reg, "ref/app", "v1")
      local sbom = push_image(reg, "ref/app", nil, {layer = "an sbom"})
      local sbom_raw = assert(reg:manifest("ref/app", sbom)).raw
      local fallback = subject:gsub(":", "-")
      local index = json.encode({schemaVersion = 2, mediaType = OCI_INDEX,
        manifests = {{mediaType = OCI_MANIFEST, digest = sbom, size = #sbom_raw,
                      artifactType = "application/spdx+json"}}})
      assert(reg:put_manifest("ref/app", fallback, index, OCI_INDEX))
      local sig = push_image(reg, "ref/app", fallback .. ".sig", {layer = "a signature"})
      local list = assert(reg:referrers("ref/app", subject))
      local by_digest = {}
      for _, d in ipairs(list) do by_digest[d.digest] = d end
      assert.equal(2, #list)
      assert.equal("application/spdx+json", by_digest[sbom].artifactType)
      assert.equal("signature", by_digest[sig].kind)
      local only = assert(reg:referrers("ref/app", subject, "application/spdx+json"))
      assert.equal(1, #only)
      assert.equal(sbom, only[1].digest)
      assert.same({}, assert(reg:referrers("ref/app", sbom)))
    end)

    it("keeps the fallback index itself when a manifest with a subject is pushed", function()
      local subject = push_image(reg, "ref/pushed", "v1")
      local head = assert(reg:head("ref/pushed", "v1"))
      local cd = assert(reg:blob_upload("ref/pushed", "{}"))
      local function artifact(kind)
        return assert(reg:put_manifest("ref/pushed", "art-" .. kind, {schemaVersion = 2,
          mediaType = OCI_MANIFEST, artifactType = "application/vnd.example." .. kind,
          config = {mediaType = "application/vnd.oci.empty.v1+json", digest = cd, size = 2},
          layers = json.array(),
          subject = {mediaType = head.media_type, digest = subject, size = head.size}}))
      end
      local first, second = artifact("sbom"), artifact("sig")
      local index = assert(reg:manifest("ref/pushed", (subject:gsub(":", "-"))))
      assert.equal(2, #index.manifests)
      local types = {}
      for _, d in ipairs(assert(reg:referrers("ref/pushed", subject))) do
        types[d.digest] = d.artifactType
      end
      assert.same({[first] = "application/vnd.example.sbom",
                   [second] = "application/vnd.example.sig"}, types)
      artifact("sbom")  -- pushed again: listed once
      assert.equal(2, #assert(reg:manifest("ref/pushed", (subject:gsub(":", "-")))).manifests)
    end)
  end)

  describe("failures of the connection", function()
    it("fails fast with ECONNREFUSED naming the host when nothing listens", function()
      local port = server.port + 1
      local closed = assert(registry.open("127.0.0.1:" .. port, {retries = 0, log = quiet}))
      local _, err, code = closed:tags("x")
      assert.equal("ECONNREFUSED", code, err)
      assert.matches("127.0.0.1:" .. port, err, 1, true)
    end)

    it("reports an unknown host as EHOST, not ENOTFOUND", function()
      local nowhere = assert(registry.open("no-such-host.invalid", {retries = 0, log = quiet}))
      local _, err, code = nowhere:head("x", "v1")
      assert.equal("EHOST", code, err)
      assert.matches("no-such-host.invalid", err, 1, true)
    end)
  end)
end)

describe("registry client with htpasswd Basic auth", function()
  local PASSWORD = "wonder-land-secret-42"
  local server

  lazy_setup(function() server = support.start({htpasswd = {alice = PASSWORD}}) end)
  lazy_teardown(function() support.stop(server) end)

  it("pushes and reads with the right credentials", function()
    local reg = assert(registry.open(server.host,
      {username = "alice", password = PASSWORD, log = quiet}))
    local d = push_image(reg, "auth/app", "v1")
    assert.equal(d, assert(reg:head("auth/app", "v1")).digest)
    assert.same({"auth/app"}, assert(reg:repositories()))
  end)

  it("fails with EAUTH and a hint when no credentials are found", function()
    local reg = assert(registry.open(server.host, {log = quiet, docker_config = "/nonexistent",
      auth_file = "/nonexistent.json"}))
    local _, err, code = reg:tags("auth/app")
    assert.equal("EAUTH", code, err)
    assert.matches("regsh login " .. server.host, err, 1, true)
  end)

  it("fails with EAUTH naming the user but never the password", function()
    local log, lines = log_collector()
    local wrong = "not-the-" .. PASSWORD
    local reg = assert(registry.open(server.host,
      {username = "alice", password = wrong, log = log}))
    local _, err, code = reg:head("auth/app", "v1")
    assert.equal("EAUTH", code, err)
    assert.matches("alice", err, 1, true)
    assert.matches(server.host, err, 1, true)
    local everything = err .. table.concat(lines, "\n") .. tostring(reg)
    assert.is_nil(everything:find(wrong, 1, true))
    local encoded = require("regsh.registry.base64").encode("alice:" .. wrong)
    assert.is_nil(everything:find(encoded, 1, true))
  end)
end)

describe("registry client through a fault proxy (Basic auth)", function()
  -- what a healthy registry never shows, with tests/support/fault_proxy.py in
  -- front of a real docker-registry: the headers the client sends (from the
  -- proxy's request log), a storage redirect to another origin, null lists and
  -- Link loops, a host that is not loopback
  local PASSWORD = "proxied-secret-77"
  local STORED = "stored elsewhere"
  local server, fp, storage, pushed

  local function client(opts, host)
    local o = {username = "carol", password = PASSWORD, log = quiet, retries = 0}
    for k, v in pairs(opts or {}) do o[k] = v end
    return assert(registry.open(host or fp.host, o))
  end

  lazy_setup(function()
    server, fp = servers.proxied_registry{htpasswd = {carol = PASSWORD}}
    storage = servers.fault_proxy(server.url)  -- another port: another origin
    local direct = assert(registry.open(server.host,
      {username = "carol", password = PASSWORD, log = quiet}))
    local d, _, blobs = push_image(direct, "prox/app", "v1", {layer = STORED})
    pushed = {digest = d, layer = blobs.layer}
  end)

  lazy_teardown(function() servers.stop_all(storage, fp, server) end)

  before_each(function()
    fp:clear()
    storage:clear()
  end)

  it("asks for OCI and Docker manifests and indexes, */* last", function()
    assert.equal(pushed.digest, assert(client():manifest("prox/app", "v1")).digest)
    local gets = fp:log("/manifests/v1$")
    local accept = gets[#gets].accept
    local wanted = {OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, registry.media_types.docker_list}
    for _, t in ipairs(wanted) do
      assert.truthy(accept:find(t, 1, true), t .. " is missing from " .. accept)
    end
    assert.matches("%*/%*$", accept)
  end)

  it("sends its user_agent with every request, regsh/<version> by default", function()
    local reg = client{user_agent = "purge-bot/2 (+ops)"}
    assert(reg:head("prox/app", "v1"))
    local seen = fp:log()
    assert.is_true(#seen >= 2)  -- the ping and the HEAD
    for _, e in ipairs(seen) do assert.equal("purge-bot/2 (+ops)", e.user_agent, e.path) end
    fp:clear()
    assert(client():head("prox/app", "v1"))
    for _, e in ipairs(fp:log()) do assert.matches("^regsh/%d", e.user_agent) end
  end)

  it("follows a blob redirect to storage elsewhere without sending credentials there", function()
    local path = "/v2/prox/app/blobs/" .. pushed.layer
    fp:add{action = "redirect", status = 307, match = "/blobs/" .. pushed.layer .. "$",
           location = storage.url .. path .. "?sig=1"}
    storage:add{action = "status", status = 200, match = "sig=1$", body = STORED,
                content_type = "application/octet-stream"}
    assert.equal(STORED, assert(client():blob_get("prox/app", pushed.layer)))
    local asked = fp:log("/blobs/")
    assert.equal(1, #asked)
    assert.equal("Basic", asked[1].auth)  -- the registry itself gets them
    local served = storage:log("sig=1$")
    assert.equal(1, #served)
    assert.equal("", served[1].auth)
  end)

  it("reads a null tag list as empty and ends a walk whose Link points back at itself", function()
    fp:add{action = "status", status = 200, match = "^/v2/prox/empty/tags/list",
           body = '{"name":"prox/empty","tags":null}'}
    fp:add{action = "status", status = 200, match = "^/v2/prox/loop/tags/list", times = -1,
           body = '{"name":"prox/loop","tags":["x"]}',
           headers = {Link = '</v2/prox/loop/tags/list?n=2>; rel="next"'}}
    local reg = client{page_size = 2}
    assert.same({}, assert(reg:tags("prox/empty")))
    local names = {}
    for t in reg:each_tag("prox/loop") do
      names[#names + 1] = t.name
      if #names > 3 then break end  -- a walk that loops: stop it here
    end
    assert.same({"x"}, names)
    assert.equal(1, #fp:log("^/v2/prox/loop/"))
  end)

  it("speaks plain HTTP to a host that is not loopback only when insecure", function()
    -- 0.0.0.0 reaches this machine (Linux connects it to 127.0.0.1), but it is
    -- no loopback name, so the client must not fall back to plain HTTP unasked
    local far = "0.0.0.0:" .. fp.port
    local ok, err, code = client({}, far):ping()
    assert.is_nil(ok)
    assert.equal("ETLS", code, err)
    assert.matches("insecure", err, 1, true)
    assert.is_true(client({insecure = true}, far):ping())
    assert.is_true(client():ping())  -- 127.0.0.1: plain HTTP without asking
  end)

  it("logs in only with credentials the registry accepts, and stores only those", function()
    local dir = os.tmpname()
    os.remove(dir)
    assert(os.execute("mkdir -p " .. support.shell_quote(dir)))
    local config = dir .. "/config.json"
    local ok, err, code = registry.login(fp.host, "carol", "not-" .. PASSWORD,
      {docker_config = config, log = quiet})
    assert.is_nil(ok)
    assert.equal("EAUTH", code, err)
    assert.is_nil(io.open(config))
    assert.is_true(registry.login(fp.host, "carol", PASSWORD, {docker_config = config, log = quiet}))
    local stored = json.decode_file(config)
    assert.equal(require("regsh.registry.base64").encode("carol:" .. PASSWORD),
      stored.auths[fp.host].auth)
    os.execute("rm -rf " .. support.shell_quote(dir))
  end)
end)

describe("registry client with a token service that cannot be reached", function()
  local server

  lazy_setup(function()
    -- the registry's challenge names a realm where nothing listens
    server = support.start{token = table.concat({"http://127.0.0.1:1/token", "regsh-test",
      "regsh-test-issuer", servers.pki().token_cert}, ",")}
  end)

  lazy_teardown(function() support.stop(server) end)

  it("names the code once, with the token service", function()
    local reg = assert(registry.open(server.host, {retries = 0, log = quiet}))
    local ok, err, code = reg:head("app", "v1")
    assert.is_nil(ok)
    assert.equal("ECONNREFUSED", code)
    assert.matches("^ECONNREFUSED: token service http://127%.0%.0%.1:1/token: ", err)
    local _, count = err:gsub("ECONNREFUSED", "")
    assert.equal(1, count, err)
  end)
end)
