-- The registry client (regsh.registry) against a real docker-registry 2.8,
-- anonymous and with htpasswd Basic auth; plus the paths a healthy registry
-- never takes (HTML, bad digests, 429s, Bearer tokens, storage redirects),
-- driven through a scripted stand-in for regsh.http. The commands built on
-- the client are in registry_cli_spec.lua.
local registry = require "regsh.registry"
local json = require "regsh.json"
local digest = require "regsh.digest"
local support = require "support.registry"

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

  it("keeps at most `concurrency` requests in flight however many tasks ask", function()
    local d = push_image(reg, "limit/app", "v1")
    local limited = assert(registry.open(server.host, {concurrency = 2, log = quiet}))
    local real = require "regsh.http"
    local in_flight, peak = 0, 0
    limited.transport.http = {
      header_values = real.header_values,
      request = function(req)
        in_flight = in_flight + 1
        peak = math.max(peak, in_flight)
        local res, err, code = real.request(req)
        in_flight = in_flight - 1
        return res, err, code
      end,
    }
    local jobs = {}
    for i = 1, 12 do
      jobs[i] = function() return assert(limited:head("limit/app", "v1")).digest end
    end
    local digests = require("regsh.async").gather(jobs)
    for i = 1, 12 do assert.equal(d, digests[i]) end
    assert.equal(2, peak)
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

  it("refuses to untag on distribution 2.8 with ENOTSUP and keeps the tag", function()
    local d = push_image(reg, "untag/app", "v1")
    local ok, err, code = reg:untag("untag/app", "v1")
    assert.is_nil(ok)
    assert.equal("ENOTSUP", code)
    assert.matches("untag/app:v1", err, 1, true)
    assert.equal(d, assert(reg:head("untag/app", "v1")).digest)
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
        function() return dry:untag("dry/app", "v1") end,
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

describe("registry client against a scripted HTTP stand-in", function()
  -- Responses are scripted per "METHOD URL"; a list answers in turn, the last repeats.
  local function response(status, headers, body)
    local h, list = {}, {}
    for name, value in pairs(headers or {}) do
      h[name:lower()] = value
      list[#list + 1] = {name = name, value = value}
    end
    setmetatable(h, {__index = function(t, k) return rawget(t, k:lower()) end})
    return {status = status, headers = h, header_list = list, body = body or "", time = 0}
  end

  local function stand_in(routes)
    local requests, served = {}, {}
    local fake = {
      request = function(req)
        requests[#requests + 1] = req
        local key = req.method .. " " .. req.url
        local route = routes[key]
        if route == nil then return response(404, {}, "no route for " .. key) end
        if type(route) == "function" then return route(req) end
        served[key] = (served[key] or 0) + 1
        local r = route[math.min(served[key], #route)]
        if r.fail then return nil, r.fail, r.fail:match("^(%u+)") end
        local res = response(r[1], r[2], r[3])
        res.url = req.url
        return res
      end,
      header_values = function(res, name)
        local out = {}
        for _, h in ipairs(res.header_list) do
          if h.name:lower() == name:lower() then out[#out + 1] = h.value end
        end
        return out
      end,
    }
    return fake, requests
  end

  local HOST = "registry.test"
  local BASE = "https://" .. HOST

  -- A client whose requests go to the stand-in and whose sleeps are recorded.
  local function client(routes, opts)
    local o, host = {log = quiet}, HOST
    for k, v in pairs(opts or {}) do
      if k == "host" then host = v else o[k] = v end
    end
    local reg = assert(registry.open(host, o))
    local fake, requests = stand_in(routes)
    reg.transport.http = fake
    local slept = {}
    reg.transport.policy.sleep = function(s) slept[#slept + 1] = s end
    return reg, requests, slept
  end

  local manifest_raw = json.encode({schemaVersion = 2, mediaType = OCI_MANIFEST,
    config = {mediaType = registry.media_types.oci_config, size = 2,
              digest = "sha256:" .. string.rep("a", 64)},
    layers = {}})
  local manifest_digest = digest.string(manifest_raw)
  local ping = {{200, {}, "{}"}}

  it("asks for OCI and Docker manifests and indexes, */* last", function()
    local reg, requests = client({["GET " .. BASE .. "/v2/"] = ping,
      ["GET " .. BASE .. "/v2/app/manifests/v1"] = {{200, {["Content-Type"] = OCI_MANIFEST,
        ["Docker-Content-Digest"] = manifest_digest}, manifest_raw}}})
    assert.equal(manifest_digest, assert(reg:manifest("app", "v1")).digest)
    local accept = requests[2].headers.Accept
    local wanted = {OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, registry.media_types.docker_list}
    for _, t in ipairs(wanted) do
      assert.truthy(accept:find(t, 1, true), t)
    end
    assert.matches("%*/%*$", accept)
  end)

  it("rejects a manifest whose bytes do not hash to the digest asked for", function()
    local wanted = "sha256:" .. string.rep("b", 64)
    local reg = client({["GET " .. BASE .. "/v2/"] = ping,
      ["GET " .. BASE .. "/v2/app/manifests/" .. wanted] = {{200, {["Content-Type"] = OCI_MANIFEST},
        manifest_raw}}})
    local _, err, code = reg:manifest("app", wanted)
    assert.equal("EDIGEST", code)
    assert.matches(HOST .. "/app@" .. wanted, err, 1, true)
    assert.matches(manifest_digest, err, 1, true)
  end)

  it("rejects a manifest whose Docker-Content-Digest disagrees with its bytes", function()
    local reg = client({["GET " .. BASE .. "/v2/"] = ping,
      ["GET " .. BASE .. "/v2/app/manifests/v1"] = {{200, {["Content-Type"] = OCI_MANIFEST,
        ["Docker-Content-Digest"] = "sha256:" .. string.rep("c", 64)}, manifest_raw}}})
    local _, err, code = reg:manifest("app", "v1")
    assert.equal("EDIGEST", code)
    assert.matches("app:v1", err, 1, true)
  end)

  it("reports HTML and garbage JSON as EPROTO naming what was asked", function()
    local reg = client({["GET " .. BASE .. "/v2/"] = ping,
      ["GET " .. BASE .. "/v2/html/tags/list"] = {{200, {["Content-Type"] = "text/html"},
        "<html><body>Sign in</body></html>"}},
      ["GET " .. BASE .. "/v2/junk/tags/list"] = {{200, {["Content-Type"] = "application/json"},
        '{"tags": [tru'}},
      ["GET " .. BASE .. "/v2/junk/manifests/v1"] = {{200, {["Content-Type"] = OCI_MANIFEST},
        "\0\1garbage"}}})
    local _, err, code = reg:tags("html")
    assert.equal("EPROTO", code)
    assert.matches("HTML", err, 1, true)
    assert.matches(HOST .. "/html", err, 1, true)
    _, err, code = reg:tags("junk")
    assert.equal("EPROTO", code)
    assert.matches("invalid JSON", err, 1, true)
    _, err, code = reg:manifest("junk", "v1")
    assert.equal("EPROTO", code)
    assert.matches("junk:v1", err, 1, true)
  end)

  it("passes on ETOOBIG for an oversized body", function()
    local reg = client({["GET " .. BASE .. "/v2/"] = ping,
      ["GET " .. BASE .. "/v2/big/manifests/v1"] = {
        {fail = "ETOOBIG: response body larger than 4194304 bytes"}}})
    local _, err, code = reg:manifest("big", "v1")
    assert.equal("ETOOBIG", code)
    assert.matches("big:v1", err, 1, true)
  end)

  it("follows tag pages through relative and absolute Link headers; null is empty", function()
    local reg, requests = client({["GET " .. BASE .. "/v2/"] = ping,
      ["GET " .. BASE .. "/v2/app/tags/list?n=2"] = {{200,
        {Link = '</v2/app/tags/list?last=b&n=2>; rel="next"'}, '{"name":"app","tags":["a","b"]}'}},
      ["GET " .. BASE .. "/v2/app/tags/list?last=b&n=2"] = {{200,
        {Link = '<' .. BASE .. '/v2/app/tags/list?last=d&n=2>; rel="next"'},
        '{"name":"app","tags":["c","d"]}'}},
      ["GET " .. BASE .. "/v2/app/tags/list?last=d&n=2"] = {{200, {},
        '{"name":"app","tags":["e"]}'}},
      ["GET " .. BASE .. "/v2/empty/tags/list?n=2"] = {{200, {}, '{"name":"empty","tags":null}'}},
      ["GET " .. BASE .. "/v2/loop/tags/list?n=2"] = {{200,
        {Link = '</v2/loop/tags/list?n=2>; rel="next"'}, '{"tags":["x"]}'}},
    }, {page_size = 2})
    local names = {}
    for _, t in ipairs(assert(reg:tags("app"))) do names[#names + 1] = t.name end
    assert.same({"a", "b", "c", "d", "e"}, names)
    assert.equal(4, #requests)
    assert.same({}, assert(reg:tags("empty")))
    assert.same({{name = "x"}}, assert(reg:tags("loop")))  -- a Link back to itself ends the walk
  end)

  it("retries a 429 after its Retry-After and 5xx with growing backoff", function()
    local reg, requests, slept = client({["GET " .. BASE .. "/v2/"] = ping,
      ["HEAD " .. BASE .. "/v2/app/manifests/v1"] = {{429, {["Retry-After"] = "3"}}, {503}, {502},
        {200, {["Docker-Content-Digest"] = manifest_digest, ["Content-Type"] = OCI_MANIFEST}}}},
      {backoff = 1})
    assert.equal(manifest_digest, assert(reg:head("app", "v1")).digest)
    assert.equal(5, #requests)
    assert.equal(3, slept[1])
    assert.is_true(slept[2] >= 1 and slept[2] <= 2, tostring(slept[2]))
    assert.is_true(slept[3] >= 2 and slept[3] <= 4, tostring(slept[3]))
  end)

  it("gives up after `retries` with EHTTP naming the status and the attempts", function()
    local reg, requests, slept = client({["GET " .. BASE .. "/v2/"] = ping,
      ["HEAD " .. BASE .. "/v2/app/manifests/v1"] = {{503}}}, {retries = 2})
    local _, err, code = reg:head("app", "v1")
    assert.equal("EHTTP", code)
    assert.matches("HTTP 503", err, 1, true)
    assert.matches("after 3 attempts", err, 1, true)
    assert.equal(4, #requests)
    assert.equal(2, #slept)
  end)

  it("retries a dropped connection, but not a 403", function()
    local reg, requests = client({["GET " .. BASE .. "/v2/"] = ping,
      ["HEAD " .. BASE .. "/v2/app/manifests/v1"] = {{fail = "ECONNRESET: connection reset"},
        {200, {["Docker-Content-Digest"] = manifest_digest}}},
      ["HEAD " .. BASE .. "/v2/app/manifests/v2"] = {{403, {},
        '{"errors":[{"code":"DENIED","message":"no"}]}'}}})
    assert.equal(manifest_digest, assert(reg:head("app", "v1")).digest)
    local before = #requests
    local _, err, code = reg:head("app", "v2")
    assert.equal("EDENIED", code)
    assert.matches("app:v2", err, 1, true)
    assert.equal(before + 1, #requests)
  end)

  it("tries plain HTTP only for loopback or insecure hosts", function()
    local tls_fail = {{fail = "ETLS: wrong version number"}}
    local reg = client({["GET https://far.example:5000/v2/"] = tls_fail,
      ["GET http://far.example:5000/v2/"] = ping}, {host = "far.example:5000"})
    local _, err, code = reg:ping()
    assert.equal("ETLS", code)
    assert.matches("insecure", err, 1, true)
    local insecure = client({["GET https://far.example:5000/v2/"] = tls_fail,
      ["GET http://far.example:5000/v2/"] = ping}, {host = "far.example:5000", insecure = true})
    assert.is_true(insecure:ping())
    local loopback = client({["GET https://127.0.0.1:5999/v2/"] = tls_fail,
      ["GET http://127.0.0.1:5999/v2/"] = ping}, {host = "127.0.0.1:5999"})
    assert.is_true(loopback:ping())
  end)

  it("gets a Bearer token per scope with Basic credentials, caches it and renews it", function()
    local now = 1000
    local issued = 0
    local token_requests = {}
    local routes = {
      ["GET " .. BASE .. "/v2/"] = {{401, {["WWW-Authenticate"] =
        'Bearer realm="https://auth.test/token",service="registry.test"'}}},
    }
    local function token_route(req)
      token_requests[#token_requests + 1] = req
      issued = issued + 1
      return response(200, {}, json.encode({token = "tok-" .. issued, expires_in = 300}))
    end
    local function manifest_route(req)
      if req.headers.Authorization ~= "Bearer tok-" .. issued then
        return response(401, {["WWW-Authenticate"] = 'Bearer realm="https://auth.test/token",'
          .. 'service="registry.test",scope="repository:app:pull"'})
      end
      return response(200, {["Docker-Content-Digest"] = manifest_digest})
    end
    local reg = client(routes, {username = "bob", password = "bob-secret-pw"})
    routes["HEAD " .. BASE .. "/v2/app/manifests/v1"] = manifest_route
    local fake = reg.transport.http
    local inner = fake.request
    fake.request = function(req)
      if req.url:find("^https://auth.test/token") then return token_route(req) end
      return inner(req)
    end
    reg.transport.auth.now = function() return now end
    assert.equal(manifest_digest, assert(reg:head("app", "v1")).digest)
    assert.equal(manifest_digest, assert(reg:head("app", "v1")).digest)
    assert.equal(1, #token_requests)
    local first = token_requests[1]
    assert.matches("service=registry.test", first.url, 1, true)
    assert.matches("scope=repository%3Aapp%3Apull", first.url, 1, true)
    assert.equal("Basic " .. require("regsh.registry.base64").encode("bob:bob-secret-pw"),
      first.headers.Authorization)
    now = now + 290  -- within a minute of expiry: renewed before it lapses
    assert.equal(manifest_digest, assert(reg:head("app", "v1")).digest)
    assert.equal(2, #token_requests)
  end)

  it("names the code once when the token service cannot be reached", function()
    local routes = {["GET " .. BASE .. "/v2/"] = {{401, {["WWW-Authenticate"] =
      'Bearer realm="https://auth.test/token",service="registry.test"'}}}}
    routes["HEAD " .. BASE .. "/v2/app/manifests/v1"] = {{401, {}}}
    local reg = client(routes, {retries = 0})
    local fake = reg.transport.http
    local inner = fake.request
    fake.request = function(req)
      if req.url:find("^https://auth.test/token") then
        return nil, "ECONNREFUSED: https://auth.test/token: Connection refused", "ECONNREFUSED"
      end
      return inner(req)
    end
    local ok, err, code = reg:head("app", "v1")
    assert.is_nil(ok)
    assert.equal("ECONNREFUSED", code)
    assert.matches("^ECONNREFUSED: token service https://auth.test/token: ", err)
    local _, count = err:gsub("ECONNREFUSED", "")
    assert.equal(1, count, err)
  end)

  it("exchanges an ACR refresh token for an access token", function()
    local posted
    local routes = {["GET " .. BASE .. "/v2/"] = {{401, {["WWW-Authenticate"] =
      'Bearer realm="https://registry.test/oauth2/token",service="registry.test"'}}}}
    routes["POST https://registry.test/oauth2/token"] = function(req)
      posted = req
      return response(200, {}, json.encode({access_token = "acr-access"}))
    end
    routes["HEAD " .. BASE .. "/v2/app/manifests/v1"] = function(req)
      if req.headers.Authorization ~= "Bearer acr-access" then return response(401, {}) end
      return response(200, {["Docker-Content-Digest"] = manifest_digest})
    end
    local reg = client(routes, {username = "00000000-0000-0000-0000-000000000000",
                                password = "refresh-token-xyz"})
    assert.equal(manifest_digest, assert(reg:head("app", "v1")).digest)
    assert.equal("application/x-www-form-urlencoded", posted.headers["Content-Type"])
    assert.matches("grant_type=refresh_token", posted.body, 1, true)
    assert.matches("refresh_token=refresh-token-xyz", posted.body, 1, true)
    assert.matches("scope=repository%3Aapp%3Apull", posted.body, 1, true)
    assert.matches("service=registry.test", posted.body, 1, true)
  end)

  it("follows a blob redirect to storage without sending credentials there", function()
    local blob = "stored elsewhere"
    local d = digest.string(blob)
    local routes = {
      ["GET " .. BASE .. "/v2/"] = {{401, {["WWW-Authenticate"] = 'Basic realm="r"'}}},
    }
    routes["GET " .. BASE .. "/v2/app/blobs/" .. d] = {{307,
      {Location = "https://storage.test/b?sig=1"}}}
    local storage_request
    routes["GET https://storage.test/b?sig=1"] = function(req)
      storage_request = req
      return response(200, {}, blob)
    end
    local reg, requests = client(routes, {username = "u", password = "p-secret"})
    assert.equal(blob, assert(reg:blob_get("app", d)))
    assert.truthy(requests[2].headers.Authorization)
    assert.is_nil(storage_request.headers.Authorization)
  end)
end)
