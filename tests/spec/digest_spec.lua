-- regsh.digest against known answers: the FIPS 180 example messages, whose
-- SHA-256 and SHA-512 values are published (and were checked with coreutils'
-- sha256sum/sha512sum when this file was written). Nothing here compares the
-- module with itself, so a hasher or a verify() that lies cannot pass.
local digest = require "regsh.digest"
local cmd = require "support.cmd"

local million_a = ("a"):rep(1000000)

local vectors = {
  {"", "sha256", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
  {"abc", "sha256", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
  {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", "sha256",
   "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
  {million_a, "sha256", "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"},
  {"", "sha512", "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce"
                .. "47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e"},
  {"abc", "sha512", "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a"
                   .. "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f"},
  {"abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu",
   "sha512", "8e959b75dae313da8cf4f72814fc143f8f7779c6eb9f7fa17299aeadb6889018"
             .. "501d289e4900f7e4331b99dec4b5433ac7d329eeb6dd26545e96e55b874be909"},
  {million_a, "sha512", "e718483d0ce769644e2e42c7bc15b4638e1f98b13b2044285632a803afa973eb"
                        .. "de0ff244877ea60a4cb0432ce577c31beb009c5c2c49aa2e4eadb217ad8cc09b"},
}

local function label(v)
  local shown = #v[1] > 20 and (#v[1] .. " bytes") or string.format("%q", v[1])
  return v[2] .. " of " .. shown
end

describe("regsh.digest known answers", function()
  for _, v in ipairs(vectors) do
    local data, algorithm, hex = v[1], v[2], v[3]
    local expected = algorithm .. ":" .. hex

    it("string(): " .. label(v), function()
      assert.equal(expected, digest.string(data, algorithm))
    end)

    it("new():update() in uneven pieces: " .. label(v), function()
      local h = digest.new(algorithm)
      local i, step = 1, 1
      while i <= #data do
        h:update(data:sub(i, i + step - 1))
        i, step = i + step, step * 3 + 1
      end
      assert.equal(expected, h:digest())
    end)

    it("file(): " .. label(v), function()
      local path = cmd.temp_file(data)
      local got, size = digest.file(path, algorithm)
      os.remove(path)
      assert.equal(expected, got)
      assert.equal(#data, size)
    end)
  end

  it("sha256 is the default algorithm", function()
    assert.equal(vectors[2][2] .. ":" .. vectors[2][3], digest.string("abc"))
  end)

  it("rejects an unknown algorithm", function()
    local ok, err = pcall(digest.string, "abc", "md5")
    assert.is_false(ok)
    assert.matches("invalid option 'md5'", err, 1, true)
    ok, err = pcall(digest.new, "sha1")
    assert.is_false(ok)
    assert.matches("invalid option 'sha1'", err, 1, true)
  end)

  it("a finished hasher cannot be used again", function()
    local h = digest.new()
    h:digest()
    assert.has_error(function() h:update("x") end, "attempt to use a finished hasher")
  end)

  it("file() of a missing path fails ENOENT naming the path", function()
    local got, err, code = digest.file("/nonexistent/regsh-digest-test")
    assert.is_nil(got)
    assert.equal("ENOENT", code)
    assert.matches("/nonexistent/regsh-digest-test", err, 1, true)
  end)
end)

describe("regsh.digest.valid", function()
  local abc = "sha256:" .. vectors[2][3]
  it("accepts well-formed sha256 and sha512 digests", function()
    assert.is_true(digest.valid(abc))
    assert.is_true(digest.valid("sha512:" .. vectors[6][3]))
  end)
  it("rejects wrong lengths, upper case, other algorithms and non-strings", function()
    assert.is_false(digest.valid(abc:sub(1, -2)))
    assert.is_false(digest.valid(abc .. "0"))
    assert.is_false(digest.valid(abc:upper()))
    assert.is_false(digest.valid("sha256:" .. vectors[2][3]:upper()))
    assert.is_false(digest.valid("md5:" .. ("0"):rep(32)))
    assert.is_false(digest.valid("sha512:" .. vectors[2][3]))
    assert.is_false(digest.valid(nil))
    assert.is_false(digest.valid(42))
  end)
end)

describe("regsh.digest.verify", function()
  local abc = "sha256:" .. vectors[2][3]
  it("is true for content that matches the published digest", function()
    assert.is_true(digest.verify("abc", abc))
    assert.is_true(digest.verify("", "sha512:" .. vectors[5][3]))
  end)
  it("fails EDIGEST, naming both digests, for one changed byte", function()
    local ok, err, code = digest.verify("abd", abc, "blob x")
    assert.is_nil(ok)
    assert.equal("EDIGEST", code)
    assert.matches("^EDIGEST: blob x: ", err)
    assert.matches(abc, err, 1, true)
  end)
  it("fails EDIGEST for a malformed expected digest", function()
    local ok, err, code = digest.verify("abc", "sha256:abc")
    assert.is_nil(ok)
    assert.equal("EDIGEST", code)
    assert.matches("malformed", err, 1, true)
  end)
end)
