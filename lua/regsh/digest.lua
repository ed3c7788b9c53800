-- regsh.digest: content digests ("sha256:<hex>") over the C module
-- regsh.core.digest (OpenSSL), plus the checks the registry client needs.
local core = require "regsh.core.digest"

local M = {
  new = core.new,        -- new([algorithm]) -> hasher with :update(data), :digest()
  string = core.string,  -- string(data [, algorithm]) -> "sha256:<hex>"
  file = core.file,      -- file(path [, algorithm]) -> digest, size | fail
}

local lengths = {sha256 = 64, sha512 = 128}

--- Whether s is a well-formed digest of a supported algorithm.
function M.valid(s)
  if type(s) ~= "string" then return false end
  local algorithm, hex = s:match("^(%w+):(%x+)$")
  return algorithm ~= nil and lengths[algorithm] == #hex and hex == hex:lower()
end

--- true if data hashes to expected, else nil, "EDIGEST: ...", "EDIGEST".
function M.verify(data, expected, what)
  if not M.valid(expected) then
    return nil, string.format("EDIGEST: %s: malformed digest '%s'", what or "content",
      tostring(expected)), "EDIGEST"
  end
  local actual = core.string(data, expected:match("^(%w+):"))
  if actual ~= expected then
    return nil, string.format("EDIGEST: %s: content has digest %s, expected %s",
      what or "content", actual, expected), "EDIGEST"
  end
  return true
end

return M
