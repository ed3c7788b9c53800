-- regsh.registry.blob: blobs (layers, configs): HEAD, GET with the digest
-- verified (following storage redirects without our credentials), upload
-- (monolithic, or chunked with PATCH) and cross-repository mount.
-- Its functions take the internal layer (layer.lua); writes go through
-- layer:write, the dry-run gate.
local digest = require "regsh.digest"
local names = require "regsh.registry.names"
local url = require "regsh.registry.url"

local M = {}

local REDIRECTS = {[301] = true, [302] = true, [303] = true, [307] = true, [308] = true}
local MAX_REDIRECTS = 5

-- a transfer may take longer than an API call: one extra second per MiB
local function transfer_timeout(transport, size)
  return (transport.timeout or 60) + math.ceil((size or 0) / (1024 * 1024))
end

--- HEAD a blob: {digest, size} | fail (ENOTFOUND when absent).
function M.head(layer, repository, blob_digest)
  local what = names.display(layer.host, repository, blob_digest)
  local res, err, code = layer.transport:request({method = "HEAD", what = what,
    path = "/v2/" .. repository .. "/blobs/" .. blob_digest,
    scopes = {names.scope(repository, "pull")}})
  if not res then return nil, err, code end
  if REDIRECTS[res.status] then  -- a HEAD answered by storage: it exists
    return {digest = blob_digest, size = tonumber(res.headers["content-length"])}
  end
  if res.status ~= 200 then return layer.transport:status_error(res, what, "blob") end
  return {digest = blob_digest, size = tonumber(res.headers["content-length"])}
end

--- GET a blob, into memory or into opts.output (a path); its digest is checked.
function M.get(layer, repository, blob_digest, opts)
  opts = opts or {}
  local what = names.display(layer.host, repository, blob_digest)
  local target = "/v2/" .. repository .. "/blobs/" .. blob_digest
  local res, err, code
  for _ = 0, MAX_REDIRECTS do
    res, err, code = layer.transport:request({method = "GET", url = target, what = what,
      scopes = {names.scope(repository, "pull")}, output = opts.output,
      timeout = opts.timeout or transfer_timeout(layer.transport, opts.size)})
    if not res then return nil, err, code end
    local location = res.headers.location
    if not (REDIRECTS[res.status] and location) then break end
    target = url.resolve(res.url, location)  -- storage elsewhere: transport drops our credentials
  end
  if res.status ~= 200 then
    if opts.output then os.remove(opts.output) end
    return layer.transport:status_error(res, what, "blob")
  end
  local algorithm = blob_digest:match("^(%w+):")
  if opts.output then
    local actual, size_or_err = digest.file(opts.output, algorithm)
    if not actual then return layer.transport:fail("EIO", what .. ": " .. tostring(size_or_err)) end
    if actual ~= blob_digest then
      os.remove(opts.output)
      return layer.transport:fail("EDIGEST",
        string.format("%s: the registry sent content with digest %s", what, actual))
    end
    return true
  end
  local actual = digest.string(res.body, algorithm)
  if actual ~= blob_digest then
    return layer.transport:fail("EDIGEST",
      string.format("%s: the registry sent content with digest %s", what, actual))
  end
  return res.body
end

-- The data to upload as a source of chunks: a string, or a file {path=}.
local function open_source(data)
  if type(data) == "string" then
    return {size = #data, digest = digest.string(data),
            read = function(offset, length) return data:sub(offset + 1, offset + length) end,
            all = function() return data end, close = function() end}
  end
  local d, size = digest.file(data.path)
  if not d then return nil, size end
  local f, err = io.open(data.path, "rb")
  if not f then return nil, err end
  return {size = size, digest = d,
          read = function(offset, length)
            f:seek("set", offset)
            return f:read(length) or ""
          end,
          all = function()
            f:seek("set", 0)
            return f:read("a")
          end,
          close = function() f:close() end}
end

local function next_location(res, previous)
  local location = res.headers.location
  if not location or location == "" then return previous end
  return url.resolve(res.url, location)
end

