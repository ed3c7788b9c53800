-- regsh ls HOST/REPO: list the tags of a repository (all pages, printed as
-- they come), optionally with the digest each points at.
local flags = require "regsh.cli.registry_flags"

local BATCH = 1000  -- tags printed (and their digests asked for) at a time

return {
  summary = "List the tags of a repository.",
  examples = {
    "regsh ls 127.0.0.1:5000/app",
    "regsh ls 127.0.0.1:5000/app --digests --output json",
  },
  configure = function(cmd)
    cmd:argument("repository", "HOST/REPOSITORY.")
    cmd:flag("-d --digests", "Also show the digest of each tag (one HEAD request per tag).")
    flags.add(cmd, {listing = true})
  end,
  run = function(args)
    local reg, r = flags.open_reference(args.repository, args, "ls", {default_tag = false},
      function(ref)
        if ref.tag or ref.digest then
          return "expected HOST/REPOSITORY without a tag or digest, got '" .. args.repository .. "'"
        end
      end)
    if not reg then return r end
    local printer = flags.stream(args, function(list)
      local lines = {}
      for i, t in ipairs(list) do
        lines[i] = args.digests and (t.name .. "\t" .. (t.digest or "")) or t.name
      end
      return table.concat(lines, "\n")
    end)
    -- printed a batch at a time as the pages come: memory follows one batch,
    -- not the whole listing (a batch's digests are asked for concurrently)
    local failure
    local function flush(batch)
      if args.digests then
        local jobs = {}
        for i, t in ipairs(batch) do
          jobs[i] = function()
            if t.digest then return end
            local head, head_err = reg:head(r.repository, t.name)
            if head then t.digest = head.digest else failure = failure or head_err end
          end
        end
        require("regsh.async").gather(jobs, {concurrency = reg.concurrency})
        if failure then return end
      end
      printer.write(batch)
    end
    local ok, err = pcall(function()
      local batch = {}
      for t in reg:each_tag(r.repository) do
        batch[#batch + 1] = t
        if #batch == BATCH then
          flush(batch)
          if failure then return end
          batch = {}
        end
      end
      flush(batch)
    end)
    if not ok then
      -- each_tag raises a failure as "CODE: detail"; anything else is a bug
      if type(err) ~= "string" or not err:match("^%u+: ") then error(err, 0) end
      failure = err
    end
    if failure then return flags.fail("ls", failure) end
    printer.close()
    return 0
  end,
}
