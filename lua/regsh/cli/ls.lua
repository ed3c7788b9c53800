-- regsh ls HOST/REPO: list the tags of a repository (all pages), optionally
-- with the digest each points at.
local flags = require "regsh.cli.registry_flags"

return {
  summary = "List the tags of a repository.",
  examples = {
    "regsh ls 127.0.0.1:5000/app",
    "regsh ls 127.0.0.1:5000/app --digests --output json",
  },
  configure = function(cmd)
    cmd:argument("repository", "HOST/REPOSITORY.")
    cmd:flag("-d --digests", "Also show the digest of each tag (one HEAD request per tag).")
    flags.add(cmd)
  end,
  run = function(args)
    local reg, r = flags.open_reference(args.repository, args, "ls", {default_tag = false},
      function(ref)
        if ref.tag or ref.digest then
          return "expected HOST/REPOSITORY without a tag or digest, got '" .. args.repository .. "'"
        end
      end)
    if not reg then return r end
    local err
    local tags
    tags, err = reg:tags(r.repository)
    if not tags then return flags.fail("ls", err) end
    if args.digests then
      local jobs, failure = {}, nil
      for i, t in ipairs(tags) do
        jobs[i] = function()
          if t.digest then return end
          local head, head_err = reg:head(r.repository, t.name)
          if head then t.digest = head.digest else failure = failure or head_err end
        end
      end
      require("regsh.async").gather(jobs, {concurrency = reg.concurrency})
      if failure then return flags.fail("ls", failure) end
    end
    flags.print(args, require("regsh.json").array(tags), function(list)
      local lines = {}
      for i, t in ipairs(list) do
        lines[i] = args.digests and (t.name .. "\t" .. (t.digest or "")) or t.name
      end
      return table.concat(lines, "\n")
    end)
    return 0
  end,
}
