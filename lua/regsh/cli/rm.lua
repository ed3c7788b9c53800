-- regsh rm REF: delete a manifest by digest, or remove one tag (client:untag:
-- the manifest and its other tags stay, on distribution 2.8 too). With
-- --manifest a tag is resolved and its manifest deleted (with every tag on it,
-- named in the output). A dry run reads what the real run would meet.
local flags = require "regsh.cli.registry_flags"

return {
  summary = "Delete a manifest (by digest) or a tag.",
  examples = {
    "regsh rm 127.0.0.1:5000/app@sha256:...",
    "regsh rm myreg.azurecr.io/app:old-tag",
    "regsh rm 127.0.0.1:5000/app:v1 --manifest --dry-run",
  },
  configure = function(cmd)
    cmd:argument("reference", "HOST/REPOSITORY:TAG or HOST/REPOSITORY@DIGEST.")
    cmd:flag("-m --manifest", "For a tag: delete the manifest it points at (and every tag on it).")
    flags.add(cmd, {dry_run = true})
  end,
  run = function(args)
    local reg, r = flags.open_reference(args.reference, args, "rm", {default_tag = false},
      function(ref)
        if not ref.tag and not ref.digest then
          return "name a tag or a digest to delete, got '" .. args.reference .. "'"
        end
      end)
    if not reg then return r end
    local ok, done, code, tags
    local target = r.digest
    if not target and args.manifest then
      local head, err = reg:head(r.repository, r.tag)
      if not head then return flags.fail("rm", err) end
      target = head.digest
    end
    if target then
      -- the tags that go with the digest, named before they are gone
      tags, done = reg:tags_of(r.repository, target)
      if not tags then return flags.fail("rm", done) end
      ok, done, code = reg:delete(r.repository, target)
    else
      ok, done, code = reg:untag(r.repository, r.tag)
    end
    if not ok and code ~= "EDRYRUN" then return flags.fail("rm", done) end
    local shown = r.registry .. "/" .. r.repository
      .. (target and ("@" .. target) or (":" .. r.tag))
    local absent = ok == true and done == false
    local result = {reference = shown, deleted = ok == true and not absent,
                    already_gone = absent, dry_run = code == "EDRYRUN", tags = tags}
    if tags then require("regsh.json").array(tags) end
    flags.print(args, result, function()
      if absent then return shown .. ": already gone" end
      local with = (tags and #tags > 0) and (" with its tags " .. table.concat(tags, ", ")) or ""
      if code == "EDRYRUN" then
        return (target and "would delete " or "would untag ") .. shown .. with
      end
      if not target then return "untagged " .. shown end
      return "deleted " .. shown .. with
    end)
    return 0
  end,
}
