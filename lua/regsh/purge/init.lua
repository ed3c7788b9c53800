-- regsh.purge: the purge engine. plan(reg, policy_or_flags, opts) reads the
-- registry one repository at a time (inventory.lua, on the store), lets the
-- policy choose (policy.lua, sandboxed), and turns the choice into deletes
-- under the safety rules (plan.lua); the Plan it returns prints itself
-- (report.lua) and applies itself (apply.lua). Contract: docs/reference/purge.md.
local apply = require "regsh.purge.apply"
local async = require "regsh.async"
local inventory = require "regsh.purge.inventory"
local journal = require "regsh.purge.journal"
local planner = require "regsh.purge.plan"
local policy_mod = require "regsh.purge.policy"
local report = require "regsh.purge.report"

local M = {}

M.MAX_CONCURRENCY = 32
-- repositories read and planned at once: each holds its inventory in memory;
-- four keep the request slots busy between one repository's phases
M.REPOSITORY_CONCURRENCY = 4

local function fail(code, message)
  return nil, code .. ": " .. message, code
end

--- shard_of(name, n) -> 0..n-1: a stable hash (FNV-1a, 32 bits) of a
--- repository name, so that N machines can each take one part.
function M.shard_of(name, n)
  local h = 2166136261
  for i = 1, #name do
    h = ((h ~ name:byte(i)) * 16777619) & 0xffffffff
  end
  return h % n
end

--- parse_shard("I/N") -> {index = I, count = N} | fail. I counts from 0, like a
--- Kubernetes Indexed Job's JOB_COMPLETION_INDEX.
function M.parse_shard(text)
  local i, n = tostring(text):match("^(%d+)/(%d+)$")
  i, n = tonumber(i), tonumber(n)
  if not i or n < 1 or i >= n or n > 100000 then
    return fail("EINVAL", string.format("--shard %s: expected I/N with 0 <= I < N "
      .. "(e.g. 0/4 ... 3/4)", tostring(text)))
  end
  return {index = i, count = n}
end

local plan_options = {
  store = "table", params = "table", sets = "table", trusted = "boolean",
  include_locked = "boolean", keep_orphan_referrers = "boolean", age_source = "string",
  shard = "table", now = "number", concurrency = "number", repositories = "table",
  on_repository = "function", policy_name = "string",
}

local AGE_SOURCES = {updated = true, created = true, ["first-seen"] = true}

-- The policy and its params from plan()'s second argument: a policy table
-- ({select...}), a policy file or shipped name, or acr purge's flags as a table.
local function policy_and_params(spec, opts)
  local policy, err, code
  local sets = opts.sets or opts.params
  if type(spec) == "string" then
    policy, err, code = policy_mod.load(spec, {trusted = opts.trusted})
  elseif type(spec) == "table" and spec.select then
    policy, err, code = policy_mod.load(spec, {file = opts.policy_name})
  elseif type(spec) == "table" then
    policy, err, code = policy_mod.load("acr-purge")
    sets = spec
  else
    error("bad argument #2 to 'plan' (policy, policy file or flags table expected, got "
      .. type(spec) .. ")", 3)
  end
  if not policy then return nil, err, code end
  local params
  params, err, code = policy_mod.params(policy, sets)
  if not params then return nil, err, code end
  local ok
  ok, err, code = policy_mod.check(policy, params)
  if not ok then return nil, err, code end
  return policy, params
end

local Plan = {}
Plan.__index = Plan
Plan.__name = "regsh.purge.plan"

