-- regsh.registry.names: the small naming rules every registry call shares:
-- token scopes, how an object is named in messages, the checks on a
-- repository or reference argument (misuse raises, bad data fails), and the
-- filter that keeps a server's listings to names the OCI grammar allows.
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

--- Wrap a pager of names from the server (a listing is untrusted: escapes,
--- newlines, bytes that are not UTF-8): items whose name breaks the grammar
--- are dropped, and when the listing ends one warning says how many went.
--- spec: valid(name), noun ("tag"), what (the listing, for the warning),
--- log(level, message), field (the name's key when items are tables).
function M.grammatical(pager, spec)
  local skipped, reported = 0, false
  local function report()
    if skipped == 0 or reported then return end
    reported = true
    spec.log("warn", string.format("%s: skipped %d %s name%s from the registry that break "
      .. "the OCI grammar", spec.what, skipped, spec.noun, skipped == 1 and "" or "s"))
  end
  return function()
    local page, err, code = pager()
    if not page then
      report()
      return nil, err, code
    end
    local kept = {}
    for _, item in ipairs(page) do
      local name = item
      if spec.field then name = type(item) == "table" and item[spec.field] or nil end
      if type(name) == "string" and spec.valid(name) then
        kept[#kept + 1] = item
      else
        skipped = skipped + 1
      end
    end
    return kept
  end
end

return M
