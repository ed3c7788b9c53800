-- regsh.purge.journal: the deletes a purge is about to make in a repository,
-- kept in the store (table purge_journal) until each is done. A run killed
-- half way leaves rows behind; the next run of any policy on that repository
-- finishes them, still under the safety rules, and an untag only while the
-- tag points at the digest it pointed at when it was planned.
local M = {}

--- put(store, registry, repository, actions) -> journal handle | fail.
function M.put(store, registry, repository, actions)
  local now = os.time()
  local ok, err, code = store:transaction(function()
    for _, a in ipairs(actions) do
      local n, e, c = store.db:exec([[
INSERT OR REPLACE INTO purge_journal (registry, repository, op, target, digest, added)
VALUES (?, ?, ?, ?, ?, ?)]], registry, repository, a.op, a.tag or a.digest, a.digest, now)
      if not n then return nil, e, c end
    end
    return true
  end)
  if not ok then return nil, err, code end
  return {store = store, registry = registry, repository = repository}
end

--- done(journal, actions): these actions are done; their rows go, in one
--- transaction (apply calls it once per wave: a row left by a run killed
--- before its wave ended names something already gone, which the next run
--- finds done).
function M.done(journal, actions)
  if #actions == 0 then return true end
  local db = journal.store.db
  return journal.store:transaction(function()
    for _, a in ipairs(actions) do
      local n, err, code = db:exec([[
DELETE FROM purge_journal WHERE registry = ? AND repository = ? AND op = ? AND target = ?]],
        journal.registry, journal.repository, a.op, a.tag or a.digest)
      if not n then return nil, err, code end
    end
    return true
  end)
end

--- pending(store, registry, repository) -> {untags = {{tag, digest}},
--- manifests = {digests}} | fail: what an earlier run left undone.
function M.pending(store, registry, repository)
  local rows, err, code = store.db:rows([[
SELECT op, target, digest FROM purge_journal WHERE registry = ? AND repository = ?
ORDER BY op, target]], registry, repository)
  if not rows then return nil, err, code end
  local out = {untags = {}, manifests = {}}
  for _, row in ipairs(rows) do
    if row.op == "untag" then
      out.untags[#out.untags + 1] = {tag = row.target, digest = row.digest}
    else
      out.manifests[#out.manifests + 1] = row.target
    end
  end
  return out
end

--- clear(store, registry, repository): forget every row of the repository
--- (its plan ran to the end, or it was planned afresh).
function M.clear(store, registry, repository)
  return store.db:exec("DELETE FROM purge_journal WHERE registry = ? AND repository = ?",
    registry, repository)
end

return M
