-- regsh.context: every source form against real things made in the test:
-- directories with .dockerignore, tar files made by `tar`, a tarball from a
-- local HTTP server, git repositories over file:// and a local `git daemon`,
-- an OCI artifact pushed to a real registry, and /dev/null.
local context = require "regsh.context"
local fs = require "regsh.fs"
local proc = require "regsh.proc"
local registry = require "support.registry"
local servers = require "support.servers"

local function sh(script, cwd)
  local r = assert(proc.run{"sh", "-c", script, cwd = cwd})
  assert(r.ok, script .. ": " .. r.stderr)
  return r.stdout
end

local function write(path, content)
  assert(fs.mkdir(path:match("^(.*)/[^/]*$")))
  local f = assert(io.open(path, "wb"))
  f:write(content)
  f:close()
end

local function tree(dir)
  return sh("find . -mindepth 1 | sed 's|^./||' | LC_ALL=C sort | tr '\\n' ' '", dir)
end

local function esc(s) return (s:gsub("%p", "%%%0")) end

local function failed(code, pattern, ...)
  local ok, err, c = ...
  assert.is_nil(ok)
  assert.equal(code, c)
  if pattern then assert.matches(pattern, err) end
  return err
end

describe("regsh.context", function()
  local dir, workspace

  before_each(function()
    dir = assert(fs.temp_dir("context-spec"))
    workspace = dir .. "/workspace"
    assert(fs.mkdir(workspace))
  end)
  after_each(function() assert(fs.remove_tree(dir)) end)

  it("/dev/null is no context, in any case", function()
    for _, s in ipairs({"/dev/null", "/DEV/Null"}) do
      local ctx <close> = assert(context.open(s))
      assert.equal("none", ctx.kind)
      assert.same({}, ctx:files())
      assert.is_true(ctx:materialize(workspace))
      assert.same({}, fs.readdir(workspace))
      assert.equal("", ctx.commit)
      failed("ENOENT", nil, ctx:read("acb.yaml"))
    end
  end)

  it("refuses unknown forms and missing paths with ECONTEXT naming the source", function()
    failed("ECONTEXT", "^ECONTEXT: ftp://h/x%.tar: unknown kind of source", context.open("ftp://h/x.tar"))
    failed("ECONTEXT", "^ECONTEXT: " .. esc(dir) .. "/none: no such file or directory$",
           context.open(dir .. "/none"))
    write(dir .. "/notes.txt", "x")
    failed("ECONTEXT", "not a directory or a tar file", context.open(dir .. "/notes.txt"))
    assert.has_error(function() context.open(dir, {tokn = "x"}) end)
    assert.has_error(function() context.open(42) end)
  end)

  describe("a directory", function()
    local src
    before_each(function()
      src = dir .. "/src"
      for _, f in ipairs({"Dockerfile", "acb.yaml", "app/main.go", "app/main_test.go", "logs/a.log",
                          "logs/keep.log", "docs/x/readme.md", "build/out.bin", ".git/HEAD",
                          ".gitignore", ".hg/store", "sub/.git/config", "special.Dockerfile"}) do
        write(src .. "/" .. f, "content of " .. f .. "\n")
      end
      write(src .. "/.dockerignore", table.concat({
        "# comments and blank lines are skipped", "", "logs", "!logs/keep.log",
        "**/*_test.go", "/build/", "docs/**/*.md", "   ", "*.Dockerfile",
      }, "\n"))
      write(src .. "/special.Dockerfile.dockerignore", "app\nacb.yaml\n")
    end)

    it("honours .dockerignore (patterns, exceptions) and always drops .git and friends", function()
      local ctx <close> = assert(context.open(src))
      assert.equal("dir", ctx.kind)
      assert.same({".dockerignore", "Dockerfile", "acb.yaml", "app/main.go", "logs/keep.log",
                   "special.Dockerfile.dockerignore", "sub/.git/config"}, ctx:files())
      assert.is_true(ctx:materialize(workspace))
      -- docs/x stays, empty: only the .md files in it are ignored
      assert.equal(".dockerignore Dockerfile acb.yaml app app/main.go docs docs/x logs logs/keep.log "
        .. "special.Dockerfile.dockerignore sub sub/.git sub/.git/config ", tree(workspace))
      assert.equal("content of acb.yaml\n", ctx:read("acb.yaml"))
      assert.equal("content of app/main.go\n", ctx:read("./app//main.go"))
      failed("ENOENT", "logs/a%.log: not in the context", ctx:read("logs/a.log"))
      failed("ENOENT", nil, ctx:read(".git/HEAD"))
      failed("ECONTEXT", "'%.%./src/acb%.yaml' is not a path inside", ctx:read("../src/acb.yaml"))
      failed("ECONTEXT", "is not a path inside", ctx:read("/etc/passwd"))
      failed("ECONTEXT", "'app' is a directory", ctx:read("app"))
      failed("ECONTEXT", "is not empty", ctx:materialize(workspace))
    end)

    it("prefers <Dockerfile>.dockerignore when opts.dockerfile names one", function()
      local ctx <close> = assert(context.open(src, {dockerfile = "special.Dockerfile"}))
      local files = ctx:files()
      assert.is_nil(ctx:read("acb.yaml"))
      assert.equal("content of logs/a.log\n", ctx:read("logs/a.log"))
      assert.equal("content of special.Dockerfile\n", ctx:read("special.Dockerfile"))
      for _, f in ipairs(files) do assert.is_nil(f:match("^app/"), f) end
      -- a Dockerfile without its own ignore file falls back to .dockerignore
      local plain <close> = assert(context.open(src, {dockerfile = "Dockerfile"}))
      assert.is_nil(plain:read("logs/a.log"))
    end)

    it("packs a deterministic tar.gz of what it would materialize", function()
      local ctx <close> = assert(context.open(src))
      local bytes = assert(ctx:pack())
      assert.equal("\31\139", bytes:sub(1, 2))
      assert.is_true(ctx:pack(dir .. "/ctx.tgz"))
      assert.equal(bytes, fs.read_file(dir .. "/ctx.tgz"))
      sh("touch -d 2001-01-01 Dockerfile", src)
      local again <close> = assert(context.open(src))
      assert.equal(bytes, again:pack())
      local listing = sh("tar -tzf " .. dir .. "/ctx.tgz | LC_ALL=C sort | tr '\\n' ' '")
      assert.equal(".dockerignore Dockerfile acb.yaml app/ app/main.go docs/ docs/x/ logs/ logs/keep.log "
        .. "special.Dockerfile.dockerignore sub/ sub/.git/ sub/.git/config ", listing)
    end)

    it("refuses a link that leads outside when it materializes", function()
      sh("ln -s /etc/passwd pw", src)
      local ctx <close> = assert(context.open(src))
      failed("ECONTEXT", "unsafe entry 'pw'", ctx:materialize(workspace))
      failed("ECONTEXT", "'pw' is a link", ctx:read("pw"))
    end)

    it("closes: temp dirs gone, use after close raises", function()
      local ctx = assert(context.open(src))
      ctx:close()
      ctx:close()
      assert.has_error(function() ctx:files() end, "attempt to use a closed context")
    end)
  end)

  describe("a tar file", function()
    local src
    before_each(function()
      src = dir .. "/src"
      write(src .. "/acb.yaml", "steps: []\n")
      write(src .. "/app/a.txt", "a\n")
    end)

    for _, c in ipairs({{"ctx.tar", ""}, {"ctx.tar.gz", "z"}, {"ctx.tgz", "z"}}) do
      it("made by tar: " .. c[1], function()
        sh("tar -c" .. c[2] .. "f ../" .. c[1] .. " .", src)
        local ctx = assert(context.open(dir .. "/" .. c[1]))
        assert.equal("tar", ctx.kind)
        assert.same({"acb.yaml", "app/a.txt"}, ctx:files())
        assert.equal("steps: []\n", ctx:read("acb.yaml"))
        assert.is_true(ctx:materialize(workspace))
        assert.equal("acb.yaml app app/a.txt ", tree(workspace))
        local temp = ctx.temp
        assert.equal("directory", fs.stat(temp).type)
        ctx:close()
        assert.is_nil(fs.stat(temp))
      end)
    end

    it("refuses a damaged or unsafe one, writing nothing outside", function()
      write(dir .. "/bad.tar.gz", "not gzip at all")
      failed("ECONTEXT", "^ECONTEXT: " .. esc(dir) .. "/bad%.tar%.gz: EARCHIVE: ", context.open(dir .. "/bad.tar.gz"))
      write(dir .. "/evil", "x")
      sh("tar -P -cf evil.tar src/../evil && rm evil", dir)
      failed("ECONTEXT", "unsafe entry 'src/%.%./evil'", context.open(dir .. "/evil.tar"))
      assert.is_nil(fs.stat(dir .. "/evil"))
      sh("ln -s ../../../../etc up && tar -cf ../up.tar up && rm up", src)
      failed("ECONTEXT", "unsafe entry 'up'", context.open(dir .. "/up.tar"))
    end)
  end)

  describe("a tarball over HTTP", function()
    local server, files
    before_each(function()
      files = dir .. "/served"
      write(files .. "/junk.tar.gz", "<html>a login page</html>\n")
      write(dir .. "/src/acb.yaml", "steps: []\n")
      sh("tar -czf served/ctx.tar.gz -C src .", dir)
      server = servers.start_python("http_server.py", {"--root", files})
    end)
    after_each(function() servers.stop(server) end)

    it("is downloaded and extracted; a 503 is tried again", function()
      local ctx <close> = assert(context.open(server.url .. "/files/ctx.tar.gz"))
      assert.equal("url", ctx.kind)
      assert.same({"acb.yaml"}, ctx:files())
      local again <close> = assert(context.open(server.url .. "/fail-twice/ctx.tar.gz"))
      assert.same({"acb.yaml"}, again:files())
      local _, hits = servers.curl("GET", server.url .. "/hits")
      assert.equal(3, hits["/fail-twice/ctx.tar.gz"])
    end)

    it("fails at once on a 404, and on a body that is no archive", function()
      failed("ECONTEXT", "^ECONTEXT: " .. esc(server.url) .. "/files/none%.tgz: download failed: HTTP 404$",
             context.open(server.url .. "/files/none.tgz"))
      local _, hits = servers.curl("GET", server.url .. "/hits")
      assert.equal(1, hits["/files/none.tgz"])
      failed("ECONTEXT", "not a usable tar archive: EARCHIVE", context.open(server.url .. "/files/junk.tar.gz"))
      failed("ECONTEXT", "download failed: ECONNREFUSED", context.open("http://127.0.0.1:1/x.tar.gz"))
    end)
  end)

  describe("git", function()
    local repo, commits
    local function git(...)
      local r = assert(proc.run{argv = {"git", "-C", repo, ...}, env_merge = true,
        env = {GIT_AUTHOR_NAME = "t", GIT_AUTHOR_EMAIL = "t@t", GIT_COMMITTER_NAME = "t",
               GIT_COMMITTER_EMAIL = "t@t", GIT_CONFIG_GLOBAL = "/dev/null"}})
      assert(r.ok, r.stderr)
      return (r.stdout:gsub("%s+$", ""))
    end

    before_each(function()
      repo = dir .. "/repo.git"
      commits = {}
      assert(fs.mkdir(repo))
      git("init", "-q", "-b", "main")
      write(repo .. "/acb.yaml", "v: main1\n")
      write(repo .. "/app/Dockerfile", "FROM scratch\n")
      git("add", ".")
      git("commit", "-q", "-m", "one")
      commits.one = git("rev-parse", "HEAD")
      git("tag", "v1")
      write(repo .. "/acb.yaml", "v: main2\n")
      git("commit", "-q", "-am", "two")
      commits.two = git("rev-parse", "HEAD")
      git("checkout", "-q", "-b", "feature")
      write(repo .. "/acb.yaml", "v: feature\n")
      git("commit", "-q", "-am", "feature")
      git("update-ref", "refs/pull/1/head", "HEAD")
      commits.feature = git("rev-parse", "HEAD")
      git("checkout", "-q", "main")
      sh("ln -s app linked", repo)
    end)

    local function check_forms(base)
      local ctx <close> = assert(context.open(base))
      assert.equal("git", ctx.kind)
      assert.equal("v: main2\n", ctx:read("acb.yaml"))
      assert.equal(commits.two, ctx.commit)
      assert.equal("main", ctx.branch)

      local feature <close> = assert(context.open(base .. "#feature"))
      assert.equal("v: feature\n", feature:read("acb.yaml"))
      assert.equal("feature", feature.branch)

      local tag <close> = assert(context.open(base .. "#v1"))
      assert.equal("v: main1\n", tag:read("acb.yaml"))
      assert.equal(commits.one, tag.commit)

      local sha <close> = assert(context.open(base .. "#" .. commits.one))
      assert.equal(commits.one, sha.commit)

      local pr <close> = assert(context.open(base .. "#pull/1/head"))
      assert.equal("v: feature\n", pr:read("acb.yaml"))
      assert.equal(commits.feature, pr.commit)
      assert.equal("HEAD", pr.branch)

      local sub <close> = assert(context.open(base .. "#main:app"))
      assert.equal("app", sub.subdir)
      assert.same({"Dockerfile"}, sub:files())
      assert.is_true(sub:materialize(workspace))
      assert.equal("Dockerfile ", tree(workspace))

      local default <close> = assert(context.open(base .. "#:app"))
      assert.same({"Dockerfile"}, default:files())

      failed("ECONTEXT", "#nope", context.open(base .. "#nope"))
      failed("ECONTEXT", "subdirectory 'missing' is not a directory", context.open(base .. "#main:missing"))
      failed("ECONTEXT", "subdirectory 'linked' is not a directory", context.open(base .. "#main:linked"))
      failed("ECONTEXT", "subdirectory 'app/%.%./%.%.' has '%.%.'", context.open(base .. "#main:app/../.."))
    end

    it("over file:// (branch, tag, commit, pull/N/head, subdir, missing ref)", function()
      git("add", ".")
      git("commit", "-q", "-m", "a link")
      commits.two = git("rev-parse", "HEAD")
      check_forms("file://" .. repo)
    end)

    it("over a local git daemon, with a token that no message shows", function()
      git("add", ".")
      git("commit", "-q", "-m", "a link")
      commits.two = git("rev-parse", "HEAD")
      local port = tonumber(sh("python3 -c 'import socket; s=socket.socket(); s.bind((\"127.0.0.1\",0));"
        .. " print(s.getsockname()[1])'"))
      local daemon = assert(proc.spawn{"git", "daemon", "--reuseaddr", "--export-all", "--listen=127.0.0.1",
        "--port=" .. port, "--base-path=" .. dir, dir, stdout = "null", stderr = "null"})
      finally(function() daemon:kill("SIGTERM"); daemon:wait(); daemon:close() end)
      sh("for i in $(seq 1 100); do git ls-remote git://127.0.0.1:" .. port
        .. "/repo.git >/dev/null 2>&1 && exit 0; sleep 0.05; done; exit 1")
      check_forms("git://127.0.0.1:" .. port .. "/repo.git")

      local secret = "s3cr3t-T0KEN"
      local err = failed("ECONTEXT", nil, context.open("https://" .. secret .. "@127.0.0.1:1/o/r.git#main"))
      assert.is_nil(err:find(secret, 1, true), err)
      assert.matches("https://%*%*%*@127%.0%.0%.1:1/o/r%.git#main", err)
      err = failed("ECONTEXT", nil, context.open("https://127.0.0.1:1/o/r.git", {token = secret}))
      assert.is_nil(err:find(secret, 1, true), err)
    end)
  end)

  describe("oci://", function()
    local reg
    setup(function() reg = registry.start() end)
    teardown(function() registry.stop(reg) end)

    it("writes titled layers as files and extracts packed directories and tar layers", function()
      local client = assert(require("regsh.registry").open(reg.host))
      local function blob(data) return assert(client:blob_upload("artifacts/ctx", data)), #data end
      write(dir .. "/src/dir/inner.txt", "inside\n")
      sh("tar -czf packed.tgz -C src dir && mkdir img && echo layer > img/from-layer && tar -cf img.tar -C img .", dir)
      local layers = {}
      local function add(data, media_type, annotations)
        local digest, size = blob(data)
        layers[#layers + 1] = {mediaType = media_type, digest = digest, size = size, annotations = annotations}
      end
      add("steps: []\n", "application/vnd.oci.image.layer.v1.tar", {["org.opencontainers.image.title"] = "acb.yaml"})
      add(fs.read_file(dir .. "/packed.tgz"), "application/vnd.oci.image.layer.v1.tar+gzip",
          {["org.opencontainers.image.title"] = "dir", ["io.deis.oras.content.unpack"] = "true"})
      add(fs.read_file(dir .. "/img.tar"), "application/vnd.oci.image.layer.v1.tar")
      add("ignored", "application/octet-stream")
      local config_digest = blob("{}")
      assert(client:put_manifest("artifacts/ctx", "v1", {
        schemaVersion = 2, mediaType = "application/vnd.oci.image.manifest.v1+json",
        artifactType = "application/vnd.regsh.context",
        config = {mediaType = "application/vnd.oci.empty.v1+json", digest = config_digest, size = 2},
        layers = layers,
      }))
      local ctx <close> = assert(context.open("oci://" .. reg.host .. "/artifacts/ctx:v1"))
      assert.equal("oci", ctx.kind)
      assert.same({"acb.yaml", "dir/inner.txt", "from-layer"}, ctx:files())
      assert.equal("inside\n", ctx:read("dir/inner.txt"))
      failed("ECONTEXT", "ENOTFOUND", context.open("oci://" .. reg.host .. "/artifacts/ctx:v2"))
    end)
  end)
end)
