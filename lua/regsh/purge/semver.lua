-- regsh.purge.semver: semantic versions as tags spell them ("v1.2.3", "1.2",
-- "1.2.3-rc.1+build") and SemVer 2.0 precedence between them, for
-- List:sort_by_semver and policies (as `regsh.semver` in the sandbox).
local M = {}

-- Numeric parts longer than this are not versions (a build number or a
-- timestamp, and they would not fit an integer).
local MAX_DIGITS = 15

local function identifiers(s)
  local out = {}
  for id in (s .. "."):gmatch("([^.]*)%.") do
    if id == "" or id:find("[^0-9A-Za-z%-]") then return nil end
    out[#out + 1] = id
  end
  return out
end

--- parse(s) -> version | nil when s is not a version. A version is
--- {major, minor, patch (integers), prerelease = {identifiers...}, build = string|nil,
--- text = s}. A leading "v" or "V" is allowed, and so is a missing patch
--- ("1.2" is 1.2.0); a lone number ("7", "20240101") is not a version.
function M.parse(s)
  if type(s) ~= "string" then return nil end
  local core, rest = s:match("^[vV]?([0-9.]+)(.*)$")
  if not core then return nil end
  local major, minor, patch = core:match("^(%d+)%.(%d+)%.(%d+)$")
  if not major then
    major, minor = core:match("^(%d+)%.(%d+)$")
    patch = "0"
  end
  if not major or #major > MAX_DIGITS or #minor > MAX_DIGITS or #patch > MAX_DIGITS then
    return nil
  end
  local pre, build = rest:match("^%-([^+]*)(.*)$")
  if not pre then pre, build = nil, rest end
  if build ~= "" then
    build = build:match("^%+(.+)$")
    if not build or not identifiers(build) then return nil end
  else
    build = nil
  end
  local prerelease = {}
  if pre then
    prerelease = identifiers(pre)
    if not prerelease then return nil end
  end
  return {major = tonumber(major), minor = tonumber(minor), patch = tonumber(patch),
          prerelease = prerelease, build = build, text = s}
end

-- SemVer 2.0 rule 11.4: numeric identifiers compare as numbers and below
-- alphanumeric ones; alphanumeric ones compare in ASCII order.
local function compare_identifier(a, b)
  local na, nb = a:match("^%d+$"), b:match("^%d+$")
  if na and nb then
    a, b = a:gsub("^0+(%d)", "%1"), b:gsub("^0+(%d)", "%1")
    if #a ~= #b then return #a < #b and -1 or 1 end
  elseif na then
    return -1
  elseif nb then
    return 1
  end
  if a == b then return 0 end
  return a < b and -1 or 1
end

local function version(v, n)
  if type(v) == "string" then
    local parsed = M.parse(v)
    if not parsed then
      error(string.format("bad argument #%d to 'compare' (%q is not a version)", n, v), 3)
    end
    return parsed
  end
  if type(v) ~= "table" or math.type(v.major) ~= "integer" then
    error(string.format("bad argument #%d to 'compare' (version expected, got %s)", n, type(v)), 3)
  end
  return v
end

--- compare(a, b) -> -1, 0 or 1 by SemVer 2.0 precedence; a and b are versions
--- or strings parse accepts (anything else raises). Build metadata is ignored.
function M.compare(a, b)
  a, b = version(a, 1), version(b, 2)
  for _, field in ipairs({"major", "minor", "patch"}) do
    if a[field] ~= b[field] then return a[field] < b[field] and -1 or 1 end
  end
  local pa, pb = a.prerelease or {}, b.prerelease or {}
  -- a release ranks above its pre-releases
  if #pa == 0 or #pb == 0 then
    if #pa == #pb then return 0 end
    return #pa == 0 and 1 or -1
  end
  for i = 1, math.min(#pa, #pb) do
    local c = compare_identifier(pa[i], pb[i])
    if c ~= 0 then return c end
  end
  if #pa == #pb then return 0 end
  return #pa < #pb and -1 or 1
end

--- is_prerelease(v) -> whether the version (or string) has pre-release identifiers.
function M.is_prerelease(v)
  if type(v) == "string" then v = M.parse(v) end
  return v ~= nil and #v.prerelease > 0
end

return M
