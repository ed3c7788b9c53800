-- The registry commands (regsh catalog, ls, digest, manifest, config, cp, rm,
-- referrers, login, logout) run as processes against real docker-registry 2.8
-- instances, anonymous and with htpasswd Basic auth: output, exit statuses,
-- stored credentials. The client they call is specified in registry_spec.lua.
local registry = require "regsh.registry"
local json = require "regsh.json"
local digest = require "regsh.digest"
local support = require "support.registry"
local content = require "support.content"

local function quiet() end

describe("registry CLI commands", function()
  local PASSWORD = "cli-pass-word-77"
  local server, auth_server, reg, digest_v1, home

  local bin = require "support.bin_path"  -- the regsh under test (tests/helper.lua)

  -- Run regsh with args through a shell; returns stdout, stderr, exit status.
  local function regsh_cli(args, env, stdin)
    local err_file = os.tmpname()
    local pipe = stdin and ("printf '%s' " .. support.shell_quote(stdin) .. " | ") or ""
    local cmd = string.format("%s%s%s %s 2>%s", pipe, env or "", support.shell_quote(bin), args,
      err_file)
    local p = io.popen(cmd, "r")
    local out = p:read("a")
    local _, _, status = p:close()
    local f = io.open(err_file)
    local err = f:read("a")
    f:close()
    os.remove(err_file)
    return out, err, status
  end

  lazy_setup(function()
    server = support.start()
    auth_server = support.start({htpasswd = {carol = PASSWORD}})
    reg = assert(registry.open(server.host, {log = quiet}))
    digest_v1 = assert(content.push_image(reg, "cli/app", "v1"))
    home = os.tmpname()
    os.remove(home)
    os.execute("mkdir -p " .. home)
  end)

  lazy_teardown(function()
    support.stop(server)
    support.stop(auth_server)
    if home then os.execute("rm -rf " .. support.shell_quote(home)) end
  end)

  it("lists the catalog as text and JSON", function()
    local out, _, status = regsh_cli("catalog " .. server.host)
    assert.equal(0, status)
    assert.equal("cli/app\n", out)
    out, _, status = regsh_cli("catalog -o json " .. server.host)
    assert.equal(0, status)
    assert.same({"cli/app"}, json.decode(out))
  end)

  it("lists tags with digests, prints a digest, a manifest and a config", function()
    local out, _, status = regsh_cli("ls --digests " .. server.host .. "/cli/app")
    assert.equal(0, status)
    assert.equal("v1\t" .. digest_v1 .. "\n", out)
    out, _, status = regsh_cli("digest " .. server.host .. "/cli/app:v1")
    assert.equal(0, status)
    assert.equal(digest_v1 .. "\n", out)
    out = regsh_cli("manifest " .. server.host .. "/cli/app:v1")
    assert.equal(digest_v1, digest.string((out:gsub("\n$", ""))))
    out = regsh_cli("manifest -o json " .. server.host .. "/cli/app:v1")
    local m = json.decode(out)
    assert.equal(digest_v1, m.digest)
    assert.equal(content.OCI_MANIFEST, m.media_type)
    out, _, status = regsh_cli("config " .. server.host .. "/cli/app@" .. digest_v1)
    assert.equal(0, status)
    assert.equal("amd64", json.decode(out).architecture)
  end)

  it("exits 2 on usage errors and malformed references", function()
    local _, err, status = regsh_cli("ls")
    assert.equal(2, status)
    assert.matches("regsh ls:", err, 1, true)
    _, err, status = regsh_cli("digest " .. server.host .. "/Bad/Name:v1")
    assert.equal(2, status)
    assert.matches("EREF", err, 1, true)
    _, err, status = regsh_cli("catalog " .. server.host .. " --output yaml")
    assert.equal(2, status)
  end)

  it("exits 1 with 'regsh <cmd>: CODE: detail' on runtime failures", function()
    local out, err, status = regsh_cli("digest " .. server.host .. "/cli/app:nope")
    assert.equal(1, status)
    assert.equal("", out)
    assert.matches("^regsh digest: ENOTFOUND: ", err)
    out, err, status = regsh_cli("rm " .. server.host .. "/cli/nosuch:v1")
    assert.equal(1, status)
    assert.equal("", out)
    assert.matches("^regsh rm: ENOTFOUND: ", err)
  end)

  it("copies, removes in dry-run without change, then removes", function()
    local out, _, status = regsh_cli("cp " .. server.host .. "/cli/app:v1 "
      .. server.host .. "/cli/copy")
    assert.equal(0, status)
    assert.equal(digest_v1 .. "\n", out)
    out, _, status = regsh_cli("rm --dry-run --manifest " .. server.host .. "/cli/copy:v1")
    assert.equal(0, status)
    assert.matches("would delete " .. server.host .. "/cli/copy@" .. digest_v1, out, 1, true)
    assert.equal(digest_v1, assert(reg:head("cli/copy", "v1")).digest)
    out, _, status = regsh_cli("rm -o json " .. server.host .. "/cli/copy@" .. digest_v1)
    assert.equal(0, status)
    assert.is_true(json.decode(out).deleted)
    local _, _, code = reg:head("cli/copy", "v1")
    assert.equal("ENOTFOUND", code)
  end)

  it("lists referrers (none here) as an empty JSON array", function()
    local out, _, status = regsh_cli("referrers -o json " .. server.host .. "/cli/app:v1")
    assert.equal(0, status)
    assert.same({}, json.decode(out))
  end)

  it("logs in (file mode 0600), uses the stored credentials, and logs out", function()
    local config_dir = home .. "/docker"
    local env = "DOCKER_CONFIG=" .. config_dir .. " REGISTRY_AUTH_FILE=" .. home .. "/none.json "
      .. "REGSH_USERNAME= "
    local _, err, status = regsh_cli("login " .. auth_server.host .. " -u carol --password-stdin",
      env, "wrong-password")
    assert.equal(1, status)
    assert.matches("EAUTH", err, 1, true)
    assert.is_nil(err:find("wrong-password", 1, true))
    assert.is_nil(io.open(config_dir .. "/config.json"))
    local out
    out, err, status = regsh_cli("login " .. auth_server.host .. " -u carol --password-stdin",
      env, PASSWORD)
    assert.equal(0, status, err)
    assert.matches("Login succeeded", out, 1, true)
    local p = io.popen("stat -c %a " .. config_dir .. "/config.json")
    assert.equal("600", p:read("l"))
    p:close()
    local config = json.decode(assert(io.open(config_dir .. "/config.json")):read("a"))
    assert.equal(require("regsh.registry.base64").encode("carol:" .. PASSWORD),
      config.auths[auth_server.host].auth)
    out, err, status = regsh_cli("catalog " .. auth_server.host, env)
    assert.equal(0, status, err)
    out, _, status = regsh_cli("logout " .. auth_server.host, env)
    assert.equal(0, status)
    assert.matches("Removed", out, 1, true)
    _, err, status = regsh_cli("catalog " .. auth_server.host, env)
    assert.equal(1, status)
    assert.matches("EAUTH", err, 1, true)
  end)

  it("asks on a terminal for the user name and the password, which it does not echo", function()
    local config_dir = home .. "/prompted"
    -- script(1) gives regsh a terminal; the password is typed once the
    -- prompt shows, as a person would
    local out_file, fifo = os.tmpname(), os.tmpname()
    os.remove(fifo)
    local line = "mkfifo " .. fifo .. "; "
      .. "(exec 3>" .. fifo .. "; printf 'carol\\n' >&3; "
      .. "for i in $(seq 1 100); do grep -q 'Password:' " .. out_file .. " && break; sleep 0.1; done; "
      .. "printf '%s\\n' " .. support.shell_quote(PASSWORD) .. " >&3) & "
      .. "DOCKER_CONFIG=" .. config_dir .. " REGISTRY_AUTH_FILE=" .. home .. "/none.json "
      .. "script -qec " .. support.shell_quote(bin .. " login " .. auth_server.host)
      .. " /dev/null < " .. fifo .. " > " .. out_file .. "; status=$?; wait; rm -f " .. fifo
      .. "; cat " .. out_file .. "; rm -f " .. out_file .. "; exit $status"
    local p = io.popen(line)
    local out = p:read("a")
    local _, _, status = p:close()
    assert.equal(0, status, out)
    assert.matches("Username: ", out, 1, true)
    assert.matches("carol", out, 1, true)  -- echoed by the terminal: a user name is no secret
    assert.matches("Password: ", out, 1, true)
    assert.matches("Login succeeded", out, 1, true)
    assert.is_nil(out:find(PASSWORD, 1, true))
    local config = json.decode(assert(io.open(config_dir .. "/config.json")):read("a"))
    assert.is_string(config.auths[auth_server.host].auth)
  end)

  it("takes credentials from REGSH_USERNAME/REGSH_PASSWORD and from a credential helper", function()
    local env = "DOCKER_CONFIG=" .. home .. "/empty REGISTRY_AUTH_FILE=" .. home .. "/none.json "
    local _, err, status = regsh_cli("catalog " .. auth_server.host,
      env .. "REGSH_USERNAME=carol REGSH_PASSWORD=" .. PASSWORD .. " ")
    assert.equal(0, status, err)
    -- a docker-credential-<name> program on PATH answering `get` with JSON
    local bin_dir = home .. "/bin"
    os.execute("mkdir -p " .. bin_dir .. " " .. home .. "/helped")
    local helper = assert(io.open(bin_dir .. "/docker-credential-regshtest", "w"))
    helper:write("#!/bin/sh\nread host\n[ \"$1\" = get ] || exit 1\n"
      .. "printf '{\"ServerURL\":\"%s\",\"Username\":\"carol\",\"Secret\":\"" .. PASSWORD
      .. "\"}' \"$host\"\n")
    helper:close()
    os.execute("chmod +x " .. bin_dir .. "/docker-credential-regshtest")
    local cfg = assert(io.open(home .. "/helped/config.json", "w"))
    cfg:write(json.encode({credHelpers = {[auth_server.host] = "regshtest"}}))
    cfg:close()
    _, err, status = regsh_cli("catalog " .. auth_server.host, "PATH=" .. bin_dir
      .. ":$PATH DOCKER_CONFIG=" .. home .. "/helped REGISTRY_AUTH_FILE=" .. home
      .. "/none.json REGSH_USERNAME= ")
    assert.equal(0, status, err)
  end)
end)