--- plan(reg, policy_or_flags [, opts]) -> Plan | nil, err, code.
function M.plan(reg, spec, opts)
  opts = opts or {}
  for key, value in pairs(opts) do
    local want = plan_options[key]
    if not want then error("plan: unknown option '" .. tostring(key) .. "'", 2) end
    if type(value) ~= want then
      error(string.format("plan: option '%s' must be a %s, got %s", key, want, type(value)), 2)
    end
  end
  if opts.age_source and not AGE_SOURCES[opts.age_source] then
    return fail("EINVAL", "--age-source " .. opts.age_source
      .. ": expected updated, created or first-seen")
  end
  local policy, params, code = policy_and_params(spec, opts)
  if not policy then return nil, params, code end
  local store = opts.store
  if store == nil then
    local err
    store, err, code = require("regsh.store").open()
    if not store then return nil, err, code end
  end
  local now = math.floor(opts.now or os.time())
  local names = opts.repositories
  if not names then
    local err
    names, err, code = reg:repositories()
    if not names then return nil, err, code end
  end
  local chosen = {}
  for _, name in ipairs(names) do
    local wanted, err, c = policy_mod.wants(policy, name, params)
    if wanted == nil then return nil, err, c end
    if wanted and (not opts.shard or M.shard_of(name, opts.shard.count) == opts.shard.index) then
      chosen[#chosen + 1] = name
    end
  end
  table.sort(chosen)
  local self = setmetatable({registry = reg.host, dry_run = reg.dry_run, policy = policy.file,
    description = policy.description, params = params, now = now, repositories = {},
    errors = {}, reg = reg, store = store}, Plan)
  local stop
  local jobs = {}
  for i, name in ipairs(chosen) do
    jobs[i] = function()
      if stop then return end
      local repo, err, c = inventory.gather(reg, name, {store = store, now = now,
        age_source = opts.age_source, concurrency = opts.concurrency})
      if not repo then
        self.errors[#self.errors + 1] = {repository = name, message = err, code = c}
        if c == "EAUTH" or c == "EDENIED" then stop = stop or {err, c} end
        return
      end
      local snap = planner.snapshot(repo)   -- before the policy can touch repo
      local selection
      selection, err, c = policy_mod.select(policy, repo, params, snap)
      if not selection then stop = stop or {err, c}; return end
      local pending
      pending, err, c = journal.pending(store, reg.host, name)
      if not pending then stop = stop or {err, c}; return end
      local rplan = planner.repo(snap, selection, {include_locked = opts.include_locked,
        keep_orphan_referrers = opts.keep_orphan_referrers, pending = pending})
      self.repositories[i] = rplan
      if opts.on_repository then opts.on_repository(rplan, self) end
    end
  end
  async.gather(jobs, {concurrency = M.REPOSITORY_CONCURRENCY})
  if stop then return nil, stop[1], stop[2] end
  -- keep repository order whatever order they finished in
  local list = {}
  for i = 1, #chosen do if self.repositories[i] then list[#list + 1] = self.repositories[i] end end
  self.repositories = list
  table.sort(self.errors, function(a, b) return a.repository < b.repository end)
  return self
end

--- Totals: {tags, manifests, repositories, kept, errors}.
function Plan:totals()
  local t = {tags = 0, manifests = 0, repositories = #self.repositories, kept = 0,
             errors = #self.errors}
  for _, r in ipairs(self.repositories) do
    t.tags, t.manifests, t.kept = t.tags + r.tags, t.manifests + r.manifests, t.kept + #r.kept
  end
  return t
end

function Plan:summary() return report.summary(self) end
function Plan:table(opts) return report.table(self, opts) end
function Plan:json() return report.json(self) end
function Plan:data() return report.data(self) end
Plan.__tostring = Plan.summary

--- apply{concurrency, max_deletes, on_done(action, ok, err, code)} -> result
--- {tags, manifests, failed = {{repository, message}}, deferred} | fail.
--- Refuses a plan made through a dry-run client (EDRYRUN).
function Plan:apply(opts)
  opts = opts or {}
  if self.reg.dry_run then
    return fail("EDRYRUN", "the plan was made with a dry-run client; nothing was deleted")
  end
  local concurrency = opts.concurrency or 8
  if math.type(concurrency) ~= "integer" then
    error("apply: option 'concurrency' must be an integer", 2)
  end
  concurrency = math.max(1, math.min(M.MAX_CONCURRENCY, concurrency))
  local result = {tags = 0, manifests = 0, failed = {}, deferred = 0}
  local ctx = {budget = {left = opts.max_deletes}, concurrency = concurrency, stop = {},
    store = self.store, registry = self.registry,
    on_done = function(a, ok, err, code)
      if ok then
        if a.op == "untag" then result.tags = result.tags + 1
        else
          result.manifests = result.manifests + 1
          result.tags = result.tags + #(a.tags or {})
        end
      end
      if opts.on_done then opts.on_done(a, ok, err, code) end
    end}
  local jobs = {}
  for i, rplan in ipairs(self.repositories) do
    jobs[i] = function() apply.repository(self.reg, rplan, ctx) end
  end
  async.gather(jobs, {concurrency = M.REPOSITORY_CONCURRENCY})
  for _, rplan in ipairs(self.repositories) do
    if rplan.failure then
      result.failed[#result.failed + 1] = {repository = rplan.repository, message = rplan.failure}
    end
    for _, a in ipairs(rplan.actions) do
      if a.skipped and a.skipped:find("^deferred") then result.deferred = result.deferred + 1 end
    end
  end
  return result
end

M.Plan = Plan
return M
