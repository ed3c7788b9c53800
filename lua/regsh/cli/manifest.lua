-- regsh manifest REF: print a manifest exactly as the registry stores it
-- (text), or with its digest and media type (json).
local flags = require "regsh.cli.registry_flags"

return {
  summary = "Print the manifest of an image reference.",
  examples = {
    "regsh manifest 127.0.0.1:5000/app:v1",
    "regsh manifest 127.0.0.1:5000/app:v1 -o json",
  },
  configure = function(cmd)
    cmd:argument("reference", "HOST/REPOSITORY[:TAG][@DIGEST].")
    flags.add(cmd)
  end,
  run = function(args)
    local reg, r = flags.open_reference(args.reference, args, "manifest")
    if not reg then return r end
    local err
    local m
    m, err = reg:manifest(r.repository, r:ref())
    if not m then return flags.fail("manifest", err) end
    local json = require "regsh.json"
    flags.print(args, {reference = r.string, digest = m.digest, media_type = m.media_type,
                       size = m.size, manifest = json.decode(m.raw)},
      function() return m.raw end)
    return 0
  end,
}
