-- regsh catalog HOST: list the repositories of a registry (all pages),
-- optionally those a regular expression (regsh.regex, PCRE2) finds.
local flags = require "regsh.cli.registry_flags"

return {
  summary = "List the repositories of a registry.",
  examples = {
    "regsh catalog 127.0.0.1:5000",
    "regsh catalog myregistry.azurecr.io --filter '^team/' --output json",
    "regsh catalog 127.0.0.1:5000 --filter '^(?!tmp/)'    (everything not under tmp/)",
  },
  configure = function(cmd)
    cmd:argument("host", "Registry host, HOST[:PORT] or https://HOST.")
    cmd:option("--filter", "Regular expression (PCRE2) searched in each repository name; "
      .. "anchor it with ^ and $.")
      :argname("<regex>")
    flags.add(cmd, {listing = true})
  end,
  run = function(args)
    local filter
    if args.filter then  -- a bad pattern is a usage error, found before any request
      local err
      filter, err = require("regsh.regex").compile(args.filter)
      if not filter then
        io.stderr:write("regsh catalog: ", err, "\n")
        return require("regsh.cli").EXIT_USAGE
      end
    end
    local reg, err, code = flags.open(args.host, args, "catalog")
    if not reg then return flags.fail("catalog", err, code == "EREF" and "usage" or code) end
    local repositories
    repositories, err = reg:repositories()
    if not repositories then return flags.fail("catalog", err) end
    if filter then
      local kept = {}
      for _, name in ipairs(repositories) do
        local found, match_err = filter:test(name)
        if found == nil then return flags.fail("catalog", match_err) end
        if found then kept[#kept + 1] = name end
      end
      repositories = kept
    end
    flags.print(args, require("regsh.json").array(repositories), function(list)
      return table.concat(list, "\n")
    end)
    return 0
  end,
}
