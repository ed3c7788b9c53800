-- Which CAs HTTPS trusts (lua/regsh/http.lua, src/http.c): a hashed CA
-- directory verifies as strictly as a bundle, a given file or directory
-- wins, a directory that cannot serve fails ETLS naming it, and a CA file
-- is read once per process (curl's CA cache). Against a TLS docker-registry.
local http = require "regsh.http"
local R = require "support.registry"
local servers = require "support.servers"
local cmd = require "support.cmd"

local q = cmd.quote

local function sh_ok(line)
  local out, status, err = cmd.sh(line)
  assert(status == 0, line .. " failed: " .. out .. err)
  return out
end

-- a temp dir holding the given PEM files, hashed as OpenSSL looks them up
local function hashed_dir(...)
  local dir = sh_ok("mktemp -d /tmp/regsh-cadir.XXXXXX"):gsub("%s+$", "")
  for i, pem in ipairs({...}) do sh_ok("cp " .. q(pem) .. " " .. q(dir .. "/ca" .. i .. ".pem")) end
  sh_ok("openssl rehash " .. q(dir))
  return dir
end

-- regsh -e CODE with none of the CA variables of this environment, plus env
local function regsh_e(code, env)
  local words = {"env -u CURL_CA_BUNDLE -u SSL_CERT_FILE -u SSL_CERT_DIR"}
  for k, v in pairs(env or {}) do words[#words + 1] = k .. "=" .. q(v) end
  words[#words + 1] = q(cmd.bin) .. " -e " .. q(code)
  return cmd.sh(table.concat(words, " "))
end

describe("regsh.http: CAs to trust #disk", function()
  local pki, r, other, good_dir, other_dir, empty_dir, url

  setup(function()
    pki = servers.pki()
    r = R.start{tls = pki.server_cert .. "," .. pki.server_key}
    url = r.url .. "/v2/"
    -- a CA that did not sign the server's certificate, and its own server
    local d = sh_ok("mktemp -d /tmp/regsh-otherca.XXXXXX"):gsub("%s+$", "")
    sh_ok("cd " .. q(d) .. " && openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key "
      .. "-out ca.pem -days 2 -subj '/CN=regsh other CA' "
      .. "-addext basicConstraints=critical,CA:TRUE 2>/dev/null")
    other = {dir = d, ca = d .. "/ca.pem"}
    good_dir = hashed_dir(pki.ca)
    other_dir = hashed_dir(other.ca)
    empty_dir = sh_ok("mktemp -d /tmp/regsh-cadir.XXXXXX"):gsub("%s+$", "")
  end)

  teardown(function()
    R.stop(r)
    for _, d in ipairs({other and other.dir, good_dir, other_dir, empty_dir}) do
      if d then os.execute("rm -rf " .. q(d)) end
    end
  end)

  it("verifies a server whose CA is in a hashed directory", function()
    local res = assert(http.get(url, {ca_dir = good_dir}))
    assert.equal(200, res.status)
  end)

  it("fails ETLS for a CA the directory does not hold, and for a wrong host name", function()
    local res, err, code = http.get(url, {ca_dir = other_dir})
    assert.is_nil(res)
    assert.equal("ETLS", code)
    assert.matches("certificate", err)
    -- the certificate names 127.0.0.1 and localhost; the registry's file
    -- given as a CA file names neither
    local wrong = sh_ok("mktemp -d /tmp/regsh-wrongname.XXXXXX"):gsub("%s+$", "")
    finally(function() os.execute("rm -rf " .. q(wrong)) end)
    sh_ok("cd " .. q(wrong) .. " && openssl req -newkey rsa:2048 -nodes -keyout s.key -out s.csr "
      .. "-subj /CN=elsewhere.regsh.test 2>/dev/null && printf 'subjectAltName=DNS:elsewhere.regsh.test\\n' "
      .. "> s.ext && openssl x509 -req -in s.csr -CA " .. q(pki.ca) .. " -CAkey "
      .. q(pki.dir .. "/ca.key") .. " -CAcreateserial -CAserial s.srl -out s.pem -days 2 "
      .. "-extfile s.ext 2>/dev/null")
    local w = R.start{tls = wrong .. "/s.pem," .. wrong .. "/s.key"}
    finally(function() R.stop(w) end)
    res, err, code = http.get(w.url .. "/v2/", {ca_dir = good_dir})
    assert.is_nil(res)
    assert.equal("ETLS", code)
    assert.matches("127%.0%.0%.1", err)
    -- the same server verifies once the name is not the question
    assert.equal(200, assert(http.get(w.url .. "/v2/", {ca_dir = good_dir, insecure = true})).status)
  end)

  it("fails ETLS naming a CA directory that is missing or holds no hashed names", function()
    local missing = empty_dir .. "/nowhere"
    local res, err, code = http.get(url, {ca_dir = missing})
    assert.is_nil(res)
    assert.equal("ETLS", code)
    assert.equal("ETLS: " .. url .. ": CA directory " .. missing .. ": no such file or directory",
      err)
    res, err, code = http.get(url, {ca_dir = empty_dir})
    assert.is_nil(res)
    assert.equal("ETLS", code)
    assert.equal("ETLS: " .. url .. ": CA directory " .. empty_dir .. " holds no hashed "
      .. "certificates (openssl rehash " .. empty_dir .. ")", err)
  end)

  it("trusts a given CA file alone, not the directory beside it", function()
    -- the file of the wrong CA wins over a directory that would verify
    local res, _, code = http.get(url, {ca_file = other.ca})
    assert.is_nil(res)
    assert.equal("ETLS", code)
    assert.equal(200, assert(http.get(url, {ca_file = pki.ca})).status)
  end)

  it("reads a CA file once per process (curl's CA cache)", function()
    local copy = cmd.temp_file(cmd.read_file(pki.ca))
    assert.equal(200, assert(http.get(url, {ca_file = copy})).status)
    os.remove(copy)
    -- a new connection (another host name) verifies with the store read before
    local res = assert(http.get("https://localhost:" .. r.port .. "/v2/", {ca_file = copy}))
    assert.equal(200, res.status)
    assert.equal(1, res.new_connections)
  end)

  it("takes the CA variables when no CA is given, the system directory otherwise", function()
    local code = "local r, e = require('regsh.http').get('" .. url .. "') "
      .. "print(r and r.status or e)"
    local out = regsh_e(code, {SSL_CERT_DIR = good_dir})
    assert.equal("200\n", out)
    out = regsh_e(code, {CURL_CA_BUNDLE = pki.ca})
    assert.equal("200\n", out)
    out = regsh_e(code, {SSL_CERT_FILE = pki.ca})
    assert.equal("200\n", out)
    -- the system's CAs do not include the test CA
    out = regsh_e(code)
    assert.matches("^ETLS: .*certificate", out)
    out = regsh_e(code, {SSL_CERT_DIR = empty_dir})
    assert.equal("ETLS: " .. url .. ": CA directory " .. empty_dir .. " holds no hashed "
      .. "certificates (openssl rehash " .. empty_dir .. ")\n", out)
  end)

  it("takes --ca-dir on the command line", function()
    local out, status, err = cmd.regsh({"catalog", r.host, "--ca-dir", good_dir})
    assert.equal(0, status, err)
    assert.equal("", out)
    out, status, err = cmd.regsh({"catalog", r.host, "--ca-dir", empty_dir})
    assert.equal(1, status)
    assert.matches("CA directory " .. empty_dir:gsub("%p", "%%%0") .. " holds no hashed", err)
  end)
end)
