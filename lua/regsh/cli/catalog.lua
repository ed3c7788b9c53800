-- regsh catalog HOST: list the repositories of a registry (all pages).
local flags = require "regsh.cli.registry_flags"

return {
  summary = "List the repositories of a registry.",
  examples = {
    "regsh catalog 127.0.0.1:5000",
    "regsh catalog myregistry.azurecr.io --filter '^team/' --output json",
  },
  configure = function(cmd)
    cmd:argument("host", "Registry host, HOST[:PORT] or https://HOST.")
    cmd:option("--filter", "Lua pattern the repository names must contain.")
    flags.add(cmd)
  end,
  run = function(args)
    local reg, err, code = flags.open(args.host, args, "catalog")
    if not reg then return flags.fail("catalog", err, code == "EREF" and "usage" or code) end
    local repositories
    repositories, err = reg:repositories(args.filter)
    if not repositories then return flags.fail("catalog", err) end
    flags.print(args, require("regsh.json").array(repositories), function(list)
      return table.concat(list, "\n")
    end)
    return 0
  end,
}
