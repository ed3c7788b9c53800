-- regsh repl: the interactive session (what `regsh` alone starts on a terminal).
return {
  summary = "Start an interactive Lua session with the regsh primitives at hand.",
  examples = {"regsh repl", "echo 'regsh.version' | regsh repl"},
  configure = function() end,
  run = function()
    require("regsh.core.repl").run()
    return 0
  end,
}
