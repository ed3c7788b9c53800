-- regsh.purge.report: a plan as people read it (one line per action, with
-- the reason it was chosen, and per safety-rule keep, why) and as JSON for
-- programs. Names come from a registry: every one is escaped before it
-- reaches a terminal.
local json = require "regsh.json"
local redact = require "regsh.registry.redact"
local time = require "regsh.time"

local M = {}

local printable = redact.printable

local function when(seconds, source)
  if not seconds then return "no time" end
  return (source or "time") .. " " .. time.format_rfc3339(seconds):sub(1, 10)
end

local function target(a)
  if a.op == "untag" then return a.repository .. ":" .. a.tag end
  local s = a.repository .. "@" .. a.digest:sub(1, 19)
  if a.tags and #a.tags > 0 then s = s .. " (" .. table.concat(a.tags, ", ") .. ")" end
  return s
end

--- One line per action and per kept item, grouped by repository.
function M.table(plan)
  local out = {}
  for _, r in ipairs(plan.repositories) do
    if #r.actions > 0 or #r.kept > 0 then
      out[#out + 1] = string.format("%s: %d tags and %d manifests to delete%s",
        printable(r.repository), r.tags, r.manifests,
        #r.kept > 0 and string.format(", %d kept by the safety rules", #r.kept) or "")
      for _, a in ipairs(r.actions) do
        out[#out + 1] = string.format("  %-7s %-48s %s; %s", a.op, printable(target(a)),
          printable(a.reason), when(a.time, a.time_source))
      end
      for _, k in ipairs(r.kept) do
        local what = k.kind == "tag" and (r.repository .. ":" .. k.name)
          or (r.repository .. "@" .. k.digest:sub(1, 19))
        out[#out + 1] = string.format("  %-7s %-48s %s", "keep", printable(what),
          printable(k.reason))
      end
    end
  end
  for _, e in ipairs(plan.errors) do
    out[#out + 1] = string.format("%s: not planned: %s", printable(e.repository),
      printable(e.message))
  end
  return table.concat(out, "\n")
end

--- "N tags and M manifests to delete in K repositories".
function M.summary(plan)
  local t = plan:totals()
  return string.format("%d tags and %d manifests to delete in %d repositories%s", t.tags,
    t.manifests, t.repositories, t.errors > 0 and string.format(" (%d not planned)", t.errors)
    or "")
end

--- The plan as plain tables (what json() encodes).
function M.data(plan)
  local repos = json.array()
  for i, r in ipairs(plan.repositories) do
    local actions = json.array()
    for j, a in ipairs(r.actions) do
      actions[j] = {op = a.op, tag = a.tag, digest = a.digest, reason = a.reason,
        tags = a.tags and json.array(table.move(a.tags, 1, #a.tags, 1, {})) or nil,
        wave = a.wave, time = a.time and time.format_rfc3339(a.time) or nil,
        time_source = a.time_source, subject = a.subject,
        done = a.done, failed = a.failed, skipped = a.skipped}
    end
    local kept = json.array()
    for j, k in ipairs(r.kept) do
      kept[j] = {kind = k.kind, tag = k.name, digest = k.digest, reason = k.reason}
    end
    repos[i] = {repository = r.repository, tags = r.tags, manifests = r.manifests,
                actions = actions, kept = kept}
  end
  local t = plan:totals()
  return {registry = plan.registry, policy = plan.policy, dry_run = plan.dry_run,
          now = time.format_rfc3339(plan.now), repositories = repos,
          errors = json.array(plan.errors),
          totals = t}
end

function M.json(plan)
  return json.encode(M.data(plan), {pretty = true})
end

return M
