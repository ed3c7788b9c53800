-- regsh.schedule.timers: the daemon's bookkeeping as pure functions (no
-- store, no loop): which occurrences of a cron are due or were missed, which
-- timer fires first, what a timer's catch-up policy and starting deadline
-- make of due occurrences, and what a task's concurrency policy says about a
-- fire. regsh.schedule.daemon applies them.
local M = {}

-- A catch-up over a long downtime stops counting here (a minutely timer
-- down for a year); the record then says "at least".
M.MAX_COUNT = 100000

local BATCH = 256

--- due(c, after, now [, has_record [, keep]]) -> {count, first, latest,
--- capped, last}: the occurrences of cron c in (after, now] for which
--- has_record(t) is not true (an occurrence that already has a run is not
--- due again); last holds the latest `keep` of them (default 1), oldest first.
function M.due(c, after, now, has_record, keep)
  keep = keep or 1
  local out = {count = 0, capped = false}
  local ring = {}
  local t = after
  while out.count < M.MAX_COUNT do
    local times = c:next(t, BATCH)
    if not times or #times == 0 then break end
    for _, occurrence in ipairs(times) do
      if occurrence > now then return M.unring(out, ring, keep) end
      if not (has_record and has_record(occurrence)) then
        out.count = out.count + 1
        out.first = out.first or occurrence
        out.latest = occurrence
        ring[(out.count - 1) % keep + 1] = occurrence
        if out.count >= M.MAX_COUNT then break end
      end
      t = occurrence
    end
  end
  out.capped = out.count >= M.MAX_COUNT
  return M.unring(out, ring, keep)
end

-- out.last: the ring of the latest `keep` occurrences, oldest first
function M.unring(out, ring, keep)
  local last, n = {}, math.min(out.count, keep)
  for i = out.count - n + 1, out.count do last[#last + 1] = ring[(i - 1) % keep + 1] end
  out.last = last
  return out
end

local function format(t) return os.date("!%Y-%m-%dT%H:%M:%SZ", math.floor(t)) end

-- "1 occurrence (T)" | "[at least ]N occurrences from A to B"
local function span(count, first, latest, capped)
  if count == 1 then return string.format("1 occurrence (%s)", format(latest)) end
  return string.format("%s%d occurrences from %s to %s", capped and "at least " or "", count,
    format(first), format(latest))
end

--- plan(due, policy) -> {run = {t...}, missed = {count, first, latest,
--- capped} | nil, deadline = {count, first, latest} | nil}: what happens
--- to the due occurrences (timers.due with keep >= max + 1). policy:
--- {catch_up = none|latest|all, max = N, deadline = seconds | nil, now,
--- fire_latest}: `all` runs the latest max of them, `latest` the latest,
--- `none` none, except that fire_latest (the daemon's own fire, not a
--- catch-up after a downtime) always runs the latest. The others are missed
--- (one record); of those to run, the ones older than the deadline at now
--- are not run but skipped (one record).
function M.plan(due, policy)
  local out = {run = {}}
  if due.count == 0 then return out end
  local k = 0
  if policy.catch_up == "all" then k = math.min(policy.max, due.count)
  elseif policy.catch_up == "latest" or policy.fire_latest then k = 1
  elseif policy.catch_up ~= "none" then
    error("unknown catch-up policy '" .. tostring(policy.catch_up) .. "' (none, latest or all)", 2)
  end
  local last, rest = due.last, due.count - k
  if #last < k + math.min(rest, 1) then
    error("plan: due.last holds " .. #last .. " occurrences, " .. k + 1 .. " needed", 2)
  end
  if rest > 0 then
    out.missed = {count = rest, first = due.first, latest = last[#last - k], capped = due.capped}
  end
  for i = #last - k + 1, #last do
    local t = last[i]
    if policy.deadline and policy.now - t > policy.deadline then
      local d = out.deadline or {count = 0, first = t}
      d.count, d.latest = d.count + 1, t
      out.deadline = d
    else
      out.run[#out.run + 1] = t
    end
  end
  return out
end

--- deadline_text(d, deadline) -> the error text of a Skipped(deadline) record.
function M.deadline_text(d, deadline)
  return string.format("deadline: %s not started within the starting deadline of %s",
    span(d.count, d.first, d.latest), require("regsh.time").format_duration(deadline))
end

--- earliest(entries) -> the entry with the smallest .next (nil when none
--- fires any more), ties broken by key so the order is stable.
function M.earliest(entries)
  local best
  for _, e in pairs(entries) do
    if e.next and (not best or e.next < best.next or (e.next == best.next and e.key < best.key))
    then
      best = e
    end
  end
  return best
end

--- decide(policy, running [, queued]) -> "start" | "skip" | "replace" |
--- "queue": a fire of a task that has `running` runs going (started or
--- waiting), `queued` of them of this timer waiting under policy queue.
--- queue waits behind them, at most one per timer: a second is skipped.
function M.decide(policy, running, queued)
  if running == 0 or policy == "allow" then return "start" end
  if policy == "forbid" then return "skip" end
  if policy == "replace" then return "replace" end
  if policy == "queue" then return (queued or 0) >= 1 and "skip" or "queue" end
  error("unknown concurrency policy '" .. tostring(policy)
    .. "' (allow, forbid, replace or queue)", 2)
end

--- missed_text(m, policy [, why]) -> the error text of the Skipped record of
--- missed occurrences (plan's .missed); policy names the catch-up
--- (`none`, `latest`, `all` with its max); why says when they were missed.
function M.missed_text(m, policy, why)
  return string.format("missed: %s %s (catch-up %s)", span(m.count, m.first, m.latest, m.capped),
    why or "while no daemon ran", policy)
end

return M
