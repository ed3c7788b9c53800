-- The scheme a registry answered (lua/regsh/registry/schemes.lua,
-- transport.lua): remembered in the state directory so that the next
-- command sends its first read straight there, with no failed TLS handshake
-- and no /v2/ ping before it; a corrupt or stale file is ignored and
-- rewritten; a registry that moved between HTTP and HTTPS, or a port where
-- no registry answers any more, is found on the next command; a write is
-- never the request that finds out. Real registries, real regsh processes.
local R = require "support.registry"
local servers = require "support.servers"
local cmd = require "support.cmd"

local q = cmd.quote

describe("the scheme cache #disk", function()
  local state, file, pki

  -- regsh catalog HOST -v with this state directory: stdout, status, stderr
  local function catalog(host, ...)
    local words = {"XDG_STATE_HOME=" .. q(state), q(cmd.bin), "catalog", q(host), "-v"}
    for _, a in ipairs({...}) do words[#words + 1] = q(a) end
    return cmd.sh(table.concat(words, " "))
  end

  local function cache_text()
    local f = io.open(file, "rb")
    if not f then return nil end
    local text = f:read("a")
    f:close()
    return text
  end

  local function write_cache(text)
    os.execute("mkdir -p " .. q(state .. "/regsh"))
    local f = assert(io.open(file, "wb"))
    f:write(text)
    f:close()
  end

  before_each(function()
    state = (cmd.sh("mktemp -d /tmp/regsh-state.XXXXXX")):gsub("%s+$", "")
    file = state .. "/regsh/schemes"
  end)

  after_each(function()
    os.execute("rm -rf " .. q(state))
  end)

  setup(function()
    pki = servers.pki()
  end)

  it("remembers a plain-HTTP loopback registry: the next command does not try https", function()
    local r = R.start()
    finally(function() R.stop(r) end)
    local _, status, err = catalog(r.host)
    assert.equal(0, status, err)
    assert.matches("GET https://" .. r.host, err, 1, true)
    local text = cache_text()
    local expiry = tonumber(text:match("^127%.0%.0%.1:" .. r.port .. " http (%d+)\n$"))
    assert.is_true(expiry > os.time() and expiry <= os.time() + 86400, text)
    _, status, err = catalog(r.host)
    assert.equal(0, status, err)
    assert.not_matches("https://", err, 1, true)
    -- straight to the catalog: no ping first
    assert.not_matches("/v2/ ->", err, 1, true)
    assert.matches("GET http://" .. r.host .. "/v2/_catalog", err, 1, true)
    assert.equal(text, cache_text())  -- nothing new: not written again
  end)

  it("remembers an HTTPS registry too: the next command sends no ping", function()
    local r = R.start{tls = pki.server_cert .. "," .. pki.server_key}
    finally(function() R.stop(r) end)
    local _, status, err = catalog(r.host, "--ca-file", pki.ca)
    assert.equal(0, status, err)
    assert.matches("GET https://" .. r.host .. "/v2/ -> 200", err, 1, true)
    assert.matches("^127%.0%.0%.1:" .. r.port .. " https %d+\n$", cache_text())
    local out
    out, status, err = catalog(r.host, "--ca-file", pki.ca)
    assert.equal(0, status, err)
    assert.not_matches("/v2/ ->", err, 1, true)
    assert.matches("GET https://" .. r.host .. "/v2/_catalog", err, 1, true)
    assert.not_matches("http://", err, 1, true)
    assert.equal("", out)  -- an empty registry, listed all the same
  end)

  it("probes again when the remembered port answers like no registry", function()
    local web = servers.start_python("http_server.py", {})
    finally(function() servers.stop(web) end)
    write_cache(web.host .. " http " .. (os.time() + 3600) .. "\n")
    local _, status, err = catalog(web.host, "--deadline", "5")
    assert.equal(1, status)
    -- its 404 for the catalog is not taken for a registry's (ENOTFOUND): the
    -- entry is forgotten and the probe's verdict stands
    assert.matches("GET http://" .. web.host .. "/v2/_catalog -> 404", err, 1, true)
    assert.matches("remembered but failed (HTTP 404), probing again", err, 1, true)
    assert.matches("GET http://" .. web.host .. "/v2/ -> 404", err, 1, true)
    assert.not_matches("ENOTFOUND", err, 1, true)
    assert.equal("", cache_text())
  end)

  it("takes a registry's own refusal of a straight read as its answer: no probe, entry kept",
     function()
    local r = R.start{htpasswd = {alice = "right"}}
    finally(function() R.stop(r) end)
    local function as_alice(password)
      return cmd.sh("REGSH_USERNAME=alice REGSH_PASSWORD=" .. password .. " XDG_STATE_HOME="
        .. q(state) .. " " .. q(cmd.bin) .. " catalog " .. q(r.host) .. " -v")
    end
    local _, status, err = as_alice("right")
    assert.equal(0, status, err)
    local text = cache_text()
    assert.matches(" http ", text, 1, true)
    _, status, err = as_alice("wrong")
    assert.equal(1, status)
    assert.matches("EAUTH", err, 1, true)
    assert.not_matches("/v2/ ->", err, 1, true)
    assert.not_matches("probing again", err, 1, true)
    assert.equal(text, cache_text())
  end)

  it("never sends a write straight to a remembered base: the ping comes first", function()
    local r = R.start()
    finally(function() R.stop(r) end)
    local _, status, err = catalog(r.host)
    assert.equal(0, status, err)
    assert.matches(" http ", cache_text(), 1, true)
    local script = state .. "/put.lua"
    local f = assert(io.open(script, "wb"))
    f:write([[
      local registry = require "regsh.registry"
      local function open()
        return assert(registry.open(arg[1], {log = function(level, message)
          io.stderr:write(level, " ", message, "\n") end}))
      end
      -- the empty config, uploaded by another client so that the next one's
      -- first request is the manifest's PUT
      local config = assert(open():blob_upload("app/one", "{}"))
      io.stderr:write("-- the writer\n")
      assert(open():put_manifest("app/one", "v1", string.format('{"schemaVersion":2,'
        .. '"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":'
        .. '"application/vnd.oci.empty.v1+json","digest":"%s","size":2},"layers":[]}', config),
        "application/vnd.oci.image.manifest.v1+json"))
    ]])
    f:close()
    _, status, err = cmd.sh("XDG_STATE_HOME=" .. q(state) .. " " .. q(cmd.bin) .. " " .. q(script)
      .. " " .. q(r.host))
    assert.equal(0, status, err)
    local writer = err:match("%-%- the writer\n(.*)$")
    assert.is_not_nil(writer, err)
    assert.matches("^debug GET http://" .. r.host:gsub("%p", "%%%0") .. "/v2/ %-> 200.-\n"
      .. "debug PUT http://", writer)
  end)

  it("ignores a corrupt or stale cache and rewrites it", function()
    local r = R.start()
    finally(function() R.stop(r) end)
    local far = os.time() + 10 * 86400
    write_cache("garbage\0\255 line\n" .. r.host .. " http " .. far .. "\n"
      .. "127.0.0.1:1 http " .. (os.time() - 5) .. "\n" .. r.host .. " ftp 99\n")
    local _, status, err = catalog(r.host)
    assert.equal(0, status, err)
    -- the entry too far ahead is not believed: https was tried first
    assert.matches("GET https://" .. r.host, err, 1, true)
    assert.matches("^127%.0%.0%.1:" .. r.port .. " http %d+\n$", cache_text())
    -- stale: an expired entry is no entry
    write_cache(r.host .. " http " .. (os.time() - 1) .. "\n")
    _, status, err = catalog(r.host)
    assert.equal(0, status, err)
    assert.matches("GET https://" .. r.host, err, 1, true)
    assert.matches("^127%.0%.0%.1:" .. r.port .. " http %d+\n$", cache_text())
  end)

  it("finds a registry that moved from HTTP to HTTPS and back on the next command", function()
    local r = R.start()
    local port = r.port
    local _, status, err = catalog(r.host)
    assert.equal(0, status, err)
    assert.is_not_nil(cache_text():find(r.host, 1, true))
    R.stop(r)
    r = R.start{port = port, tls = pki.server_cert .. "," .. pki.server_key}
    finally(function() R.stop(r) end)
    _, status, err = catalog(r.host, "--ca-file", pki.ca)
    assert.equal(0, status, err)
    assert.matches("GET https://" .. r.host .. "/v2/ -> 200", err, 1, true)
    assert.matches("^127%.0%.0%.1:" .. port .. " https %d+\n$", cache_text())  -- learnt anew
    R.stop(r)
    r = R.start{port = port}
    _, status, err = catalog(r.host, "--ca-file", pki.ca)
    assert.equal(0, status, err)
    assert.matches("GET http://" .. r.host .. "/v2/ -> 200", err, 1, true)
    assert.matches("^127%.0%.0%.1:" .. port .. " http %d+\n$", cache_text())
  end)

  it("never trusts an entry over a failing connection", function()
    local r = R.start()
    local host = r.host
    local _, status, err = catalog(host)
    assert.equal(0, status, err)
    R.stop(r)
    _, status, err = catalog(host, "--deadline", "2")
    assert.equal(1, status)
    assert.matches("ECONNREFUSED", err)
    assert.equal("", cache_text())
  end)

  it("keeps a host that is not loopback on https, whatever the cache says", function()
    write_cache("registry.invalid:5000 http " .. (os.time() + 3600) .. "\n")
    local _, status, err = catalog("registry.invalid:5000", "--deadline", "2")
    assert.equal(1, status)
    assert.matches("https://registry%.invalid:5000", err)
    assert.not_matches("http://registry", err, 1, true)
  end)
end)
