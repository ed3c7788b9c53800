-- regsh logout HOST: remove the credentials `regsh login` (or docker login) stored.
local flags = require "regsh.cli.registry_flags"

return {
  summary = "Remove stored credentials for a registry.",
  examples = {"regsh logout 127.0.0.1:5000"},
  configure = function(cmd)
    cmd:argument("host", "Registry host, HOST[:PORT] or https://HOST.")
    flags.add(cmd, {credentials = false})
  end,
  run = function(args)
    local ok, removed, code = require("regsh.registry").logout(args.host)
    if not ok then return flags.fail("logout", removed, code == "EREF" and "usage" or code) end
    flags.print(args, {host = args.host, removed = removed}, function()
      if removed then return "Removed the credentials for " .. args.host end
      return "Not logged in to " .. args.host
    end)
    return 0
  end,
}
