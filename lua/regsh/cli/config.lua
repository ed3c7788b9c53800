-- regsh config REF: print the image config (created, os, architecture,
-- labels...) a manifest points at; an index is read for --platform (linux/amd64).
local flags = require "regsh.cli.registry_flags"

return {
  summary = "Print the image config of an image reference.",
  examples = {
    "regsh config 127.0.0.1:5000/app:v1",
    "regsh config 127.0.0.1:5000/app@sha256:... -o json",
    "regsh config --platform linux/arm64 127.0.0.1:5000/multi:latest",
  },
  configure = function(cmd)
    cmd:argument("reference", "HOST/REPOSITORY[:TAG][@DIGEST].")
    cmd:option("--platform", "For an index: the image of OS/ARCHITECTURE (default linux/amd64).")
      :argname("<os/arch>")
    flags.add(cmd)
  end,
  run = function(args)
    if args.platform and not args.platform:match("^[%w_.-]+/[%w_.-]+$") then
      return flags.fail("config", "--platform must be OS/ARCHITECTURE such as linux/arm64, got '"
        .. args.platform .. "'", "usage")
    end
    local reg, r = flags.open_reference(args.reference, args, "config")
    if not reg then return r end
    local config, err = reg:config(r.repository, r:ref(), {platform = args.platform})
    if not config then return flags.fail("config", err) end
    -- the config is JSON either way; text is the same, pretty-printed
    require("regsh.cli").print_json(config)
    return 0
  end,
}
