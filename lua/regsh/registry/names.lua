-- regsh.registry.names: the small naming rules every registry call shares:
-- token scopes, how an object is named in messages, and the checks on a
-- repository or reference argument (misuse raises, bad data fails).
local ref = require "regsh.registry.ref"

local M = {}

--- "repository:<repo>:<actions>", the token scope of a request.
function M.scope(repository, actions)
  return "repository:" .. repository .. ":" .. actions
end

M.CATALOG_SCOPE = "registry:catalog:*"

--- "host/repo:tag" or "host/repo@sha256:..." for messages.
function M.display(host, repository, reference)
  local s = host .. "/" .. repository
  if reference == nil then return s end
  if ref.is_digest(reference) then return s .. "@" .. reference end
  return s .. ":" .. reference
end

local function fail(host, input, problem)
  return nil, string.format("EREF: %s/%s: %s", host, tostring(input), problem), "EREF"
end

--- Raise unless value is a string (a programming error); fail (EREF) unless
--- it is a valid repository name. The error blames the caller of the method
--- that called this (level, default 3: one more for each helper between).
function M.check_repository(host, repository, fname, argn, level)
  if type(repository) ~= "string" then
    error(string.format("bad argument #%d to '%s' (repository name expected, got %s)",
      argn or 1, fname, type(repository)), level or 3)
  end
  if not ref.is_repository(repository) then
    return fail(host, repository, "invalid repository name")
  end
  return true
end

--- Same for a tag-or-digest argument.
function M.check_reference(host, repository, reference, fname, argn, level)
  if type(reference) ~= "string" then
    error(string.format("bad argument #%d to '%s' (tag or digest expected, got %s)",
      argn or 2, fname, type(reference)), level or 3)
  end
  if not (ref.is_digest(reference) or ref.is_tag(reference)) then
    return fail(host, repository .. ":" .. reference, "not a valid tag or digest")
  end
  return true
end

--- Same for a digest argument.
function M.check_digest(host, repository, digest, fname, argn, level)
  if type(digest) ~= "string" then
    error(string.format("bad argument #%d to '%s' (digest expected, got %s)",
      argn or 2, fname, type(digest)), level or 3)
  end
  if not ref.is_digest(digest) then
    return fail(host, repository .. "@" .. digest, "not a valid digest (sha256:<64 hex>)")
  end
  return true
end

return M
