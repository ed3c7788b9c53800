-- A one-line command loads only the code it runs (issue 15): `regsh digest`
-- against a real registry, with REGSH_TRACE=1 listing the modules loaded at
-- exit and the phases of the run; and the embedded library is bytecode that
-- still names lua/ files and lines in tracebacks.
local R = require "support.registry"
local cmd = require "support.cmd"
local content = require "support.content"

-- the modules of REGSH_TRACE's "loaded:" line, as a set
local function loaded_set(stderr)
  local list = assert(stderr:match("regsh: trace: loaded:([^\n]*)"), stderr)
  local set = {}
  for name in list:gmatch("%S+") do set[name] = true end
  return set
end

describe("lean loading #disk", function()
  local r, reference

  setup(function()
    r = R.start()
    local reg = assert(require("regsh.registry").open(r.host))
    content.push_image(reg, "app", "v1")
    reference = r.host .. "/app:v1"
  end)

  teardown(function()
    R.stop(r)
  end)

  it("regsh digest loads no code for copy, referrers, ACR, blobs, digests or argparse", function()
    local out, status, err = cmd.regsh({"digest", reference}, nil, {REGSH_TRACE = "1"})
    assert.equal(0, status, err)
    assert.matches("^sha256:%x+\n$", out)
    local loaded = loaded_set(err)
    -- what it must load (so that the list is the real one)
    for _, name in ipairs({"regsh.cli.digest", "regsh.registry", "regsh.registry.transport",
                           "regsh.http", "regsh.core.http"}) do
      assert.is_true(loaded[name], name .. " not listed")
    end
    for _, name in ipairs({"regsh.registry.copy", "regsh.registry.referrers",
                           "regsh.registry.acr", "regsh.registry.blob", "regsh.registry.graph",
                           "regsh.registry.listing", "regsh.digest", "regsh.core.digest",
                           "argparse", "regsh.store", "regsh.purge", "regsh.task"}) do
      assert.is_nil(loaded[name], name .. " was loaded")
    end
  end)

  it("REGSH_TRACE prints the phases of the run, and nothing without it", function()
    local _, status, err = cmd.regsh({"digest", reference}, nil, {REGSH_TRACE = "1"})
    assert.equal(0, status, err)
    local phases = err:match("regsh: trace: phases %(ms%):([^\n]*)")
    assert.is_string(phases, err)
    for _, phase in ipairs({"state", "require", "dlopen", "curl%-init", "connect", "tls",
                            "exchange", "other", "total"}) do
      assert.matches(" " .. phase .. " %d+%.%d+", phases)
    end
    assert.matches("%s+exchange%s+http://" .. r.host:gsub("%p", "%%%0")
      .. "/v2/app/manifests/v1\n", err)
    _, status, err = cmd.regsh({"digest", reference})
    assert.equal(0, status, err)
    assert.equal("", err)
  end)

  it("regsh -e '' maps none of the libraries its modules load on demand", function()
    local out, status, err = cmd.regsh({"-e", "io.write(io.open('/proc/self/maps'):read('a'))"})
    assert.equal(0, status, err)
    assert.matches("liblua5%.4", out)  -- the maps are the real ones
    for _, lib in ipairs({"libcurl", "libssl", "libcrypto", "libyaml", "libpcre2", "libedit",
                          "libsqlite3", "libarchive"}) do
      assert.is_nil(out:find(lib, 1, true), lib .. " is mapped")
    end
  end)

  it("names lua/ files and lines in tracebacks", function()
    local _, status, err = cmd.regsh({"-e", "require('regsh.registry').open(42)"})
    assert.equal(1, status)
    -- embedded: "lua/regsh/...", from disk (REGSH_LUA_PATH): "/.../lua/regsh/..."
    assert.matches("[\t/]lua/regsh/registry/init%.lua:%d+: in function 'regsh%.registry%.open'",
      err)
  end)
end)
