-- json.lua: fuzz driver of regsh.json.decode (lua-cjson under regsh's
-- number and array rules). Any text decodes or fails with EJSON; what
-- decodes encodes (unless it holds what JSON cannot write: then encode
-- raises, which is its documented misuse), and that text decodes again.
local contract = require "contract"
local json = require "regsh.json"
local cjson_safe = require "cjson.safe"

return contract.driver(function(text)
  cjson_safe.decode(text)       -- the raw decoder must not crash either
  local value = contract.check("decode", json.decode, {EJSON = true}, text, "fuzz")
  if value == nil then return end
  local ok, encoded = pcall(json.encode, value)
  if not ok then return end
  local again, err = json.decode(encoded)
  contract.expect(again ~= nil, "encoded text does not decode: %s -> %s: %s",
    contract.show(text), contract.show(encoded), tostring(err))
  local ok2, twice = pcall(json.encode, again)
  contract.expect(ok2 and twice == encoded, "encode(decode(encode(v))) differs: %s vs %s",
    contract.show(encoded), contract.show(twice))
end)