-- Run regsh ARGS as a child whose environment has none of the caller's
-- credential sources (REGSH_*, DOCKER_CONFIG, REGISTRY_AUTH_FILE,
-- XDG_RUNTIME_DIR), plus env. Returns stdout, exit status, stderr.
local function isolated(args, env)
  local cmd = require "support.cmd"
  local words = {"env", "-u", "REGSH_USERNAME", "-u", "REGSH_PASSWORD", "-u", "DOCKER_CONFIG",
                 "-u", "REGISTRY_AUTH_FILE", "-u", "XDG_RUNTIME_DIR"}
  for k, v in pairs(env) do words[#words + 1] = k .. "=" .. v end
  words[#words + 1] = cmd.bin
  for _, a in ipairs(args) do words[#words + 1] = a end
  for i, w in ipairs(words) do words[i] = cmd.quote(w) end
  return cmd.sh(table.concat(words, " "))
end

describe("credential lookup with real files and a real helper", function()
  -- regsh runs as a child with a HOME, XDG_RUNTIME_DIR, DOCKER_CONFIG,
  -- REGISTRY_AUTH_FILE and PATH of its own. The registry knows one user, so a
  -- source holding a wrong user is seen in the EAUTH message, which names the
  -- user and where it came from; one holding carol's password gets through.
  local servers = require "support.servers"
  local base64 = require "regsh.registry.base64"
  local cmd = require "support.cmd"
  local PASSWORD = "lookup-pass-88"
  local server, acr, root

  -- private, as docker login and podman write them (a file others may read
  -- has its credentials refused)
  local function write(path, text)
    assert(os.execute("mkdir -p " .. cmd.quote(path:match("^(.*)/"))))
    assert(require("regsh.fs").write_atomic(path, text, tonumber("600", 8)))
  end

  local function auths(host, user, password, extra)
    local doc = extra or {}
    doc.auths = {[host] = {auth = base64.encode(user .. ":" .. password)}}
    return json.encode(doc)
  end

  -- regsh ARGS with only the given credential sources in its environment
  local function run(args, env)
    local all = {HOME = root .. "/home", PATH = root .. "/bin:" .. os.getenv("PATH")}
    for k, v in pairs(env or {}) do all[k] = v end
    return isolated(args, all)
  end

  -- the EAUTH of a wrong user names that user and its source
  local function rejected(user, source, env)
    local _, status, err = run({"catalog", server.host}, env)
    assert.equal(1, status, err)
    assert.matches("EAUTH", err, 1, true)
    assert.matches("user '" .. user .. "' (from " .. source .. ")", err, 1, true)
  end

  lazy_setup(function()
    server = support.start{htpasswd = {carol = PASSWORD}}
    acr = servers.acr_fixture()
    acr:seed{repo = "app", count = 3}
    root = os.tmpname()
    os.remove(root)
  end)

  lazy_teardown(function()
    servers.stop_all(acr, server)
    if root then os.execute("rm -rf " .. cmd.quote(root)) end
  end)

  before_each(function()
    os.execute("rm -rf " .. cmd.quote(root) .. " && mkdir -p " .. cmd.quote(root .. "/home"))
  end)

  it("takes $REGISTRY_AUTH_FILE over XDG_RUNTIME_DIR's auth.json over docker's config", function()
    local file, xdg = root .. "/auth-file.json", root .. "/run"
    local xdg_file, docker = xdg .. "/containers/auth.json", root .. "/home/.docker/config.json"
    write(file, auths(server.host, "podman-user", "wrong"))
    write(xdg_file, auths(server.host, "xdg-user", "wrong"))
    write(docker, auths(server.host, "docker-user", "wrong"))
    rejected("podman-user", file, {REGISTRY_AUTH_FILE = file, XDG_RUNTIME_DIR = xdg})
    rejected("xdg-user", xdg_file, {XDG_RUNTIME_DIR = xdg})
    rejected("docker-user", docker)
    -- an auth file without an entry for the host falls through to docker's config
    write(file, auths("elsewhere.example", "other", "x"))
    rejected("docker-user", docker, {REGISTRY_AUTH_FILE = file})
    -- and each, holding the right password, gets in
    write(file, auths(server.host, "carol", PASSWORD))
    local _, status, err = run({"catalog", server.host}, {REGISTRY_AUTH_FILE = file})
    assert.equal(0, status, err)
    write(xdg_file, auths(server.host, "carol", PASSWORD))
    _, status, err = run({"catalog", server.host}, {XDG_RUNTIME_DIR = xdg})
    assert.equal(0, status, err)
    write(docker, auths(server.host, "carol", PASSWORD))
    _, status, err = run({"catalog", server.host})
    assert.equal(0, status, err)
  end)

  it("asks the credsStore helper before the auths of docker's config", function()
    local docker = root .. "/home/.docker/config.json"
    local calls = root .. "/helper-calls"
    write(docker, auths(server.host, "docker-user", "wrong", {credsStore = "regshlookup"}))
    -- a docker-credential-<name> on PATH: logs its call, answers per $ANSWER
    write(root .. "/bin/docker-credential-regshlookup", table.concat({
      "#!/bin/sh",
      "read host",
      "echo \"$1 $host\" >> " .. cmd.quote(calls),
      "case \"$ANSWER\" in",
      "  none) echo 'credentials not found in native keychain'; exit 1 ;;",
      "  wrong) printf '{\"Username\":\"helper-user\",\"Secret\":\"wrong\"}' ;;",
      "  *) printf '{\"Username\":\"carol\",\"Secret\":\"" .. PASSWORD .. "\"}' ;;",
      "esac", ""}, "\n"))
    assert(os.execute("chmod +x " .. cmd.quote(root .. "/bin/docker-credential-regshlookup")))
    local out, status, err = run({"catalog", server.host})
    assert.equal(0, status, err)
    assert.equal("", out)  -- an empty registry: no repositories
    local f = assert(io.open(calls))
    assert.equal("get " .. server.host .. "\n", f:read("a"))
    f:close()
    rejected("helper-user", "docker-credential-regshlookup", {ANSWER = "wrong"})
    rejected("docker-user", docker, {ANSWER = "none"})  -- nothing stored: the auths entry
  end)

  it("turns an identitytoken into a refresh-token exchange", function()
    local docker = root .. "/home/.docker/config.json"
    local entry = {auth = base64.encode(servers.NULL_GUID .. ":"), identitytoken = acr.refresh_token}
    write(docker, json.encode({auths = {[acr.host] = entry}}))
    local out, status, err = run({"ls", acr.host .. "/app"})
    assert.equal(0, status, err)
    local _, count = out:gsub("\n", "")
    assert.equal(3, count, out)
    entry.identitytoken = "not-the-refresh-token"
    write(docker, json.encode({auths = {[acr.host] = entry}}))
    _, status, err = run({"ls", acr.host .. "/app"})
    assert.equal(1, status, err)
    assert.matches("EAUTH", err, 1, true)
    assert.matches("the refresh token from " .. docker, err, 1, true)
    assert.is_nil(err:find("not-the-refresh-token", 1, true))
  end)
end)

describe("registry CLI options", function()
  local servers = require "support.servers"
  local PASSWORD = "opt-pass-99"
  local plain, basic, tls, pki, image, index

  -- regsh ARGS with no credentials from the environment
  local function run(args) return isolated(args, {HOME = "/nonexistent"}) end

  lazy_setup(function()
    plain = support.start()
    basic = support.start{htpasswd = {dave = PASSWORD}}
    pki = servers.pki()
    tls = support.start{tls = pki.server_cert .. "," .. pki.server_key}
    local reg = assert(registry.open(plain.host, {log = quiet}))
    local amd, amd_raw = assert(content.push_image(reg, "opt/multi", "amd", {arch = "amd64"}))
    local arm, arm_raw = assert(content.push_image(reg, "opt/multi", "arm", {arch = "arm64"}))
    local raw = json.encode({schemaVersion = 2, mediaType = content.OCI_INDEX, manifests = {
      {mediaType = content.OCI_MANIFEST, digest = amd, size = #amd_raw,
       platform = {os = "linux", architecture = "amd64"}},
      {mediaType = content.OCI_MANIFEST, digest = arm, size = #arm_raw,
       platform = {os = "linux", architecture = "arm64"}},
    }})
    index = assert(reg:put_manifest("opt/multi", "latest", raw, content.OCI_INDEX))
    local raw_image
    image, raw_image = assert(content.push_image(reg, "opt/app", "v1"))
    local subject = {mediaType = content.OCI_MANIFEST, digest = image, size = #raw_image}
    assert(content.push_artifact(reg, "opt/app", subject, "application/spdx+json", "sbom"))
    assert(content.push_artifact(reg, "opt/app", subject, "application/vnd.dev.sig", "sig"))
  end)

  lazy_teardown(function() servers.stop_all(plain, basic, tls) end)

  it("config --platform picks that image of an index, linux/amd64 by default", function()
    local out, status, err = run({"config", "--platform", "linux/arm64", plain.host .. "/opt/multi"})
    assert.equal(0, status, err)
    assert.equal("arm64", json.decode(out).architecture)
    out, status, err = run({"config", plain.host .. "/opt/multi@" .. index})
    assert.equal(0, status, err)
    assert.equal("amd64", json.decode(out).architecture)
    out, status, err = run({"config", "--platform", "linux/s390x", plain.host .. "/opt/multi"})
    assert.equal("", out)
    assert.equal(1, status, err)
    assert.matches("linux/s390x", err, 1, true)
    out, status, err = run({"config", "--platform", "arm64", plain.host .. "/opt/multi"})
    assert.equal("", out)
    assert.equal(2, status, err)
    assert.matches("--platform must be OS/ARCHITECTURE", err, 1, true)
  end)

  it("referrers --artifact-type lists only the referrers of that type", function()
    local out, status, err = run({"referrers", "-o", "json", plain.host .. "/opt/app:v1"})
    assert.equal(0, status, err)
    assert.same({["application/spdx+json"] = 1, ["application/vnd.dev.sig"] = 1},
      content.count_by(json.decode(out), "artifactType"))
    out, status, err = run({"referrers", "-o", "json", "--artifact-type", "application/spdx+json",
      plain.host .. "/opt/app:v1"})
    assert.equal(0, status, err)
    local list = json.decode(out)
    assert.equal(1, #list, out)
    assert.equal("application/spdx+json", list[1].artifactType)
  end)

  it("cp --dry-run prints the writes and writes nothing", function()
    local out, status, err = run({"cp", "--dry-run", plain.host .. "/opt/app:v1",
      plain.host .. "/opt/dry:v9"})
    assert.equal(0, status, err)
    assert.matches("would copy " .. plain.host .. "/opt/app:v1 to " .. plain.host .. "/opt/dry:v9",
      out, 1, true)
    local reg = assert(registry.open(plain.host, {log = quiet}))
    local _, _, code = reg:head("opt/dry", "v9")
    assert.equal("ENOTFOUND", code)
  end)

  it("takes -u/-p credentials over every other source", function()
    local _, status, err = run({"catalog", "-u", "dave", "-p", PASSWORD, basic.host})
    assert.equal(0, status, err)
    _, status, err = run({"catalog", "-u", "dave", "-p", "not-" .. PASSWORD, basic.host})
    assert.equal(1, status, err)
    assert.matches("EAUTH", err, 1, true)
    assert.matches("user 'dave' (from options)", err, 1, true)
    assert.is_nil(err:find("not-" .. PASSWORD, 1, true))
    _, status, err = run({"catalog", basic.host})
    assert.equal(1, status, err)
    assert.matches("EAUTH", err, 1, true)
  end)

  it("verifies TLS with --ca-file, skips verification with --insecure, refuses otherwise", function()
    local target = "https://" .. tls.host
    local _, status, err = run({"catalog", target})
    assert.equal(1, status, err)
    assert.matches("ETLS", err, 1, true)
    _, status, err = run({"catalog", "--ca-file", pki.ca, target})
    assert.equal(0, status, err)
    _, status, err = run({"catalog", "--insecure", target})
    assert.equal(0, status, err)
  end)
end)
