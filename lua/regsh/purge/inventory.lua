-- regsh.purge.inventory: what one repository holds, gathered for the purge
-- engine: its tags and their digests, and for every manifest the facts that
-- never change (media type, size, config `created`, platforms, children,
-- subject), read from the registry once and kept in the store after that.
-- One repository at a time, so memory follows the largest repository.
local async = require "regsh.async"
local manifest = require "regsh.registry.manifest"
local synthetic = require "regsh.purge.synthetic"
local time = require "regsh.time"

local M = {}

--- The subject digest a referrer-schema tag names, or nil for an ordinary tag.
M.referrer_tag_subject = synthetic.referrer_tag_subject

local function epoch(s)
  if type(s) ~= "string" then return nil end
  local t = time.parse_rfc3339(s)
  return t and math.floor(t)
end

local IMAGE_CONFIGS = {[manifest.OCI_CONFIG] = true, [manifest.DOCKER_CONFIG] = true}

-- The facts of a fetched manifest (created is filled in from its config).
local function facts_of(m)
  local f = {digest = m.digest, media_type = m.media_type, size = m.size, children = {},
             platforms = {}, artifact_type = m.artifactType}
  if type(m.subject) == "table" and type(m.subject.digest) == "string" then
    f.subject = m.subject.digest
  end
  if type(m.config) == "table" then
    f.config = m.config.digest
    f.artifact_type = f.artifact_type
      or (not IMAGE_CONFIGS[m.config.mediaType] and m.config.mediaType or nil)
  end
  for _, d in ipairs(manifest.descriptors(m.manifests)) do
    f.children[#f.children + 1] = d.digest
    local p = type(d.platform) == "table" and d.platform or {}
    if type(p.os) == "string" and type(p.architecture) == "string" then
      f.platforms[#f.platforms + 1] = p.os .. "/" .. p.architecture
        .. (type(p.variant) == "string" and ("/" .. p.variant) or "")
    end
  end
  return f
end
M.facts_of = facts_of   -- for tests/fuzz/manifest_json.lua: any decoded manifest

-- Raise the failure of a gathered job as a value the caller turns back into
-- nil, err, code (gather reports the first error).
local Failure = {}
local function check(value, err, code)
  if value == nil and err ~= nil then error(setmetatable({err = err, code = code}, Failure), 0) end
  return value, err, code
end

local Gatherer = {}
Gatherer.__index = Gatherer

-- Fetch the facts of digest (and of its children, recursively) unless known;
-- m: the manifest when it was already fetched (by tag).
function Gatherer:learn(digest, m)
  if self.facts[digest] or self.learning[digest] then return end
  self.learning[digest] = true
  local stored = self.store and self.store:facts({digest})[digest]
  if stored then
    self.facts[digest] = stored
    for _, child in ipairs(stored.children or {}) do self:learn(child) end
    return
  end
  if not m then
    local err, code
    m, err, code = self.reg:manifest(self.name, digest)
    if not m and code == "ENOTFOUND" then
      -- gone since it was listed, or a child a broken index still names: it
      -- has no facts (and none are stored); a delete of it is already done
      self.facts[digest] = {digest = digest, children = {}, platforms = {}}
      return
    end
    check(m, err, code)
  end
  if manifest.is_throwaway(m) then
    -- a tag a killed untag left on regsh's throwaway manifest: never stored
    self.throwaways[digest] = true
    self.facts[digest] = facts_of(m)
    return
  end
  local f = facts_of(m)
  if manifest.is_image(m.media_type) and type(m.config) == "table"
     and IMAGE_CONFIGS[m.config.mediaType] then
    local config = check(self.reg:config(self.name, m))
    f.created = epoch(config.created)
  end
  local jobs = {}
  for i, child in ipairs(f.children) do jobs[i] = function() self:learn(child) end end
  async.gather(jobs, {concurrency = self.concurrency})
  if manifest.is_index(m.media_type) then
    for _, child in ipairs(f.children) do   -- an index is as new as its newest image
      local c = self.facts[child]
      if c and c.created and (not f.created or c.created > f.created) then f.created = c.created end
    end
  end
  self.facts[digest] = f
  self.new_facts[#self.new_facts + 1] = f
end

-- Tags with their digests: ACR lists them; elsewhere one HEAD per tag (a
-- GET when the store knows nothing of the repository, which is also the
-- fetch the manifest's facts need).
function Gatherer:resolve_tags(entries, cold)
  local jobs = {}
  for i, t in ipairs(entries) do
    jobs[i] = function()
      if t.digest then return end
      local found, err, code
      if cold then
        found, err, code = self.reg:manifest(self.name, t.name)
      else
        found, err, code = self.reg:head(self.name, t.name)
      end
      -- a tag deleted between the listing and now is no longer there to purge
      if not found and code == "ENOTFOUND" then t.gone = true; return end
      t.digest = check(found, err, code).digest
      if cold then self:learn(found.digest, found) end
    end
  end
  async.gather(jobs, {concurrency = self.concurrency})
  local kept = 0
  for i = 1, #entries do
    local t = entries[i]
    entries[i] = nil
    if not t.gone then kept = kept + 1; entries[kept] = t end
  end
end

-- Learn the facts of every digest in set (keys), known ones from the store
-- in one query.
function Gatherer:learn_all(set)
  local wanted = {}
  for digest in pairs(set) do
    if not self.facts[digest] then wanted[#wanted + 1] = digest end
  end
  table.sort(wanted)
  if self.store and #wanted > 0 then
    for digest, f in pairs(self.store:facts(wanted)) do self.facts[digest] = f end
  end
  local jobs = {}
  for _, digest in ipairs(wanted) do jobs[#jobs + 1] = function() self:learn(digest) end end
  for digest in pairs(set) do  -- children of indexes the store knew
    for _, child in ipairs(self.facts[digest] and self.facts[digest].children or {}) do
      jobs[#jobs + 1] = function() self:learn(child) end
    end
  end
  async.gather(jobs, {concurrency = self.concurrency})
end

-- The digests set reaches through index children (facts learnt).
function Gatherer:reachable(set)
  local seen, stack = {}, {}
  for digest in pairs(set) do stack[#stack + 1] = digest end
  while #stack > 0 do
    local d = table.remove(stack)
    if not seen[d] then
      seen[d] = true
      for _, child in ipairs(self.facts[d] and self.facts[d].children or {}) do
        stack[#stack + 1] = child
      end
    end
  end
  return seen
end

-- Digests the store saw here before that nothing present reaches: still
-- there (HEAD) they are untagged manifests, added to present; gone, the
-- store forgets them.
function Gatherer:recall_untagged(members, reached)
  local jobs, gone, found = {}, {}, {}
  for digest in pairs(members) do
    if not reached[digest] then
      jobs[#jobs + 1] = function()
        local head, err, code = self.reg:head(self.name, digest)
        if head then found[#found + 1] = digest
        elseif code == "ENOTFOUND" then gone[#gone + 1] = digest
        else check(nil, err, code) end
      end
    end
  end
  async.gather(jobs, {concurrency = self.concurrency})
  for _, digest in ipairs(found) do self.present_extra[digest] = {digest = digest} end
  if #gone > 0 and self.store then self.store:forget(self.registry, self.name, gone) end
end

local function run_gather(g, fn)
  local ok, err = pcall(fn)
  if ok then return true end
  if getmetatable(err) == Failure then return nil, err.err, err.code end
  error(err, 0)
end

--- gather(reg, name, opts) -> repo | nil, err, code. opts: store (regsh.store
--- or nil), now (Unix seconds), age_source ("updated" | "created" |
--- "first-seen" | nil for the default chain), concurrency.
function M.gather(reg, name, opts)
  local g = setmetatable({reg = reg, name = name, registry = reg.host, store = opts.store,
    facts = {}, learning = {}, new_facts = {}, throwaways = {}, present_extra = {},
    concurrency = opts.concurrency or reg.concurrency or 8}, Gatherer)
  local tags, acr_manifests
  local ok, err, code = run_gather(g, function()
    tags = check(reg:tags(name))
    if reg.is_acr then acr_manifests = check(reg:acr_manifests(name)) end
  end)
  if not ok then return nil, err, code end
  local members = g.store and g.store:members(g.registry, name) or {}
  ok, err, code = run_gather(g, function()
    g:resolve_tags(tags, next(members) == nil)
    -- every digest now present: tagged and ACR-listed ones, then the
    -- untagged ones the store recalls
    local present = {}
    for _, t in ipairs(tags) do present[t.digest] = present[t.digest] or {digest = t.digest} end
    for _, m in ipairs(acr_manifests or {}) do present[m.digest] = m end
    g:learn_all(present)
    if not reg.is_acr then
      g:recall_untagged(members, g:reachable(present))
      for digest, m in pairs(g.present_extra) do present[digest] = m end
      g:learn_all(g.present_extra)
    end
    g.present = present
  end)
  if not ok then return nil, err, code end
  if g.store and #g.new_facts > 0 then g.store:put_facts(g.new_facts) end
  local all = {}
  for digest in pairs(g.facts) do all[#all + 1] = digest end
  table.sort(all)
  local first_seen = g.store and g.store:seen(g.registry, name, all, opts.now) or {}
  local records = {}
  for _, digest in ipairs(all) do
    local f, listed = g.facts[digest], g.present[digest] or {}
    records[#records + 1] = {
      digest = digest, media_type = f.media_type or listed.media_type, size = f.size or listed.size,
      created = f.created, updated = epoch(listed.updated), first_seen = first_seen[digest],
      locked = listed.locked == true, platforms = f.platforms, children = f.children,
      subject = f.subject, artifact_type = f.artifact_type,
    }
  end
  local by_digest = {}
  for _, r in ipairs(records) do by_digest[r.digest] = r end
  local tag_records, throwaway_tags = {}, {}
  for i, t in ipairs(tags) do
    tag_records[i] = {name = t.name, digest = t.digest, updated = epoch(t.updated),
                      locked = t.locked == true}
    -- what a referrer-schema tag points at refers to the subject the tag names
    -- (cosign's signatures carry no subject field of their own)
    local subject = M.referrer_tag_subject(t.name)
    local r = by_digest[t.digest]
    if subject and r and not r.subject and subject ~= r.digest then r.subject = subject end
    if g.throwaways[t.digest] then throwaway_tags[#throwaway_tags + 1] = t.name end
  end
  local repo = synthetic.repo_from({registry = g.registry, name = name, now = opts.now,
    age_source = opts.age_source, tags = tag_records, manifests = records})
  table.sort(throwaway_tags)
  repo._throwaway_tags = throwaway_tags
  return repo
end

return M
