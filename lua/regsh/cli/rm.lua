-- regsh rm REF: delete a manifest by digest, or remove a tag. With
-- --manifest a tag is resolved and its manifest deleted (with every tag on it).
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
    local ok, err, code
    local target = r.digest
    if not target and args.manifest then
      local head
      head, err = reg:head(r.repository, r.tag)
      if not head then return flags.fail("rm", err) end
      target = head.digest
    end
    if target then
      ok, err, code = reg:delete(r.repository, target)
    else
      ok, err, code = reg:untag(r.repository, r.tag)
      if code == "ENOTSUP" then err = err .. " (or use --manifest)" end
    end
    if not ok and code ~= "EDRYRUN" then return flags.fail("rm", err) end
    local shown = r.registry .. "/" .. r.repository
      .. (target and ("@" .. target) or (":" .. r.tag))
    local result = {reference = shown, deleted = ok == true, dry_run = code == "EDRYRUN"}
    flags.print(args, result, function()
      if code == "EDRYRUN" then return (err:gsub("^EDRYRUN: ", "")) end
      return "deleted " .. shown
    end)
    return 0
  end,
}
