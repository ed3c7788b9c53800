-- regsh completion SHELL: print a completion script generated from the same
-- flag declarations the commands parse with.
return {
  summary = "Print a shell completion script (bash, zsh or fish).",
  examples = {
    "regsh completion bash > /etc/bash_completion.d/regsh",
    "regsh completion zsh > \"${fpath[1]}/_regsh\"",
    "regsh completion fish > ~/.config/fish/completions/regsh.fish",
  },
  configure = function(cmd)
    cmd:argument("shell", "The shell to complete for.")
      :choices({"bash", "zsh", "fish"})
  end,
  run = function(args)
    local parser = require("regsh.cli").parser()
    local generate = {
      bash = parser.get_bash_complete, zsh = parser.get_zsh_complete,
      fish = parser.get_fish_complete,
    }
    io.stdout:write(generate[args.shell](parser))
    return 0
  end,
}
