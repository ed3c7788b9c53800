-- manifest_json.lua: fuzz driver of what regsh does with a manifest a
-- registry sends (regsh.registry.manifest: digest check, decode, media type,
-- references, platform pick, the untag throwaway; then the purge
-- inventory's facts). decode returns a table or nil, "EPROTO|ENOTSUP: ...";
-- nothing after a successful decode raises, whatever shape the JSON has.
local contract = require "contract"
local manifest = require "regsh.registry.manifest"
local inventory = require "regsh.purge.inventory"

local CODES = {EPROTO = true, ENOTSUP = true}
local TYPES = {manifest.OCI_INDEX, manifest.OCI_MANIFEST, "application/json", nil}

return contract.driver(function(raw)
  local d = contract.check("verify", manifest.verify, {EDIGEST = true}, raw, "fuzz", nil, nil)
  contract.expect(d, "verify without an expected digest failed")
  local content_type = TYPES[#raw % 4 + 1]
  local m = contract.check("decode", manifest.decode, CODES, raw, content_type, "fuzz")
  if m == nil then return end
  m.digest = d
  contract.call("media_type_of", manifest.media_type_of, m, content_type)
  for _, r in ipairs(contract.call("references", manifest.references, m)) do
    contract.expect(type(r.descriptor.digest) == "string", "a reference without a digest")
  end
  if manifest.is_index(m.media_type) then
    contract.call("pick_platform", manifest.pick_platform, m)
  end
  contract.call("descriptors", manifest.descriptors, m.manifests)
  contract.call("is_throwaway", manifest.is_throwaway, m)
  contract.call("facts_of", inventory.facts_of, m)
end)
