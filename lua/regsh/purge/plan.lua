-- regsh.purge.plan: turn what a policy selected in one repository into the
-- deletes that carry it out, under the rules no policy can override: never
-- delete a manifest a kept tag points at, a child of an index that stays,
-- the subject of a referrer that stays, or a locked artifact; referrers go
-- with their subject. The result is an ordered list of actions in waves (a
-- wave's deletes may run at once; an index goes before its children, a
-- referrer before its subject) and the list of what the rules kept, and why.
local M = {}

local function short(digest)
  return digest:sub(1, 19)
end
M.short = short

-- pins: digest -> why it must stay (a text, or the kept tag's entry, made
-- a text only when shown); true when the pin is new
local function pin(pins, digest, reason)
  if not pins[digest] then pins[digest] = reason; return true end
  return false
end

local function pin_reason(reason)
  if type(reason) == "table" then return "tag " .. reason.name .. " is kept" end
  return reason
end

local EMPTY = setmetatable({}, {__newindex = function() error("read-only", 2) end})

local function copy(array)
  if #array == 0 then return EMPTY end
  return table.move(array, 1, #array, 1, {})
end

local Snapshot = {}
Snapshot.__index = Snapshot
function Snapshot:tag(name) return self._tags[name] end
function Snapshot:manifest(digest) return self._manifests[digest] end
function Snapshot:referrers(digest) return self._referrers[digest] or EMPTY end

--- snapshot(repo) -> the engine's own copy of what the safety rules read
--- (tags and their digests, locks, children, subjects, times), taken before
--- the policy sees repo. A policy can change the entries it is handed; it
--- cannot change this, so no policy can talk the engine out of a rule.
function M.snapshot(repo)
  local snap = setmetatable({name = repo.name, tags = {}, manifests = {}, _tags = {},
    _manifests = {}, _parents = {}, _referrers = {},
    _throwaway_tags = copy(repo._throwaway_tags or EMPTY)}, Snapshot)
  for i, e in ipairs(repo.manifests) do
    local m = {kind = "manifest", digest = e.digest, tags = copy(e.tags), children = copy(e.children),
               subject = e.subject, locked = e.locked, media_type = e.media_type,
               time = e.time, time_source = e.time_source}
    snap.manifests[i], snap._manifests[m.digest] = m, m
  end
  for _, m in ipairs(snap.manifests) do
    for _, child in ipairs(m.children) do
      local list = snap._parents[child] or {}
      snap._parents[child] = list
      list[#list + 1] = m.digest
    end
    if m.subject then
      local list = snap._referrers[m.subject] or {}
      snap._referrers[m.subject] = list
      list[#list + 1] = m
    end
  end
  local function add(e, ordinary)
    local t = {kind = "tag", name = e.name, digest = e.digest, subject = e.subject,
               locked = e.locked,
               time = e.time, time_source = e.time_source}
    t.manifest = snap._manifests[t.digest]
    snap._tags[t.name] = t
    if ordinary then snap.tags[#snap.tags + 1] = t end
  end
  for _, e in ipairs(repo.tags) do add(e, true) end
  for _, e in ipairs(repo.referrer_tags) do add(e, false) end
  return snap
end

--- repo(snapshot, selection, opts) -> plan of one repository.
--- selection: {tags = {entries}, manifests = {entries}, reasons = {entry -> text}}
--- (policy.select's result). opts: include_locked, keep_orphan_referrers,
--- pending = {tags = {names}, manifests = {digests}} (an interrupted run's
--- unfinished actions, finished now), policy (its name, for reasons).
--- Returns {repository, actions = {...}, kept = {...}, tags, manifests}.
function M.repo(repo, selection, opts)
  opts = opts or {}
  local reasons = selection.reasons or {}
  local kept = {}
  local function keep(kind, entry, why)
    kept[#kept + 1] = {kind = kind, name = entry.name, digest = entry.digest, reason = why,
                       selected_because = reasons[entry]}
  end

  -- tags the policy selected, less locked ones; referrer-schema tags chosen
  -- by name stand for their manifest
  local selected_tags, selected_manifests = {}, {}
  local function select_manifest(m, why)
    if m.locked and not opts.include_locked then
      keep("manifest", m, "locked (--include-locked deletes locked artifacts)")
    elseif not selected_manifests[m.digest] then
      selected_manifests[m.digest] = why or reasons[m] or "selected by the policy"
    end
  end
  for _, t in ipairs(selection.tags or {}) do
    if t.locked and not opts.include_locked then
      keep("tag", t, "locked (--include-locked deletes locked artifacts)")
    elseif t.subject then
      select_manifest(t.manifest, reasons[t] or ("referrer tag " .. t.name .. " selected"))
    else
      selected_tags[t.name] = reasons[t] or "selected by the policy"
    end
  end
  for _, m in ipairs(selection.manifests or {}) do select_manifest(m) end
  local pending = opts.pending or {}
  for _, u in ipairs(pending.untags or {}) do
    -- only while the tag still points where it did: a tag pushed again since
    -- is a new tag the old plan never chose
    local t = repo:tag(u.tag)
    if t and t.digest == u.digest and not t.subject and not selected_tags[u.tag]
       and not (t.locked and not opts.include_locked) then
      selected_tags[u.tag] = "left by an interrupted run"
    end
  end
  for _, digest in ipairs(pending.manifests or {}) do
    local m = repo:manifest(digest)
    if m then select_manifest(m, "left by an interrupted run") end
  end

  -- pins that hold whatever else happens: kept tags and locks
  local pins = {}
  for _, t in ipairs(repo.tags) do
    if not selected_tags[t.name] then pin(pins, t.digest, t) end
  end
  for _, m in ipairs(repo.manifests) do
    if m.locked and not opts.include_locked then pin(pins, m.digest, "locked") end
  end

  local parents = repo._parents or {}
  -- to delete: the selection, what goes with it (children whose every index
  -- goes, referrers of a deleted subject), less anything pinned; repeated
  -- until no new pin appears (pins only grow, so this ends)
  local doomed
  while true do
    doomed = {}
    local queue = {}
    local function add(digest, why)
      if not doomed[digest] and not pins[digest] and repo:manifest(digest) then
        doomed[digest] = why
        queue[#queue + 1] = digest
      end
    end
    local order = {}
    for digest in pairs(selected_manifests) do order[#order + 1] = digest end
    table.sort(order)
    for _, digest in ipairs(order) do add(digest, selected_manifests[digest]) end
    local i = 1
    while queue[i] do
      local m = repo:manifest(queue[i])
      for _, child in ipairs(m.children) do
        local all_go = true
        for _, p in ipairs(parents[child] or {}) do
          if not doomed[p] then all_go = false break end
        end
        if all_go then add(child, "child of deleted index " .. short(m.digest)) end
      end
      if not opts.keep_orphan_referrers then
        for _, r in ipairs(repo:referrers(m.digest)) do
          add(r.digest, "referrer of deleted " .. short(m.digest))
        end
      end
      i = i + 1
    end
    -- what stays pins what it needs: an index its children, a referrer its subject
    local new_pin = false
    for digest in pairs(doomed) do
      for _, p in ipairs(parents[digest] or {}) do
        if not doomed[p] and repo:manifest(p) then
          new_pin = pin(pins, digest, "child of kept index " .. short(p)) or new_pin
          break
        end
      end
      if not pins[digest] then
        for _, r in ipairs(repo:referrers(digest)) do
          if pins[r.digest] then
            new_pin = pin(pins, digest, "subject of kept referrer " .. short(r.digest)) or new_pin
            break
          end
        end
      end
      if not pins[digest] then   -- a tag on it that is kept (not selected)
        for _, name in ipairs(repo:manifest(digest).tags) do
          local t = repo:tag(name)
          if not t.subject and not selected_tags[name] then
            new_pin = pin(pins, digest, t) or new_pin
            break
          end
        end
      end
    end
    if not new_pin then break end
  end

  for digest, why in pairs(selected_manifests) do
    if not doomed[digest] and pins[digest] then
      keep("manifest", repo:manifest(digest), pin_reason(pins[digest]))
    end
  end

  -- waves: a manifest is deleted after every doomed manifest that points at
  -- it (its indexes, its referrers)
  local depth = {}
  local function depth_of(digest, guard)
    if depth[digest] then return depth[digest] end
    if guard > 64 then return 0 end
    local d = 0
    for _, p in ipairs(parents[digest] or {}) do
      if doomed[p] then d = math.max(d, depth_of(p, guard + 1) + 1) end
    end
    for _, r in ipairs(repo:referrers(digest)) do
      if doomed[r.digest] then d = math.max(d, depth_of(r.digest, guard + 1) + 1) end
    end
    depth[digest] = d
    return d
  end

  local actions = {}
  local throwaway = repo._throwaway_tags or {}
  -- tags that go while their manifest stays: untag (wave 0)
  local untag_names = {}
  for name in pairs(selected_tags) do
    -- a tag on a doomed manifest goes with the manifest's delete
    if not doomed[repo:tag(name).digest] then untag_names[#untag_names + 1] = name end
  end
  for _, name in ipairs(throwaway) do
    if not selected_tags[name] then untag_names[#untag_names + 1] = name end
  end
  table.sort(untag_names)
  for _, name in ipairs(untag_names) do
    local t = repo:tag(name)
    actions[#actions + 1] = {op = "untag", repository = repo.name, tag = name, digest = t.digest,
      wave = 0, reason = selected_tags[name] or "finish an interrupted untag",
      time = t.time, time_source = t.time_source, locked = t.locked}
  end
  -- by depth, then digest: buckets sorted by plain string order (a sort
  -- without a Lua comparator is several times faster on large plans)
  local buckets, deepest = {}, 0
  for digest in pairs(doomed) do
    local d = depth_of(digest, 0)
    buckets[d] = buckets[d] or {}
    table.insert(buckets[d], digest)
    if d > deepest then deepest = d end
  end
  local doomed_list = {}
  for d = 0, deepest do
    local bucket = buckets[d] or {}
    table.sort(bucket)
    table.move(bucket, 1, #bucket, #doomed_list + 1, doomed_list)
  end
  local tag_count, manifest_count = #untag_names, 0
  for _, digest in ipairs(doomed_list) do
    local m = repo:manifest(digest)
    local subject
    -- a referrer deleted while its subject stays leaves the subject's
    -- fallback index (registries without the referrers API) to update
    if m.subject and not doomed[m.subject] and repo:manifest(m.subject) then subject = m.subject end
    -- the tags its delete removes: ordinary ones count as deleted tags;
    -- referrer-schema ones belong to the subject and go with it
    local ordinary, referrer_tags = {}, {}
    for _, name in ipairs(m.tags) do
      table.insert(repo:tag(name).subject and referrer_tags or ordinary, name)
    end
    -- a manifest that goes because its tags go is explained by its tags
    local why = doomed[digest]
    if ordinary[1] and selected_tags[ordinary[1]] then
      why = selected_tags[ordinary[1]]
    end
    actions[#actions + 1] = {op = "delete", repository = repo.name, digest = digest,
      tags = ordinary, referrer_tags = referrer_tags, wave = depth[digest] + 1,
      reason = why, subject = subject, media_type = m.media_type, time = m.time,
      time_source = m.time_source, locked = m.locked}
    manifest_count = manifest_count + 1
    tag_count = tag_count + #ordinary
  end
  table.sort(kept, function(a, b) return (a.name or a.digest) < (b.name or b.digest) end)
  return {repository = repo.name, actions = actions, kept = kept, tags = tag_count,
          manifests = manifest_count}
end

return M
