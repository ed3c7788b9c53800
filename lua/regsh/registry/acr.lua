-- regsh.registry.acr: Azure Container Registry's own API (/acr/v1/...): tags
-- and manifests with their timestamps and lock attributes, tag delete, and
-- lock/unlock (PATCH of changeableAttributes). See shared purge.md §1.8.
-- Its functions take the internal layer (layer.lua), not the client.
local json = require "regsh.json"
local listing = require "regsh.registry.listing"
local names = require "regsh.registry.names"
local ref = require "regsh.registry.ref"

local M = {}

--- Whether a host name is an Azure Container Registry.
M.detect = ref.is_acr_host

-- ACR locks an artifact by clearing deleteEnabled or writeEnabled.
local function locked(attributes)
  if type(attributes) ~= "table" then return nil end
  return attributes.deleteEnabled == false or attributes.writeEnabled == false
end

local function tag_entry(t)
  return {name = t.name, digest = t.digest, created = t.createdTime, updated = t.lastUpdateTime,
          locked = locked(t.changeableAttributes), attributes = t.changeableAttributes,
          signed = t.signed}
end

local function manifest_entry(m)
  local tags = type(m.tags) == "table" and m.tags or {}
  return {digest = m.digest, size = m.imageSize, created = m.createdTime,
          updated = m.lastUpdateTime,
          media_type = m.mediaType, config_media_type = m.configMediaType, os = m.os,
          architecture = m.architecture, tags = tags, locked = locked(m.changeableAttributes),
          attributes = m.changeableAttributes}
end

local function mapped(pager, map)
  return function()
    local page, err, code = pager()
    if not page then return nil, err, code end
    local out = {}
    for i, item in ipairs(page) do out[i] = map(item) end
    return out
  end
end

-- A pager over /acr/v1/<repo>/<collection> ("_tags" or "_manifests") whose
-- pages are arrays under `key`, each item turned into an entry by map.
local function metadata_pager(layer, repository, collection, key, opts, map)
  opts = opts or {}
  return mapped(layer:pager({
    path = listing.first_path("/acr/v1/" .. repository .. "/" .. collection, layer.page_size,
      {{"orderby", opts.orderby}}),
    key = key, what = names.display(layer.host, repository), missing = "ENOTFOUND",
    scopes = {names.scope(repository, "metadata_read")},
  }), map)
end

--- A pager over /acr/v1/<repo>/_tags (entries like layer:tags, plus attributes).
--- opts.orderby: "timedesc" | "timeasc"; the Link cursor is opaque then (acr-cli #72).
function M.tag_pager(layer, repository, opts)
  return metadata_pager(layer, repository, "_tags", "tags", opts, tag_entry)
end

--- A pager over /acr/v1/<repo>/_manifests.
function M.manifest_pager(layer, repository, opts)
  return metadata_pager(layer, repository, "_manifests", "manifests", opts, manifest_entry)
end

--- DELETE /acr/v1/<repo>/_tags/<tag>: true (also when the tag is already gone).
function M.untag(layer, repository, tag)
  local what = names.display(layer.host, repository, tag)
  local res, err, code = layer:write({method = "DELETE", what = what,
    path = "/acr/v1/" .. repository .. "/_tags/" .. tag,
    scopes = {names.scope(repository, "delete")}, write = "untag " .. what})
  if not res then return nil, err, code end
  -- 404: the tag is already gone, which is what was asked
  if res.status == 200 or res.status == 202 or res.status == 204 or res.status == 404 then
    return true
  end
  return layer.transport:status_error(res, what, "untag")
end

local lock_fields = {
  deleteEnabled = true, writeEnabled = true, readEnabled = true, listEnabled = true,
}

--- Raise unless attributes is a table of known lock attributes to booleans
--- (the client checks lock's argument #3 with it).
function M.check_attributes(attributes, level)
  if type(attributes) ~= "table" then
    error("bad argument #3 to 'lock' (table of attributes expected, got "
      .. type(attributes) .. ")", level)
  end
  for key, value in pairs(attributes) do
    if not lock_fields[key] then
      error("bad argument #3 to 'lock' (unknown attribute '" .. tostring(key) .. "')", level)
    end
    if type(value) ~= "boolean" then
      error("bad argument #3 to 'lock' (attribute '" .. key .. "' must be a boolean)", level)
    end
  end
end

--- PATCH the changeable attributes of a tag or a manifest (by digest).
function M.lock(layer, repository, tag_or_digest, attributes)
  local kind = ref.is_digest(tag_or_digest) and "_manifests" or "_tags"
  local what = names.display(layer.host, repository, tag_or_digest)
  local res, err, code = layer:write({method = "PATCH", what = what,
    path = "/acr/v1/" .. repository .. "/" .. kind .. "/" .. tag_or_digest,
    headers = {["Content-Type"] = "application/json"},
    body = json.encode(attributes),
    scopes = {names.scope(repository, "metadata_write")},
    write = "change the attributes of " .. what .. " to " .. json.encode(attributes)})
  if not res then return nil, err, code end
  if res.status == 200 or res.status == 204 then return true end
  return layer.transport:status_error(res, what, "lock")
end

return M
