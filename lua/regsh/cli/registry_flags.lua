-- regsh.cli.registry_flags: the flags every registry command shares
-- (--output, credentials, TLS, --dry-run) and turning them into a client.
-- Not a command itself: it is not listed in regsh.cli.commands.
local M = {}

--- Declare the shared flags on an argparse command. opts.dry_run adds
--- --dry-run; opts.credentials = false leaves the credential and TLS flags out.
function M.add(cmd, opts)
  opts = opts or {}
  cmd:option("-o --output", "Output format: text or json."):choices({"text", "json"})
    :default("text"):argname("<format>")
  if opts.credentials ~= false then
    cmd:option("-u --username", "User name (else REGSH_USERNAME, auth.json, docker config).")
      :argname("<user>")
    cmd:option("-p --password", "Password or token (visible in ps: prefer --password-stdin).")
      :argname("<secret>")
    cmd:flag("--password-stdin", "Read the password or token from standard input.")
    cmd:flag("--insecure",
      "Allow plain HTTP or an unverified certificate for a non-loopback registry.")
    cmd:option("--ca-file", "PEM file of CA certificates to verify the registry with.")
      :argname("<path>")
    cmd:option("--ca-dir", "Hashed directory of CA certificates (openssl rehash) to verify "
      .. "the registry with.")
      :argname("<dir>")
    cmd:option("--timeout", "Fail a request that receives nothing for this many seconds "
      .. "(default 30).", nil, tonumber):argname("<seconds>")
    cmd:option("--deadline", "Fail a request still unanswered after this many seconds, "
      .. "retries included (default none).", nil, tonumber):argname("<seconds>")
  end
  if opts.dry_run then
    cmd:flag("-n --dry-run", "Print what would change and change nothing.")
  end
  if opts.listing then
    cmd:option("--max-pages", "Fail (ETOOBIG) past this many pages of the listing "
      .. "(default 10000).", nil, tonumber):argname("<n>")
    cmd:option("--max-entries", "Fail (ETOOBIG) past this many entries of the listing "
      .. "(default 1000000).", nil, tonumber):argname("<n>")
  end
end

-- Numeric flags: key in args, the flag, and what its value must be.
local numeric_flags = {
  {"max_pages", "--max-pages", "an integer >= 1",
   function(v) return math.type(v) == "integer" and v >= 1 end},
  {"max_entries", "--max-entries", "an integer >= 1",
   function(v) return math.type(v) == "integer" and v >= 1 end},
  {"timeout", "--timeout", "a number of seconds > 0", function(v) return v > 0 and v <= 1e7 end},
  {"deadline", "--deadline", "a number of seconds > 0", function(v) return v > 0 and v <= 1e7 end},
}

--- open() options from parsed flags, or nil, usage message. The client logs
--- through regsh.log at the level the CLI set (--verbose, --quiet, REGSH_LOG).
function M.options(args, command)
  local opts = {log = require("regsh.log").logger(command), insecure = args.insecure or nil,
                ca_file = args.ca_file, ca_dir = args.ca_dir, dry_run = args.dry_run or nil,
                max_pages = args.max_pages, max_entries = args.max_entries,
                timeout = args.timeout, deadline = args.deadline}
  for _, flag in ipairs(numeric_flags) do
    local value = args[flag[1]]
    if value ~= nil and not flag[4](value) then return nil, flag[2] .. " must be " .. flag[3] end
  end
  local password = args.password
  if args.password_stdin then
    if password then return nil, "--password and --password-stdin exclude each other" end
    password = (io.stdin:read("a") or ""):gsub("\r?\n$", "")
  end
  if password and not args.username then
    return nil, "a password needs --username "
      .. "(ACR refresh tokens: -u 00000000-0000-0000-0000-000000000000)"
  end
  if args.username then
    opts.username = args.username
    opts.password = password or ""
  end
  return opts
end

--- A client for host from parsed flags: reg | nil, message, kind ("usage" or the code).
function M.open(host, args, command)
  local opts, usage = M.options(args, command)
  if not opts then return nil, usage, "usage" end
  return require("regsh.registry").open(host, opts)
end

--- Parse a full reference argument: ref | nil, message.
function M.reference(s, opts)
  return require("regsh.registry").parse_reference(s, opts)
end

--- Parse a reference argument and open a client for its registry:
--- reg, ref | nil, exit status (the failure already reported). check(ref), if
--- given, returns a usage problem with an otherwise valid reference, or nil.
function M.open_reference(text, args, command, parse_opts, check)
  local r, err = M.reference(text, parse_opts)
  if not r then return nil, M.fail(command, err, "usage") end
  local problem = check and check(r)
  if problem then return nil, M.fail(command, problem, "usage") end
  local reg, code
  reg, err, code = M.open(r.registry, args, command)
  if not reg then return nil, M.fail(command, err, code == "EREF" and "usage" or code) end
  return reg, r
end

--- Print a result: value as JSON with --output json, else text() lines.
--- Text never carries a server's text raw: the strings text() is given are
--- escaped (a tag "a\nb" stays one line), and so is what it returns, but
--- for the newlines and tabs between its lines and fields.
function M.print(args, value, text)
  local cli = require "regsh.cli"
  if args.output == "json" then
    cli.print_json(value)
  else
    local redact = require "regsh.registry.redact"
    local out = text(cli.cleaned(value, redact.printable)):gsub("[^\n\t]+", redact.printable)
    if out ~= "" then io.stdout:write(out, out:sub(-1) == "\n" and "" or "\n") end
  end
end

--- A printer for a result that comes in pieces (a listing, page by page):
--- write(items) prints an array's items at once, close() ends the output.
--- What it prints is what M.print(args, json.array(all items), text) would;
--- text(list) makes the lines of a list, as for M.print.
function M.stream(args, text)
  local cli = require "regsh.cli"
  local json = require "regsh.json"
  local redact = require "regsh.registry.redact"
  local count = 0
  local printer = {}
  function printer.write(items)
    for _, item in ipairs(items) do
      if args.output == "json" then
        local encoded = json.encode(cli.cleaned(item, redact.utf8), {pretty = true})
        io.stdout:write(count == 0 and "[\n" or ",\n", (encoded:gsub("[^\n]+", "  %0")))
      else
        local line = text(cli.cleaned({item}, redact.printable)):gsub("[^\n\t]+", redact.printable)
        io.stdout:write(line, "\n")
      end
      count = count + 1
    end
  end
  function printer.close()
    if args.output == "json" then io.stdout:write(count == 0 and "[]\n" or "\n]\n") end
  end
  return printer
end

--- The exit path of a failure: usage errors exit 2, the rest print "CODE: detail" and exit 1.
function M.fail(command, err, kind)
  local cli = require "regsh.cli"
  if kind == "usage" then return cli.usage_error(command, err) end
  return cli.fail(command, err)
end

return M
