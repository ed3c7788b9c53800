-- regsh purge: acr purge's flags (the policy policies/acr-purge.lua), or a
-- policy file with --policy; prints the plan, then carries it out unless
-- --dry-run. Ends with acr's "Number of deleted tags/manifests" lines.
local flags = require "regsh.cli.registry_flags"

local function list_option(cmd, name, help, argname)
  cmd:option(name, help):count("*"):argname(argname)
end

-- A progress line on a terminal (stderr), else nothing: the per-action
-- lines are the record.
local function progress(total)
  local fs = require "regsh.fs"
  if not fs.isatty(2) or total == 0 then return function() end, function() end end
  local done, last = 0, -1
  local function draw()
    local width = 30
    local filled = math.floor(width * done / total)
    io.stderr:write(string.format("\r[%s%s] %d/%d deletes", string.rep("#", filled),
      string.rep(" ", width - filled), done, total))
  end
  return function()
    done = done + 1
    local percent = done * 100 // total
    if percent ~= last then last = percent; draw() end
  end, function() io.stderr:write("\n") end
end

-- --set key=value pairs -> table, or nil, message
local function sets_of(list)
  local out = {}
  for _, item in ipairs(list or {}) do
    local key, value = item:match("^([%a_][%w_]*)=(.*)$")
    if not key then return nil, "--set " .. item .. ": expected KEY=VALUE" end
    if out[key] ~= nil and type(out[key]) == "string" then
      out[key] = out[key] .. "," .. value   -- repeated: a list
    else
      out[key] = value
    end
  end
  return out
end

