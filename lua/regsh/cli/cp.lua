-- regsh cp SRC DST: copy an image (every platform of an index) within a
-- registry or between registries; prints the digest. Credentials go only to
-- the registry they are for: --src-creds / --dest-creds per side; -u/-p only
-- when both sides are one registry.
local flags = require "regsh.cli.registry_flags"

-- "USER:PASSWORD" -> {username, password} | nil, usage problem
local function creds(flag, value)
  local username, password = value:match("^([^:]+):(.*)$")
  if not username then return nil, flag .. " expects USER:PASSWORD" end
  return {username = username, password = password}
end

-- open() options for regsh.registry.copy, or nil, usage problem.
local function copy_options(args, s, d)
  local opts, usage = flags.options(args, "cp")
  if not opts then return nil, usage end
  local per_side = args.src_creds or args.dest_creds
  if opts.username and per_side then
    return nil, "-u/--username excludes --src-creds and --dest-creds"
  end
  if opts.username and s.registry ~= d.registry then
    return nil, string.format("-u/-p would send one set of credentials to both %s and %s: "
      .. "use --src-creds and/or --dest-creds", s.registry, d.registry)
  end
  for _, side in ipairs({{"--src-creds", args.src_creds, "source"},
                         {"--dest-creds", args.dest_creds, "destination"}}) do
    if side[2] then
      local c, problem = creds(side[1], side[2])
      if not c then return nil, problem end
      opts[side[3]] = c
    end
  end
  return opts
end

return {
  summary = "Copy an image between repositories or registries.",
  examples = {
    "regsh cp 127.0.0.1:5000/app:v1 127.0.0.1:5000/backup/app:v1",
    "regsh cp 127.0.0.1:5000/app:v1 myreg.azurecr.io/app --dry-run",
    "regsh cp src.example/app:v1 dst.example/app --src-creds ci:secret --dest-creds bot:token",
  },
  configure = function(cmd)
    cmd:argument("source", "HOST/REPOSITORY[:TAG][@DIGEST] to copy.")
    cmd:argument("destination", "HOST/REPOSITORY[:TAG]; without a tag the source's is kept.")
    flags.add(cmd, {dry_run = true})
    cmd:option("--src-creds", "USER:PASSWORD for the source registry only (visible in ps).")
      :argname("<user:password>")
    cmd:option("--dest-creds",
      "USER:PASSWORD for the destination registry only (visible in ps).")
      :argname("<user:password>")
  end,
  run = function(args)
    local s, err = flags.reference(args.source)
    if not s then return flags.fail("cp", err, "usage") end
    local d
    d, err = flags.reference(args.destination, {default_tag = false})
    if not d then return flags.fail("cp", err, "usage") end
    local opts, usage = copy_options(args, s, d)
    if not opts then return flags.fail("cp", usage, "usage") end
    local digest, code
    digest, err, code = require("regsh.registry").copy(args.source, args.destination, opts)
    if not digest and code ~= "EDRYRUN" then return flags.fail("cp", err) end
    local result = {source = s.string, destination = d.string, digest = digest,
                    dry_run = code == "EDRYRUN"}
    flags.print(args, result, function()
      if code == "EDRYRUN" then return (err:gsub("^EDRYRUN: ", "")) end
      return digest
    end)
    return 0
  end,
}
