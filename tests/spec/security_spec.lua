-- Issue 12 item 5 against real registries: credentials files are private
-- (written 0600, refused when anyone may read them), a purge and a task run
-- leave the password and the Basic/Bearer credential in none of their
-- artefacts, and tokens are asked for the least privilege a call needs.
local cmd = require "support.cmd"
local fs = require "regsh.fs"
local json = require "regsh.json"
local regs = require "support.registry"
local servers = require "support.servers"
local content = require "support.content"
local base64 = require "regsh.registry.base64"

local USER, PASSWORD = "ivy", "iv-pass-5150-xyzzy"

local function run_regsh(argv, env, stdin)
  local out, status, err = cmd.regsh(argv, stdin, env)
  return out, status, err
end

local function assert_absent(needles, where, text)
  for _, needle in ipairs(needles) do
    local at = text:find(needle, 1, true)
    assert(not at, string.format("%q is in %s: ...%s...", needle, where,
      at and text:sub(math.max(1, at - 60), at + #needle + 60) or ""))
  end
end

describe("credentials files and secrets against an htpasswd registry", function()
  local reg, home, state, env

  lazy_setup(function()
    reg = regs.start({htpasswd = {[USER] = PASSWORD}})
    home = assert(fs.temp_dir("security-spec"))
    state = home .. "/state"
    env = {DOCKER_CONFIG = home .. "/docker", REGISTRY_AUTH_FILE = home .. "/none.json",
           REGSH_USERNAME = "", XDG_RUNTIME_DIR = home}
    local w = require("regsh.registry").open(reg.host, {username = USER, password = PASSWORD})
    for i = 1, 3 do assert(content.push_image(w, "sec/app", "v" .. i)) end
  end)

  lazy_teardown(function()
    regs.stop(reg)
    fs.remove_tree(home)
  end)

  local config = function() return home .. "/docker/config.json" end

  it("regsh login writes the credentials 0600, in a 0700 directory", function()
    local _, status, err = run_regsh({"login", reg.host, "-u", USER, "--password-stdin"}, env,
      PASSWORD .. "\n")
    assert.equal(0, status, err)
    assert.equal(tonumber("600", 8), fs.stat(config()).mode)
    assert.equal(tonumber("700", 8), fs.stat(home .. "/docker").mode)
    assert_absent({PASSWORD}, "login's stderr", err)
  end)

  it("refuses the credentials of a file everyone may read, naming it and chmod 600", function()
    assert(os.execute("chmod 644 " .. cmd.quote(config())))
    local _, status, err = run_regsh({"ls", reg.host .. "/sec/app"}, env)
    assert.equal(1, status)
    assert.matches("warning: refusing the credentials in " .. config() .. ": it is readable by "
      .. "everyone (mode 0644); run chmod 600 " .. config(), err, 1, true)
    assert.matches("EAUTH", err, 1, true)
    assert(os.execute("chmod 600 " .. cmd.quote(config())))
    local out
    out, status, err = run_regsh({"ls", reg.host .. "/sec/app"}, env)
    assert.equal(0, status, err)
    assert.matches("v1", out, 1, true)
    assert.is_nil(err:find("refusing", 1, true))
  end)

  it("leaves the password and the Basic credential in no artefact of a purge and a task",
    function()
    local basic = base64.encode(USER .. ":" .. PASSWORD)
    local needles = {PASSWORD, basic, basic:gsub("=+$", ""), base64.encode(PASSWORD)}
    local debug_env = {REGSH_LOG = "debug,json"}
    for k, v in pairs(env) do debug_env[k] = v end
    local artefacts = {}
    -- a purge that deletes, with every request logged
    local out, status, err = run_regsh({"purge", "-r", reg.host, "--filter", "sec/app:v[12]",
      "--ago", "0d", "-o", "json", "--state", state, "-v"}, debug_env)
    assert.equal(0, status, err)
    assert.matches('"level":"debug"', err, 1, true)     -- every request logged
    assert.matches("DELETE http://" .. reg.host .. "/v2/sec/app/manifests/", err, 1, true)
    artefacts["purge stdout"], artefacts["purge stderr"] = out, err
    -- and the same registry from inside a task (its step uses the same credentials)
    out, status, err = run_regsh({"run", "/dev/null", "--executor", "local", "-r", reg.host,
      "--state", state, "--cmd", cmd.bin .. " ls -v " .. reg.host .. "/sec/app"},
      debug_env)
    assert.equal(0, status, err)
    assert.matches("v3", out, 1, true)
    assert.is_nil(out:find("v1", 1, true))
    artefacts["run stdout"], artefacts["run stderr"] = out, err
    artefacts["task logs"] = run_regsh({"task", "logs", "--state", state}, debug_env)
    artefacts["list-runs"] = run_regsh({"task", "list-runs", "-o", "json", "--state", state},
      debug_env)
    local listing = assert(cmd.sh("find " .. cmd.quote(state) .. " -type f"))
    for path in listing:gmatch("[^\n]+") do
      artefacts[path] = cmd.read_file(path)
      artefacts[path .. " (strings)"] = assert(cmd.sh("strings -n 6 " .. cmd.quote(path)))
    end
    assert.matches("v3", artefacts["task logs"], 1, true)
    for where, text in pairs(artefacts) do assert_absent(needles, where, text) end
  end)
end)

describe("tokens ask for the least privilege a call needs", function()
  local ts, reg

  setup(function()
    ts = servers.token_server{users = {tess = "t0k3n-pass-tess"}}
    reg = regs.start({token = ts:registry_option("regsh-security-spec")})
  end)

  teardown(function() servers.stop_all(reg, ts) end)

  local function actions()
    local seen = {}
    for scope in pairs(ts:stats().scopes) do
      for a in scope:match(":([%w,*]+)$"):gmatch("[%w*]+") do seen[a] = true end
    end
    return seen
  end

  it("reads with pull alone, deletes with delete, pushes with pull,push", function()
    local w = require("regsh.registry").open(reg.host, {username = "tess", password = "t0k3n-pass-tess"})
    local digest = assert(content.push_image(w, "least/app", "v1"))
    assert.is_true(actions().push)
    ts:reset()
    local r = require("regsh.registry").open(reg.host, {username = "tess", password = "t0k3n-pass-tess"})
    assert(r:tags("least/app"))
    assert(r:manifest("least/app", "v1"))
    assert(r:head("least/app", "v1"))
    assert.same({pull = true}, actions())
    ts:reset()
    assert.is_true(r:delete("least/app", digest))
    local seen = actions()
    assert.is_true(seen.delete)
    assert.is_nil(seen.push, "a delete asked for push")
    assert.is_nil(seen["*"])
  end)
end)
