-- regsh help [COMMAND]: the command list, or one command's help.
return {
  summary = "Show the commands, or the help of one command.",
  examples = {"regsh help", "regsh help completion"},
  configure = function(cmd)
    cmd:argument("topic", "A command name."):args("?")
  end,
  run = function(args)
    local cli = require "regsh.cli"
    local parser = cli.parser()
    if not args.topic then
      io.stdout:write(parser:get_help(), "\n")
      return 0
    end
    if not cli.is_command(args.topic) then
      return cli.usage_error("help", "unknown command '" .. args.topic
        .. "' (expected one of: " .. table.concat(cli.commands, ", ") .. ")")
    end
    local _, cmd = nil, nil
    for _, c in ipairs(parser._commands) do
      if c._name == args.topic then cmd = c end
    end
    io.stdout:write(cmd:get_help(), "\n")
    return 0
  end,
}
