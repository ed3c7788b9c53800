-- regsh referrers REF: the signatures, SBOMs and attestations that refer to
-- an image (OCI referrers API, else the sha256-<hex> tag schema).
local flags = require "regsh.cli.registry_flags"

return {
  summary = "List the artifacts that refer to an image.",
  examples = {
    "regsh referrers 127.0.0.1:5000/app:v1",
    "regsh referrers 127.0.0.1:5000/app@sha256:... --artifact-type application/spdx+json -o json",
  },
  configure = function(cmd)
    cmd:argument("reference", "HOST/REPOSITORY[:TAG][@DIGEST] of the subject.")
    cmd:option("--artifact-type", "Only referrers of this artifact type.")
    flags.add(cmd)
  end,
  run = function(args)
    local reg, r = flags.open_reference(args.reference, args, "referrers")
    if not reg then return r end
    local err
    local subject = r.digest
    if not subject then
      local head
      head, err = reg:head(r.repository, r.tag)
      if not head then return flags.fail("referrers", err) end
      subject = head.digest
    end
    local list
    list, err = reg:referrers(r.repository, subject, args.artifact_type)
    if not list then return flags.fail("referrers", err) end
    flags.print(args, require("regsh.json").array(list), function(descriptors)
      local lines = {}
      for i, d in ipairs(descriptors) do
        lines[i] = table.concat({d.digest, d.artifactType or "-", d.mediaType or "-"}, "\t")
      end
      return table.concat(lines, "\n")
    end)
    return 0
  end,
}
