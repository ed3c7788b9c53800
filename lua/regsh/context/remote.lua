-- regsh.context.remote: the sources that are downloaded, a tarball over
-- http(s) (three tries with backoff; a 4xx is final) and an OCI artifact
-- (oci://host/repo:tag: its layers as files, or extracted in order), each
-- filled into a private directory that regsh.context then owns.
local archive = require "regsh.core.archive"
local async = require "regsh.async"
local fs = require "regsh.fs"
local http = require "regsh.http"

local M = {}

local TRIES = 3

local function fail(shown, what)
  return nil, ("ECONTEXT: %s: %s"):format(shown, what), "ECONTEXT"
end
M.fail = fail

--- download(url, path, shown, opts) -> true | fail: GET url into the file path.
--- opts.timeout: seconds without a byte before a try is given up (30).
function M.download(url, path, shown, opts)
  local last
  for attempt = 1, TRIES do
    if attempt > 1 then async.sleep(0.5 * 2 ^ (attempt - 2)) end
    local res, err = http.get(url, {output = path, timeout = 0, follow = 10,
                                    stall_timeout = opts.timeout or 30, insecure = opts.insecure})
    if res and res.status < 300 then return true end
    if res then
      last = ("HTTP %d"):format(res.status)
      if res.status < 500 and res.status ~= 429 then break end  -- a 4xx does not change
    else
      last = err
    end
  end
  os.remove(path)
  return fail(shown, "download failed: " .. last)
end

--- url(source, root, work, opts) -> true | fail: the tarball at source
--- extracted into root (work: a directory for the download).
function M.url(source, root, work, opts)
  local file = work .. "/download"
  local ok, err, code = M.download(source, file, source, opts)
  if not ok then return nil, err, code end
  ok, err = archive.extract(file, root)
  os.remove(file)
  if not ok then return fail(source, "not a usable tar archive: " .. err) end
  return true
end

-- A layer title as a path under root: relative, no '..'.
local function safe_title(title)
  if title == "" or title:sub(1, 1) == "/" then return false end
  for part in title:gmatch("[^/]+") do
    if part == ".." then return false end
  end
  return true
end

local function parent_of(path)
  return path:match("^(.*)/[^/]*$") or "."
end

local TITLE, UNPACK = "org.opencontainers.image.title", "io.deis.oras.content.unpack"

local function client_for(ref, opts)
  local registry = require "regsh.registry"
  local given = opts.registry
  if type(given) == "table" and given.manifest then return given end
  local options = {}
  for k, v in pairs(type(given) == "table" and given or {}) do options[k] = v end
  if opts.insecure ~= nil and options.insecure == nil then options.insecure = opts.insecure end
  return registry.open(ref.registry, options)
end

--- oci(source, root, work, opts) -> true | fail: the artifact's layers:
--- a titled layer is written as that file (extracted where ORAS marks it a
--- packed directory), an untitled tar layer is extracted, in order.
function M.oci(source, root, work, opts)
  local registry = require "regsh.registry"
  local ref, err = registry.parse_reference(source:sub(#"oci://" + 1))
  if not ref then return fail(source, err) end
  local client, code
  client, err = client_for(ref, opts)
  if not client then return fail(source, err) end
  local m
  m, err = client:manifest(ref.repository, ref:ref())
  if not m then return fail(source, err) end
  if not m.layers then return fail(source, "an index, not one artifact: name a manifest") end
  for i, layer in ipairs(m.layers) do
    local annotations = layer.annotations or {}
    local title = annotations[TITLE]
    local tarlike = (layer.mediaType or ""):find("tar", 1, true) ~= nil
    if title or tarlike then
      if title and not safe_title(title) then
        return fail(source, ("layer %d: unsafe title '%s'"):format(i, title))
      end
      local file = work .. "/layer"
      local ok
      ok, err = client:blob_get(ref.repository, layer.digest, {output = file})
      if not ok then return fail(source, ("layer %d: %s"):format(i, err)) end
      if title and annotations[UNPACK] ~= "true" then
        ok, err, code = fs.mkdir(root .. "/" .. parent_of(title))
        if ok then ok, err, code = os.rename(file, root .. "/" .. title) end
        if not ok then return fail(source, ("layer %d: %s"):format(i, err or code)) end
      else
        ok, err = archive.extract(file, root)
        os.remove(file)
        if not ok then return fail(source, ("layer %d: %s"):format(i, err)) end
      end
    end
  end
  return true
end

return M
