-- regsh login HOST: check credentials against the registry, then store them
-- like `docker login` ($DOCKER_CONFIG/config.json or ~/.docker/config.json, mode 0600).
local flags = require "regsh.cli.registry_flags"
local fs = require "regsh.fs"

-- Read one line from the terminal on stdin; a secret is read without echo.
-- The guard turns echo back on however this returns, Ctrl-C included:
-- fs.read_line lets the interrupt through at once.
local function ask(prompt, secret)
  -- echo goes off before the prompt shows, so nothing typed after it is echoed
  local echo <close> = secret and fs.echo_off(io.stdin) or nil  -- luacheck: ignore echo
  io.stderr:write(prompt)
  io.stderr:flush()
  local line = fs.read_line(io.stdin)
  if secret then io.stderr:write("\n") end
  return line
end

return {
  summary = "Check and store credentials for a registry.",
  examples = {
    "echo \"$TOKEN\" | regsh login 127.0.0.1:5000 -u alice --password-stdin",
    "regsh login myreg.azurecr.io -u 00000000-0000-0000-0000-000000000000 --password-stdin",
    "regsh login 127.0.0.1:5000    (asks for user name and password on a terminal)",
  },
  configure = function(cmd)
    cmd:argument("host", "Registry host, HOST[:PORT] or https://HOST.")
    flags.add(cmd)
  end,
  run = function(args)
    -- like docker login: on a terminal, ask for what the flags did not give
    local interactive = not args.password_stdin and fs.isatty(io.stdin)
    if not args.username and interactive then args.username = ask("Username: ") end
    if not args.username or args.username == "" then
      return flags.fail("login", "--username is required", "usage")
    end
    if not args.password and not args.password_stdin then
      if not interactive then
        return flags.fail("login", "give the password with --password-stdin (or --password)",
          "usage")
      end
      args.password = ask("Password: ", true)
    end
    local opts, usage = flags.options(args, "login")
    if not opts then return flags.fail("login", usage, "usage") end
    local login_opts = {insecure = opts.insecure, ca_file = opts.ca_file, ca_dir = opts.ca_dir,
                        log = opts.log}
    local ok, where, code = require("regsh.registry").login(args.host, opts.username, opts.password,
      login_opts)
    if not ok then return flags.fail("login", where, code == "EREF" and "usage" or code) end
    flags.print(args, {host = args.host, username = opts.username, stored = where}, function()
      return "Login succeeded (credentials stored in " .. where .. ")"
    end)
    return 0
  end,
}
