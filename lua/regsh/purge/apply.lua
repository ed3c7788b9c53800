-- regsh.purge.apply: carry out a plan's actions on the registry. Inside a
-- repository the actions run in waves (an index before its children, a
-- referrer before its subject), each wave's deletes concurrently; the first
-- write runs alone, so a registry that refuses deletes stops the repository
-- after one refused request. Before its first write a repository's actions
-- are written to the store's journal, so a run killed half way is finished
-- by the next one; a delete of something already gone counts as done.
local async = require "regsh.async"
local journal_mod = require "regsh.purge.journal"
local metrics = require "regsh.metrics"

local M = {}

-- Failures that stop the whole run, not just one repository.
local FATAL = {EAUTH = true, EDENIED = true}

local function run_action(reg, action)
  if action.locked and reg.is_acr then
    -- --include-locked: acr purge unlocks first, and tries the delete even
    -- when the unlock fails (the delete then says why)
    reg:lock(action.repository, action.tag or action.digest,
      {deleteEnabled = true, writeEnabled = true})
  end
  if action.op == "untag" then
    return reg:untag(action.repository, action.tag)
  end
  return reg:delete(action.repository, action.digest,
    action.subject and {subject = action.subject} or nil)
end

--- repository(reg, rplan, ctx) -> done count. ctx: {budget = {left = n|nil},
--- concurrency, on_done(action, ok, err, code), stop = {reason} shared,
--- store, registry}. Failures go to ctx.on_done and rplan.failure.
function M.repository(reg, rplan, ctx)
  local actions = rplan.actions
  if #actions == 0 then return 0 end
  local store, journal = ctx.store, nil
  if store then
    -- this plan replaces whatever an earlier run left (it took that in)
    journal_mod.clear(store, ctx.registry, rplan.repository)
    local err
    journal, err = journal_mod.put(store, ctx.registry, rplan.repository, actions)
    if not journal then
      rplan.failure = err
      return 0
    end
  end
  local waves, order = {}, {}
  for _, a in ipairs(actions) do
    if not waves[a.wave] then waves[a.wave] = {}; order[#order + 1] = a.wave end
    table.insert(waves[a.wave], a)
  end
  table.sort(order)
  local deleted, done, finished = {}, 0, {}
  local function one(a)
    if ctx.stop.reason or rplan.failure then a.skipped = "stopped"; return end
    if ctx.budget.left then
      if ctx.budget.left <= 0 then a.skipped = "deferred (--max-deletes)"; return end
      ctx.budget.left = ctx.budget.left - 1
    end
    local ok, err, code = run_action(reg, a)
    if ok then
      done = done + 1
      a.done = true
      metrics.inc("regsh_purge_deletions_total",
        {registry = ctx.registry, repository = rplan.repository})
      if a.op == "delete" then deleted[#deleted + 1] = a.digest end
      finished[#finished + 1] = a
    else
      a.failed = err
      if code == "ENOTSUP" and done == 0 then
        rplan.failure = string.format("%s: the registry refuses this delete, so nothing in %s "
          .. "was deleted: %s", rplan.repository, rplan.repository, err)
      elseif FATAL[code] then
        ctx.stop.reason = err
        rplan.failure = err
      else
        rplan.failure = rplan.failure or err
      end
    end
    ctx.on_done(a, ok, err, code)
  end
  local first = true
  for _, w in ipairs(order) do
    local list = waves[w]
    local start = 1
    if first then   -- one write alone first: a registry that refuses says so once
      one(list[1])
      start, first = 2, false
    end
    local jobs = {}
    for i = start, #list do
      local a = list[i]
      jobs[#jobs + 1] = function() one(a) end
    end
    async.gather(jobs, {concurrency = ctx.concurrency})
    if journal then journal_mod.done(journal, finished) end
    finished = {}
    -- a failed wave leaves the next (children, subjects) alone: they are
    -- still needed by what could not be deleted
    if rplan.failure or ctx.stop.reason then break end
  end
  for _, a in ipairs(actions) do
    if not a.done and not a.failed and not a.skipped then a.skipped = "stopped" end
  end
  if store and #deleted > 0 then store:forget(ctx.registry, rplan.repository, deleted) end
  if journal and not rplan.failure and not ctx.stop.reason then
    local left = false
    for _, a in ipairs(actions) do if not a.done then left = true break end end
    if not left then journal_mod.clear(store, ctx.registry, rplan.repository) end
  end
  return done
end

return M
