-- regsh.purge.synthetic: the repository object a purge policy's select(repo, params)
-- receives. repo_from builds it from plain tag and manifest records (the engine's
-- inventory gathers them from a registry and the store); synthetic() builds one
-- from hand-written tables for specs, docs and benchmarks, filling defaults.
local List = require "regsh.purge.list"

local M = {}

local OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
local OCI_INDEX = "application/vnd.oci.image.index.v1+json"
local INDEX_TYPES = {
  [OCI_INDEX] = true,
  ["application/vnd.docker.distribution.manifest.list.v2+json"] = true,
}
local HEX64 = string.rep("[0-9a-f]", 64)

--- The subject digest a tag of the referrer tag schema names ("sha256-<hex>",
--- cosign's "sha256-<hex>.sig|.att|.sbom"), or nil for an ordinary tag.
function M.referrer_tag_subject(name)
  if name:sub(1, 7) ~= "sha256-" then return nil end
  local hex = name:match("^sha256%-(" .. HEX64 .. ")$")
    or name:match("^sha256%-(" .. HEX64 .. ")%.sig$")
    or name:match("^sha256%-(" .. HEX64 .. ")%.att$")
    or name:match("^sha256%-(" .. HEX64 .. ")%.sbom$")
  return hex and "sha256:" .. hex or nil
end

-- The age source of an entry: `age_source` alone when given ("updated",
-- "created", "first-seen"), else updated, then created, then first_seen.
local SOURCES = {{"updated", "updated"}, {"created", "created"}, {"first-seen", "first_seen"}}
local function choose_time(e, age_source)
  for _, source in ipairs(SOURCES) do
    local name, field = source[1], source[2]
    if (age_source == nil or age_source == name) and e[field] ~= nil then
      e.time, e.time_source = e[field], name
      return
    end
  end
end

local function copy_array(a)
  local out = {}
  for i, v in ipairs(a or {}) do out[i] = v end
  return out
end

-- entries sorted by a unique string field, without a Lua comparator (the
-- plain string sort is several times faster on large repositories)
local function sort_by_field(list, index, field)
  local keys = {}
  for i, e in ipairs(list) do keys[i] = e[field] end
  table.sort(keys)
  for i, k in ipairs(keys) do list[i] = index[k] end
end

local function manifest_entry(r)
  return {
    kind = "manifest", digest = r.digest, media_type = r.media_type, size = r.size,
    tags = {}, created = r.created, updated = r.updated, first_seen = r.first_seen,
    locked = r.locked == true, platforms = copy_array(r.platforms),
    children = copy_array(r.children), subject = r.subject, artifact_type = r.artifact_type,
  }
end

-- Manifests reachable from the manifests of `roots`: index children (nested) and
-- referrers (of anything reached), each once.
local function reach(roots, by_digest, by_subject)
  local seen, queue = {}, {}
  local function visit(digest)
    if digest and not seen[digest] and by_digest[digest] then
      seen[digest] = true
      queue[#queue + 1] = digest
    end
  end
  for _, digest in ipairs(roots) do visit(digest) end
  local i = 1
  while queue[i] do
    local m = by_digest[queue[i]]
    for _, child in ipairs(m.children) do visit(child) end
    for _, referrer in ipairs(by_subject[m.digest] or {}) do visit(referrer.digest) end
    i = i + 1
  end
  return seen
end

local Repo = {}
Repo.__index = Repo

--- repo:tag(name) -> the tag entry (ordinary or referrer-schema) | nil
function Repo:tag(name)
  return self._tags[name]
end

--- repo:manifest(digest) -> the manifest entry | nil
function Repo:manifest(digest)
  return self._manifests[digest]
end

--- repo:referrers(digest) -> List of the manifest entries whose subject is digest
function Repo:referrers(digest)
  return List.new(self._referrers[digest] or {}, self.now)
end

--- repo:dangling(tags) -> List of the top-level manifest entries no tag reaches
--- once the tag entries (or names) `tags` are deleted, by digest.
function Repo:dangling(tags)
  local gone = {}
  for _, t in ipairs(tags or {}) do gone[type(t) == "table" and t.name or t] = true end
  local roots = {}
  for name, t in pairs(self._tags) do
    if not gone[name] then roots[#roots + 1] = t.digest end
  end
  local reached = reach(roots, self._manifests, self._referrers)
  local lost = {}
  for digest in pairs(self._manifests) do
    if not reached[digest] then lost[digest] = true end
  end
  -- a child of a lost index, or a referrer of a lost subject, goes with it
  local out = {}
  for _, m in ipairs(self.manifests) do
    if lost[m.digest] and not (m.subject and lost[m.subject]) then
      local nested = false
      for _, parent in ipairs(self._parents[m.digest] or {}) do
        if lost[parent] then nested = true break end
      end
      if not nested then out[#out + 1] = m end
    end
  end
  return List.new(out, self.now)
end

local function check_records(spec)
  if type(spec) ~= "table" then
    error("repo_from: a table {registry, name, now, tags, manifests} expected, got " .. type(spec), 3)
  end
  if math.type(spec.now) ~= "integer" then
    error("repo_from: `now` must be Unix seconds (integer), got " .. tostring(spec.now), 3)
  end
  for i, t in ipairs(spec.tags or {}) do
    if type(t.name) ~= "string" or type(t.digest) ~= "string" then
      error("repo_from: tag record #" .. i .. " needs a name and a digest", 3)
    end
  end
  for i, m in ipairs(spec.manifests or {}) do
    if type(m.digest) ~= "string" then
      error("repo_from: manifest record #" .. i .. " needs a digest", 3)
    end
  end
end

--- repo_from{registry, name, now, age_source?, tags = {tag records}, manifests =
--- {manifest records}} -> repo. Records are plain tables:
---   tag      {name, digest, updated?, created?, first_seen?, locked?}
---   manifest {digest, media_type, size?, created?, updated?, first_seen?, locked?,
---             platforms?, children?, subject?, artifact_type?}
--- Every manifest a tag names or an index lists must have a record. A tag's
--- created and first_seen default to its manifest's; an index's created to its
--- newest child's.
function M.repo_from(spec)
  check_records(spec)
  local now, age_source = spec.now, spec.age_source
  local by_digest, manifests = {}, {}
  for _, r in ipairs(spec.manifests or {}) do
    if by_digest[r.digest] then error("repo_from: manifest " .. r.digest .. " listed twice", 2) end
    local m = manifest_entry(r)
    by_digest[m.digest] = m
    manifests[#manifests + 1] = m
  end
  sort_by_field(manifests, by_digest, "digest")

  local parents, referrers = {}, {}
  for _, m in ipairs(manifests) do
    for _, child in ipairs(m.children) do
      if not by_digest[child] then
        error("repo_from: index " .. m.digest .. " lists " .. child .. ", which has no record", 2)
      end
      parents[child] = parents[child] or {}
      table.insert(parents[child], m.digest)
    end
    if m.subject then
      referrers[m.subject] = referrers[m.subject] or {}
      table.insert(referrers[m.subject], m)
    end
    m.is_index = INDEX_TYPES[m.media_type] == true or #m.children > 0
    m.is_referrer = m.subject ~= nil
  end

  -- an index without its own created takes its newest child's (nested first)
  local function index_created(m, depth)
    if m.created == nil and m.is_index and depth < 16 then
      for _, child in ipairs(m.children) do
        local c = index_created(by_digest[child], depth + 1)
        if c and (m.created == nil or c > m.created) then m.created = c end
      end
    end
    return m.created
  end
  for _, m in ipairs(manifests) do index_created(m, 0) end
  for _, m in ipairs(manifests) do choose_time(m, age_source) end

  local by_name, tags, referrer_tags = {}, {}, {}
  for _, r in ipairs(spec.tags or {}) do
    local m = by_digest[r.digest]
    if not m then error("repo_from: tag " .. r.name .. " names " .. r.digest .. ", which has no record", 2) end
    if by_name[r.name] then error("repo_from: tag " .. r.name .. " listed twice", 2) end
    local t = {kind = "tag", name = r.name, digest = r.digest, manifest = m,
               media_type = m.media_type, created = r.created or m.created, updated = r.updated,
               first_seen = r.first_seen or m.first_seen, locked = r.locked == true,
               subject = M.referrer_tag_subject(r.name)}
    choose_time(t, age_source)
    by_name[t.name] = t
    table.insert(t.subject and referrer_tags or tags, t)
    table.insert(m.tags, t.name)
  end
  sort_by_field(tags, by_name, "name")
  sort_by_field(referrer_tags, by_name, "name")
  for _, m in ipairs(manifests) do table.sort(m.tags) end
  for _, list in pairs(referrers) do sort_by_field(list, by_digest, "digest") end

  local repo = setmetatable({
    registry = spec.registry, name = spec.name, now = now,
    tags = List.new(tags, now), referrer_tags = List.new(referrer_tags, now),
    manifests = List.new(manifests, now),
    _tags = by_name, _manifests = by_digest, _referrers = referrers, _parents = parents,
  }, Repo)
  repo.untagged = repo:dangling({})
  return repo
end

--- synthetic{registry?, name?, now?, age_source?, tags = {{name, digest, time?, ...}},
--- manifests = {{digest, media_type?, children?, subject?, created?, time?, ...}}} -> repo.
--- Defaults: a manifest record for every digest a tag names or an index lists
--- that has none; media_type an OCI image manifest (an OCI index when it has
--- children); `time` on a record is shorthand for `created`, and a manifest
--- with no time of its own is as old as its newest tag; registry
--- "127.0.0.1:5000", name "app", now 1700000000.
function M.synthetic(spec)
  spec = spec or {}
  local manifests, known = {}, {}
  local function add(r)
    local copy = {}
    for k, v in pairs(r) do copy[k] = v end
    if copy.created == nil then copy.created = copy.time end
    if copy.media_type == nil then
      copy.media_type = (copy.children and #copy.children > 0) and OCI_INDEX or OCI_MANIFEST
    end
    manifests[#manifests + 1] = copy
    known[copy.digest] = true
  end
  for _, r in ipairs(spec.manifests or {}) do add(r) end
  for _, r in ipairs(spec.manifests or {}) do
    for _, child in ipairs(r.children or {}) do
      if not known[child] then add({digest = child}) end
    end
  end
  local tags, tag_time = {}, {}
  for _, r in ipairs(spec.tags or {}) do
    local copy = {}
    for k, v in pairs(r) do copy[k] = v end
    if copy.created == nil then copy.created = copy.time end
    if copy.digest and not known[copy.digest] then add({digest = copy.digest}) end
    if copy.created and (tag_time[copy.digest] or copy.created - 1) < copy.created then
      tag_time[copy.digest] = copy.created
    end
    tags[#tags + 1] = copy
  end
  -- a manifest without a time of its own gets its newest tag's
  for _, m in ipairs(manifests) do
    if m.created == nil then m.created = tag_time[m.digest] end
  end
  return M.repo_from({
    registry = spec.registry or "127.0.0.1:5000", name = spec.name or "app",
    now = spec.now or 1700000000, age_source = spec.age_source,
    tags = tags, manifests = manifests,
  })
end

setmetatable(M, {__call = function(_, spec) return M.synthetic(spec) end})

return M
