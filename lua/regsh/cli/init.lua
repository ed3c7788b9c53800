-- regsh.cli: the subcommand framework. Each command is lua/regsh/cli/<name>.lua
-- returning {summary, usage_examples?, configure(parser), run(args) -> status}.
-- Flags are declared once, through lua-argparse, so `--help`, usage errors
-- and shell completions come from the same declaration.
local M = {}

-- Every subcommand, in the order `regsh help` lists them.
M.commands = {
  "help", "completion", "repl",
  "catalog", "ls", "digest", "manifest", "config", "rm", "cp", "referrers", "purge",
  "run", "task",
  "cron", "serve", "gc",
  "login", "logout",
}

M.EXIT_OK, M.EXIT_FAILURE, M.EXIT_USAGE = 0, 1, 2

local known = {}
for _, name in ipairs(M.commands) do known[name] = true end

-- The commands that talk to a registry: their HTTP module (libcurl and its
-- ~40 libraries) starts loading in a thread while the command line is parsed
-- and the client's code loads (regsh.core.host.prefetch).
M.network = {
  catalog = true, ls = true, digest = true, manifest = true, config = true, rm = true,
  cp = true, referrers = true, purge = true, login = true,
}

function M.is_command(name)
  return known[name] == true
end

function M.load(name)
  return require("regsh.cli." .. name)
end

local function new_root()
  local argparse = require "argparse"
  local parser = argparse("regsh")
    :description("A Lua-scriptable automation shell for container registries.\n"
      .. "Run `regsh SCRIPT [args]` for a script, `regsh` alone for the REPL.")
    :epilog("Run 'regsh COMMAND --help' for a command's flags and examples.")
    :help_max_width(100)
  parser:command_target("command")
  return parser
end

local function add_command(root, name)
  local spec = M.load(name)
  local cmd = root:command(name, spec.summary)
  if spec.description then cmd:description(spec.description) end
  if spec.examples then cmd:epilog("Examples:\n  " .. table.concat(spec.examples, "\n  ")) end
  if spec.configure then spec.configure(cmd) end
  cmd:flag("-v --verbose", "Log more: each request, retry and token (debug level).")
  cmd:flag("-q --quiet", "Log errors only, no warnings.")
  return spec, cmd
end

--- The parser with every command: for help and completion scripts.
function M.parser()
  local root = new_root()
  for _, name in ipairs(M.commands) do add_command(root, name) end
  return root
end

function M.usage_error(command, message)
  io.stderr:write(string.format("regsh %s: %s\nTry 'regsh %s --help'.\n",
    command, message, command))
  return M.EXIT_USAGE
end

--- Report an expected failure ("CODE: detail") and give the exit status.
--- The message may quote a server: its control characters are escaped.
function M.fail(command, message)
  local redact = require "regsh.registry.redact"
  io.stderr:write(string.format("regsh %s: %s\n", command, redact.printable(message)))
  return M.EXIT_FAILURE
end

--- A copy of value with every string (keys too) passed through clean, for
--- output of what servers sent (names, annotations).
function M.cleaned(value, clean)
  if type(value) == "string" then return clean(value) end
  if type(value) ~= "table" then return value end
  local out = setmetatable({}, getmetatable(value))
  for k, v in pairs(value) do out[M.cleaned(k, clean)] = M.cleaned(v, clean) end
  return out
end

--- regsh COMMAND args...: argv[1] is the command. Returns the exit status.
function M.main(argv)
  local name = argv[1]
  if M.network[name] then require("regsh.core.host").prefetch("http") end
  local spec = M.load(name)
  -- a plain line without argparse (regsh.cli.quick); the rest through it
  local args = require("regsh.cli.quick").parse(spec, argv)
  if not args then
    local root = new_root()
    add_command(root, name)
    local ok
    ok, args = root:pparse(argv)
    if not ok then
      return M.usage_error(name, (args:gsub("^.-:%s*", "", 0)))
    end
  end
  if args.verbose and args.quiet then
    return M.usage_error(name, "--verbose and --quiet exclude each other")
  end
  -- commands print their results themselves: the log shows warnings unless told
  local log = require "regsh.log"
  log.configure({level = args.verbose and "debug" or args.quiet and "error"
    or (log.from_env() or {}).level or "warn"})
  local status, err = spec.run(args)
  log.flush()   -- the counts of repeated warnings not written yet
  if status == nil then return M.fail(name, tostring(err)) end
  if status == true then return M.EXIT_OK end
  return status
end

--- Print a Lua value as JSON on stdout (for --output json): always valid
--- UTF-8, stray bytes from a server written as \xHH.
function M.print_json(value)
  local redact = require "regsh.registry.redact"
  io.stdout:write(require("regsh.json").encode(M.cleaned(value, redact.utf8), {pretty = true}),
    "\n")
end

return M
