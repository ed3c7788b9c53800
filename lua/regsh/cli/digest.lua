-- regsh digest REF: print the digest a tag points at (one HEAD request).
local flags = require "regsh.cli.registry_flags"

return {
  summary = "Print the digest of an image reference.",
  examples = {
    "regsh digest 127.0.0.1:5000/app:v1",
    "regsh digest myreg.azurecr.io/app:latest -o json",
  },
  configure = function(cmd)
    cmd:argument("reference", "HOST/REPOSITORY[:TAG][@DIGEST].")
    flags.add(cmd)
  end,
  run = function(args)
    local reg, r = flags.open_reference(args.reference, args, "digest")
    if not reg then return r end
    local err
    local head
    head, err = reg:head(r.repository, r:ref())
    if not head then return flags.fail("digest", err) end
    flags.print(args, {reference = r.string, digest = head.digest, media_type = head.media_type,
                       size = head.size}, function(h) return h.digest end)
    return 0
  end,
}
