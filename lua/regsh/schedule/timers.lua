-- regsh.schedule.timers: the daemon's bookkeeping as pure functions (no
-- store, no loop): which occurrences of a cron are due or were missed, which
-- timer fires first, and what a task's concurrency policy says about a fire.
-- regsh.schedule.daemon applies them.
local M = {}

-- A catch-up over a long downtime stops counting here (a minutely timer
-- down for a year); the record then says "at least".
M.MAX_COUNT = 100000

local BATCH = 256

--- due(c, after, now [, has_record]) -> {count, first, latest, capped}: the
--- occurrences of cron c in (after, now] for which has_record(t) is not
--- true (an occurrence that already has a run is not due again).
function M.due(c, after, now, has_record)
  local out = {count = 0, capped = false}
  local t = after
  while out.count < M.MAX_COUNT do
    local times = c:next(t, BATCH)
    if not times or #times == 0 then break end
    for _, occurrence in ipairs(times) do
      if occurrence > now then return out end
      if not (has_record and has_record(occurrence)) then
        out.count = out.count + 1
        out.first = out.first or occurrence
        out.latest = occurrence
        if out.count >= M.MAX_COUNT then break end
      end
      t = occurrence
    end
  end
  out.capped = out.count >= M.MAX_COUNT
  return out
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

--- decide(policy, running) -> "start" | "skip" | "replace": a fire of a task
--- that has `running` runs going (started or waiting for a slot).
function M.decide(policy, running)
  if running == 0 or policy == "allow" then return "start" end
  if policy == "forbid" then return "skip" end
  if policy == "replace" then return "replace" end
  error("unknown concurrency policy '" .. tostring(policy) .. "' (allow, forbid or replace)", 2)
end

--- missed_text(due [, why]) -> the error text of the Skipped record of
--- missed occurrences; why says when they were missed.
function M.missed_text(due, why)
  why = why or "while no daemon ran"
  local function format(t) return os.date("!%Y-%m-%dT%H:%M:%SZ", math.floor(t)) end
  local count = (due.capped and "at least " or "") .. due.count
  if due.count == 1 then
    return string.format("missed: 1 occurrence (%s) %s (policy skip)",
      format(due.latest), why)
  end
  return string.format("missed: %s occurrences from %s to %s %s (policy skip)",
    count, format(due.first), format(due.latest), why)
end

return M