local function upload_chunks(layer, source, location, chunk_size, what, scopes)
  local offset = 0
  while offset < source.size do
    local chunk = source.read(offset, chunk_size)
    local res, err, code = layer:write({method = "PATCH", url = location, scopes = scopes,
      what = what, body = chunk, write = "upload a chunk of " .. what,
      headers = {["Content-Type"] = "application/octet-stream",
                 ["Content-Range"] = offset .. "-" .. (offset + #chunk - 1)},
      timeout = transfer_timeout(layer.transport, #chunk)})
    if not res then return nil, err, code end
    if res.status ~= 202 then return layer.transport:status_error(res, what, "upload chunk of") end
    location = next_location(res, location)
    offset = offset + #chunk
  end
  return location
end

-- POST an upload session, send the data (one PUT, or PATCHes then a PUT) and
-- check what the registry stored.
local function send(layer, repository, source, opts)
  local d = source.digest
  local what = names.display(layer.host, repository, d)
  local scopes = {names.scope(repository, "pull,push")}
  if M.head(layer, repository, d) then return d end
  local res, err, code = layer:write({method = "POST", scopes = scopes, what = what,
    path = "/v2/" .. repository .. "/blobs/uploads/",
    write = string.format("upload blob %s (%d bytes)", what, source.size)})
  if not res then return nil, err, code end
  if res.status ~= 202 then return layer.transport:status_error(res, what, "start upload of") end
  local location = next_location(res, nil)
  if not location then
    return layer.transport:fail("EPROTO",
      what .. ": the registry started an upload without a Location")
  end
  local body = ""
  if opts.chunk_size then
    location, err, code = upload_chunks(layer, source, location, opts.chunk_size, what, scopes)
    if not location then return nil, err, code end
  else
    body = source.all()
  end
  res, err, code = layer:write({method = "PUT", scopes = scopes, what = what,
    url = url.add_query(location, url.query({{"digest", d}})), body = body,
    write = "finish the upload of " .. what,
    headers = {["Content-Type"] = "application/octet-stream"},
    timeout = transfer_timeout(layer.transport, #body)})
  if not res then return nil, err, code end
  if res.status ~= 201 and res.status ~= 204 then
    return layer.transport:status_error(res, what, "finish upload of")
  end
  local stored = res.headers["docker-content-digest"]
  if stored and stored ~= d then
    return layer.transport:fail("EDIGEST", string.format("%s: the registry stored the blob as %s",
      what, stored))
  end
  return d
end

--- Upload data (a string or {path=}) to repository; returns its digest. A blob
--- the repository already has is not sent again. opts.chunk_size: PATCH in
--- chunks of that many bytes instead of one PUT.
function M.upload(layer, repository, data, opts)
  local source, source_err = open_source(data)
  if not source then
    return layer.transport:fail("EIO", string.format("%s: cannot read %s: %s", layer.host,
      tostring(data.path), tostring(source_err)))
  end
  local result, err, code = send(layer, repository, source, opts or {})
  source.close()
  return result, err, code
end

--- Mount blob_digest from from_repository into repository (same registry):
--- true when mounted, false when the registry started an upload instead (which
--- is cancelled again), or a fail.
function M.mount(layer, repository, blob_digest, from_repository)
  local what = names.display(layer.host, repository, blob_digest)
  local res, err, code = layer:write({method = "POST", what = what,
    scopes = {names.scope(repository, "pull,push"), names.scope(from_repository, "pull")},
    path = "/v2/" .. repository .. "/blobs/uploads/?" .. url.query({{"mount", blob_digest},
      {"from", from_repository}}),
    write = string.format("mount blob %s from %s/%s", what, layer.host, from_repository)})
  if not res then return nil, err, code end
  if res.status == 201 then return true end
  if res.status == 202 then
    local location = next_location(res, nil)
    if location then  -- do not leave a dangling upload session behind
      layer:write({method = "DELETE", url = location, what = what,
        scopes = {names.scope(repository, "pull,push")}, write = "cancel the upload of " .. what})
    end
    return false
  end
  return layer.transport:status_error(res, what, "mount")
end

return M