-- acr-cli's 2019 flags, as the Azure autopurge recipe writes them: each is
-- turned into today's flag before anything else looks at args, so it means
-- exactly what that flag means (same policy, same safety rules). Returns an
-- error message when a legacy flag is mixed with its current twin.
local function translate_legacy(args)
  args.legacy = {}
  if #args.repository > 0 then
    if #args.filter > 0 then
      return "--repository and --filter are the same selection (--repository is acr's 2019 "
        .. "name for a --filter): give one of them"
    end
    local regex = require "regsh.regex"
    for _, repo in ipairs(args.repository) do
      local filter = regex.escape(repo) .. ":.*"
      io.stderr:write(string.format("regsh purge: --repository %s is acr's 2019 name for "
        .. "--filter '%s'\n", repo, filter))
      args.filter[#args.filter + 1] = filter
    end
    args.legacy.filter = "--repository"
  end
  if args.dangling then
    for _, twin in ipairs({"untagged", "untagged_only"}) do
      if args[twin] then
        return "--dangling and --" .. twin:gsub("_", "-") .. " exclude each other (--dangling "
          .. "is acr's 2019 name for --untagged-only): give one of them"
      end
    end
    io.stderr:write("regsh purge: --dangling is acr's 2019 name for --untagged-only\n")
    args.untagged_only = true
    args.legacy.untagged_only = "--dangling"
  end
  return nil
end

local function check_flags(args)
  local policy_flags = {"filter", "exclude", "ago", "untagged", "untagged_only", "keep_newest",
                        "keep_semver"}
  if args.policy then
    for _, key in ipairs(policy_flags) do
      local v = args[key]
      if v ~= nil and v ~= false and not (type(v) == "table" and #v == 0) then
        return (args.legacy[key] or "--" .. key:gsub("_", "-")) .. " is a flag of the acr-purge policy; with --policy "
          .. "give the policy's parameters with --set"
      end
    end
    if args.keep then return "--keep is a flag of the acr-purge policy; with --policy use --set" end
  elseif #args.set > 0 then
    return "--set needs --policy (flags set acr-purge's parameters directly)"
  end
  return nil
end

return {
  summary = "Delete old tags and untagged manifests (acr purge's flags, or a Lua policy).",
  description = "Plans the deletes (printed one line each, with the reason), then carries "
    .. "them out. The engine never deletes a manifest a kept tag points at, a child of a kept "
    .. "index, the subject of a kept referrer, or a locked artifact.\n"
    .. "--keep N keeps the N newest of the tags the filter and --ago selected (acr purge's "
    .. "meaning); --keep-newest N keeps the N newest tags of the repository whatever matches.",
  examples = {
    "regsh purge --registry 127.0.0.1:5000 --filter 'app/.*:^dev-' --ago 10d --untagged --dry-run",
    "regsh purge --registry myreg.azurecr.io --filter 'web:.*' --ago 30d --keep 5 --exclude '^latest$'",
    "regsh purge --registry 127.0.0.1:5000 --untagged-only",
    "regsh purge --registry 127.0.0.1:5000 --policy keep-semver --set keep=3 --dry-run",
    "regsh purge --repository scratch --ago 10d -r 127.0.0.1:5000",
    "regsh purge -r 127.0.0.1:5000 --repository scratch --dangling",
  },
  configure = function(cmd)
    cmd:option("-r --registry", "The registry: HOST[:PORT] (else $ACR_DEFAULT_REGISTRY).")
      :argname("<host>")
    list_option(cmd, "-f --filter", "REPO:TAG regexes: repository anchored, tag searched; "
      .. "repeatable (OR-ed).", "<repo:tag>")
    cmd:option("--ago", "Only what is older than this: 10d, 2d3h6m, 1h; 0d: any age.")
      :argname("<duration>")
    cmd:option("--keep", "Keep the N newest of the tags selected (acr purge's --keep).", nil,
      math.tointeger):argname("<n>")
    cmd:flag("--untagged", "Also delete manifests left without tags (older than --ago).")
    cmd:flag("--untagged-only", "Delete only untagged manifests, never a tag.")
    list_option(cmd, "--repository", "acr's 2019 flag: all tags of this repository (the "
      .. "name taken literally); = --filter 'REPO:.*'. Repeatable.", "<repo>")
    cmd:flag("--dangling", "acr's 2019 flag: = --untagged-only.")
    list_option(cmd, "--exclude", "Tags matching this regex are never deleted; repeatable.",
      "<regex>")
    cmd:option("--keep-newest", "Never delete the N newest tags of a repository.", nil,
      math.tointeger):argname("<n>")
    cmd:option("--keep-semver", "Never delete the N highest semantic-version tags.", nil,
      math.tointeger):argname("<n>")
    cmd:option("--policy", "A policy file (or a shipped policy's name) instead of the flags.")
      :argname("<file>")
    list_option(cmd, "--set", "KEY=VALUE: a parameter of the policy; repeatable.", "<key=value>")
    cmd:flag("--trusted-policy", "Run the policy with the full Lua library (no sandbox).")
    cmd:flag("--include-locked", "Also delete locked (write- or delete-disabled) artifacts.")
    cmd:flag("--keep-orphan-referrers", "Keep the referrers of deleted manifests.")
    cmd:option("--age-source", "The time a tag's age is measured from: updated (ACR), created "
      .. "(image config), first-seen (the store); default: the first of these known.")
      :choices({"updated", "created", "first-seen"}):argname("<source>")
    cmd:option("--concurrency", "Deletes in flight at once, 1-32 (default 8).", nil,
      math.tointeger):argname("<n>")
    cmd:option("--repository-page-size", "Repositories per catalog page.", nil, math.tointeger)
      :argname("<n>")
    cmd:option("--max-deletes", "Delete at most N things in this run (the rest waits for the "
      .. "next).", nil, math.tointeger):argname("<n>")
    cmd:option("--shard", "I/N: only the repositories whose name hashes to part I of N "
      .. "(0 <= I < N).", nil):argname("<i/n>")
    cmd:option("--state", "The directory of regsh's state store (default "
      .. "$XDG_STATE_HOME/regsh).", nil):argname("<dir>")
    flags.add(cmd, {dry_run = true})
  end,
  run = function(args)
    local cli = require "regsh.cli"
    local legacy_problem = translate_legacy(args)
    if legacy_problem then return cli.usage_error("purge", legacy_problem) end
    local purge = require "regsh.purge"
    local host = args.registry or os.getenv("ACR_DEFAULT_REGISTRY")
    if not host or host == "" then
      return cli.usage_error("purge", "--registry is required (or set ACR_DEFAULT_REGISTRY)")
    end
    local problem = check_flags(args)
    if problem then return cli.usage_error("purge", problem) end
    for _, key in ipairs({"keep", "keep_newest", "keep_semver", "max_deletes",
                          "repository_page_size"}) do
      local v = args[key]
      if v ~= nil and (v < (key == "repository_page_size" and 1 or 0)) then
        return cli.usage_error("purge", "--" .. key:gsub("_", "-") .. " must be a whole number "
          .. (key == "repository_page_size" and ">= 1" or ">= 0"))
      end
    end
    local concurrency = args.concurrency or 8
    if concurrency < 1 or concurrency > purge.MAX_CONCURRENCY then
      io.stderr:write(string.format("regsh purge: --concurrency %d is outside [1, %d]; using %d\n",
        concurrency, purge.MAX_CONCURRENCY, concurrency < 1 and 8 or purge.MAX_CONCURRENCY))
      concurrency = concurrency < 1 and 8 or purge.MAX_CONCURRENCY
    end
    local shard
    if args.shard then
      local err
      shard, err = purge.parse_shard(args.shard)
      if not shard then return cli.usage_error("purge", err:gsub("^EINVAL: ", "")) end
    end
    local sets, err = sets_of(args.set)
    if not sets then return cli.usage_error("purge", err) end
    local spec = args.policy
    if not spec then
      sets = {filter = args.filter, ago = args.ago or "", keep = args.keep or 0,
              untagged = args.untagged, untagged_only = args.untagged_only,
              exclude = args.exclude, keep_newest = args.keep_newest or 0,
              keep_semver = args.keep_semver or 0, include_locked = args.include_locked}
    end

    local opts, usage = flags.options(args, "purge")
    if not opts then return cli.usage_error("purge", usage) end
    opts.page_size = args.repository_page_size
    opts.concurrency = concurrency
    local reg, code
    reg, err, code = require("regsh.registry").open(host, opts)
    if not reg then return flags.fail("purge", err, code == "EREF" and "usage" or code) end
    local store
    store, err = require("regsh.store").open(args.state and (args.state .. "/state.db") or nil)
    if not store then return cli.fail("purge", err) end

    local plan
    plan, err, code = purge.plan(reg, spec or sets, {store = store,
      sets = spec and sets or nil, trusted = args.trusted_policy or nil,
      include_locked = args.include_locked or nil,
      keep_orphan_referrers = args.keep_orphan_referrers or nil,
      age_source = args.age_source, shard = shard, concurrency = concurrency})
    if not plan then
      store:close()
      if code == "EINVAL" then return cli.usage_error("purge", (err:gsub("^EINVAL: ", ""))) end
      return cli.fail("purge", err)
    end
    local totals = plan:totals()
    local json = args.output == "json"
    if args.dry_run and not json then
      io.stdout:write("DRY RUN: The following output shows what WOULD be deleted if the purge "
        .. "command was executed. Nothing is deleted.\n")
    end
    local text = plan:table()
    if not json and text ~= "" then io.stdout:write(text, "\n") end
    local tags, manifests, status = totals.tags, totals.manifests, 0
    if not args.dry_run then
      local actions = 0   -- what on_done counts: an untag, or a delete with all its tags
      for _, r in ipairs(plan.repositories) do actions = actions + #r.actions end
      local tick, finish = progress(actions)
      local result = plan:apply({concurrency = concurrency, max_deletes = args.max_deletes,
        on_done = function() tick() end})
      finish()
      tags, manifests = result.tags, result.manifests
      -- a failure that stopped the whole run (credentials refused) reaches
      -- every repository in flight: say it once
      local said = {}
      for _, f in ipairs(result.failed) do
        if not said[f.message] then
          said[f.message] = true
          io.stderr:write("regsh purge: ", require("regsh.registry.redact").printable(f.message),
            "\n")
        end
        status = 1
      end
      if result.deferred > 0 and not json then
        io.stdout:write(string.format("%d deletes deferred by --max-deletes %d\n",
          result.deferred, args.max_deletes))
      end
    end
    for _, e in ipairs(plan.errors) do
      if json then break end
      io.stderr:write("regsh purge: ", require("regsh.registry.redact").printable(e.message), "\n")
    end
    if #plan.errors > 0 then status = 1 end
    store:close()
    if json then
      local data = plan:data()
      data.deleted = not args.dry_run and {tags = tags, manifests = manifests} or nil
      cli.print_json(data)
    else
      -- acr purge's closing lines, word for word
      if args.dry_run then
        io.stdout:write(string.format("Number of tags to be deleted: %d\n"
          .. "Number of manifests to be deleted: %d\n", tags, manifests))
      else
        io.stdout:write(string.format("Number of deleted tags: %d\n"
          .. "Number of deleted manifests: %d\n", tags, manifests))
      end
    end
    return status
  end,
}
