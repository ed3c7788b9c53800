-- regsh.registry.graph: the walk of a manifest graph in one repository: an
-- index leads to its children, a manifest (subject) to its referrers (the
-- referrers API, or the sha256-<hex> tag schema and cosign's tags). copy.lua
-- walks what it copies with it; the purge engine, what its kept images protect.
local manifest = require "regsh.registry.manifest"

local M = {}

--- walk(layer, repository, root, visit [, opts]) -> true | nil, err, code.
--- root: a manifest from layer:manifest, or a tag or digest to fetch. Calls
--- visit(m, edge) once for every manifest reachable from root (each digest
--- once, cycles included), with edge = {kind = "root" | "child" | "referrer",
--- from = the digest that led here (nil for the root)}. Order: a manifest
--- after its children (so they can be put before their index), before its
--- referrers (which need their subject). opts.referrers = false follows
--- index children only. visit returns nothing to go on, or nil, err, code to
--- stop the walk with that failure; so does a manifest that cannot be read.
function M.walk(layer, repository, root, visit, opts)
  local follow_referrers = not (opts and opts.referrers == false)
  local seen = {}
  local node
  local function descend(d, edge)
    if seen[d.digest] then return true end
    seen[d.digest] = true
    local m, err, code = layer:manifest(repository, d.digest)
    if not m then return nil, err, code end
    return node(m, edge)
  end
  node = function(m, edge)
    seen[m.digest] = true
    local ok, err, code
    for _, r in ipairs(manifest.references(m)) do
      if r.kind == "manifest" then
        ok, err, code = descend(r.descriptor, {kind = "child", from = m.digest})
        if not ok then return nil, err, code end
      end
    end
    ok, err, code = visit(m, edge)
    if ok == nil and err ~= nil then return nil, err, code end
    if not follow_referrers then return true end
    local list
    list, err, code = layer:referrers(repository, m.digest)
    if not list then return nil, err, code end
    for _, d in ipairs(list) do
      ok, err, code = descend(d, {kind = "referrer", from = m.digest})
      if not ok then return nil, err, code end
    end
    return true
  end
  local top, err, code = root
  if type(root) ~= "table" then
    top, err, code = layer:manifest(repository, root)
    if not top then return nil, err, code end
  end
  return node(top, {kind = "root"})
end

return M
