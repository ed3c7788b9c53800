-- regsh repl: the interactive session (what `regsh` alone starts on a terminal).
return {
  summary = "Start an interactive Lua session with the regsh primitives at hand.",
  examples = {"regsh repl", "regsh repl --registry 127.0.0.1:5000",
              "echo 'regsh.version' | regsh repl"},
  configure = function(cmd)
    cmd:option("--registry -r", "Open this registry as the global `reg` before the first prompt.")
      :argname("HOST")
    cmd:flag("--insecure", "Allow plain HTTP to --registry when it is not loopback.")
  end,
  run = function(args)
    if args.registry then
      local reg, err, code = require("regsh.registry").open(args.registry,
        {insecure = args.insecure or nil})
      if not reg then return nil, err, code end
      rawset(_G, "reg", reg)
    end
    require("regsh.core.repl").run()
    return 0
  end,
}
