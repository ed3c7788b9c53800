-- regsh cp SRC DST: copy an image (every platform of an index) within a
-- registry or between registries; prints the digest.
local flags = require "regsh.cli.registry_flags"

return {
  summary = "Copy an image between repositories or registries.",
  examples = {
    "regsh cp 127.0.0.1:5000/app:v1 127.0.0.1:5000/backup/app:v1",
    "regsh cp 127.0.0.1:5000/app:v1 myreg.azurecr.io/app --dry-run",
  },
  configure = function(cmd)
    cmd:argument("source", "HOST/REPOSITORY[:TAG][@DIGEST] to copy.")
    cmd:argument("destination", "HOST/REPOSITORY[:TAG]; without a tag the source's is kept.")
    flags.add(cmd, {dry_run = true})
  end,
  run = function(args)
    local s, err = flags.reference(args.source)
    if not s then return flags.fail("cp", err, "usage") end
    local d
    d, err = flags.reference(args.destination, {default_tag = false})
    if not d then return flags.fail("cp", err, "usage") end
    local opts, usage = flags.options(args, "cp")
    if not opts then return flags.fail("cp", usage, "usage") end
    local digest, code
    digest, err, code = require("regsh.registry").copy(args.source, args.destination, opts)
    if not digest and code ~= "EDRYRUN" then return flags.fail("cp", err) end
    local result = {source = s.string, destination = d.string, digest = digest,
                    dry_run = code == "EDRYRUN"}
    flags.print(args, result, function()
      if code == "EDRYRUN" then return (err:gsub("^EDRYRUN: ", "")) end
      return digest
    end)
    return 0
  end,
}
