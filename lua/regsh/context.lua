-- regsh.context: where a task's files come from (ACR's source locations):
-- /dev/null, a local directory, a tar file, a tarball URL, a git URL or an
-- OCI artifact. open() reads or fetches the source (into a private temp dir
-- for all but a directory); materialize() fills a run's workspace with it.
-- Reference: docs/reference/context.md.
local archive = require "regsh.core.archive"
local dockerignore = require "regsh.context.dockerignore"
local errors = require "regsh.errors"
local fs = require "regsh.fs"
local git = require "regsh.context.git"
local remote = require "regsh.context.remote"

local M = {}

-- What ACR's CLI never uploads from a directory, whatever .dockerignore says.
local ALWAYS_DROPPED = {
  [".git"] = true, [".gitignore"] = true, [".bzr"] = true, [".bzrignore"] = true,
  [".hg"] = true, [".hgignore"] = true, [".svn"] = true,
}
M.always_dropped = ALWAYS_DROPPED

local Context = {}
Context.__index = Context
Context.__name = "regsh.context"

local function fail(shown, what)
  return nil, ("ECONTEXT: %s: %s"):format(shown, what), "ECONTEXT"
end

function Context:__tostring()
  return ("regsh.context (%s %s)"):format(self.kind, self.source)
end

--- ctx:close(): removes the temporary directories; idempotent.
function Context:close()
  if self.temp then
    fs.remove_tree(self.temp)
    self.temp = nil
  end
  self.closed = true
end
Context.__close = Context.close
Context.__gc = Context.close

local function check_open(self, fname)
  if getmetatable(self) ~= Context then
    error(("bad self to '%s' (regsh.context expected)"):format(fname), 3)
  end
  if self.closed then error("attempt to use a closed context", 3) end
end

-- Every entry under root (directories too), sorted, as relative paths;
-- keep(rel, type) decides, and a dropped directory is walked only when
-- descend(rel) says something inside may still be kept.
local function walk(root, keep, descend)
  local out, kept = {}, {}
  local function visit(rel)
    local names, err, code = fs.readdir(rel == "" and root or (root .. "/" .. rel))
    if not names then return nil, err, code end
    for _, name in ipairs(names) do
      local path = rel == "" and name or (rel .. "/" .. name)
      local st
      st, err, code = fs.lstat(root .. "/" .. path)
      if not st then return nil, err, code end
      local wanted = keep(path, st.type)
      if wanted then
        out[#out + 1] = path
        kept[path] = true
      end
      if st.type == "directory" and (wanted or descend(path)) then
        local ok
        ok, err, code = visit(path)
        if not ok then return nil, err, code end
      end
    end
    return true
  end
  local ok, err, code = visit("")
  if not ok then return nil, err, code end
  -- a kept file inside a dropped directory brings its directories along
  for i = 1, #out do
    local parent = out[i]:match("^(.*)/[^/]*$")
    while parent and not kept[parent] do
      kept[parent] = true
      out[#out + 1] = parent
      parent = parent:match("^(.*)/[^/]*$")
    end
  end
  table.sort(out)
  return out
end

-- The entries of the context (cached): everything under root, less what a
-- directory context ignores.
local function entries(self)
  if self.list then return self.list end
  if not self.root then
    self.list, self.types = {}, {}
    return self.list
  end
  local types = {}
  local ignore = self.ignore
  local function keep(path, kind)
    local top = not path:find("/", 1, true)
    if self.kind == "dir" and top and ALWAYS_DROPPED[path] then return false end
    if ignore and ignore:excluded(path) then return false end
    types[path] = kind
    return true
  end
  local function descend(path)
    if self.kind == "dir" and not path:find("/", 1, true) and ALWAYS_DROPPED[path] then return false end
    return ignore ~= nil and ignore:has_exceptions()
  end
  local list, err = walk(self.root, keep, descend)
  if not list then return fail(self.shown, err) end
  for _, p in ipairs(list) do types[p] = types[p] or "directory" end
  self.list, self.types = list, types
  return list
end

--- ctx:files() -> sorted relative paths of everything but directories.
function Context:files()
  check_open(self, "files")
  local list, err, code = entries(self)
  if not list then return nil, err, code end
  local out = {}
  for _, p in ipairs(list) do
    if self.types[p] ~= "directory" then out[#out + 1] = p end
  end
  return out
end

-- A path a caller names: relative and without '..'; cleaned.
local function inside(path)
  if type(path) ~= "string" or path == "" or path:sub(1, 1) == "/" then return nil end
  local parts = {}
  for part in path:gmatch("[^/]+") do
    if part == ".." then return nil end
    if part ~= "." then parts[#parts + 1] = part end
  end
  if #parts == 0 then return nil end
  return table.concat(parts, "/")
end

--- ctx:read(path) -> bytes | fail: one regular file of the context.
function Context:read(path)
  check_open(self, "read")
  if type(path) ~= "string" then
    error(("bad argument #1 to 'read' (string expected, got %s)"):format(type(path)), 2)
  end
  local rel = inside(path)
  if not rel then return fail(self.shown, ("'%s' is not a path inside the context"):format(path)) end
  local list, err, code = entries(self)
  if not list then return nil, err, code end
  local kind = self.types[rel]
  if kind == nil then
    return nil, ("ENOENT: %s: %s: not in the context"):format(self.shown, rel), "ENOENT"
  end
  if kind ~= "file" then
    return fail(self.shown, ("'%s' is a %s, not a regular file"):format(rel, kind))
  end
  return fs.read_file(self.root .. "/" .. rel)
end

-- The entries packed into a tar at path.
local function pack_to(self, path, gzip)
  local list, err, code = entries(self)
  if not list then return nil, err, code end
  local ok
  ok, err = archive.pack(self.root or "/", list, path, {gzip = gzip})
  if not ok then return fail(self.shown, err) end
  return true
end

--- ctx:materialize(dir) -> true | fail: fill the existing, empty dir.
function Context:materialize(dir)
  check_open(self, "materialize")
  if type(dir) ~= "string" then
    error(("bad argument #1 to 'materialize' (string expected, got %s)"):format(type(dir)), 2)
  end
  local names, err, code = fs.readdir(dir)
  if not names then return nil, err, code end
  if #names > 0 then return fail(self.shown, ("workspace '%s' is not empty"):format(dir)) end
  if not self.root then return true end
  local work
  work, err, code = fs.temp_dir("regsh-context")
  if not work then return nil, err, code end
  local ok
  ok, err, code = pack_to(self, work .. "/copy.tar", false)
  if ok then
    ok, err = archive.extract(work .. "/copy.tar", dir)
    if not ok then err, code = ("ECONTEXT: %s: %s"):format(self.shown, err), "ECONTEXT" end
  end
  fs.remove_tree(work)
  if not ok then return nil, err, code end
  return true
end

--- ctx:pack([path]) -> tar.gz bytes | true | fail: the context as a
--- deterministic tar.gz, returned, or written to path.
function Context:pack(path)
  check_open(self, "pack")
  if path ~= nil then
    if type(path) ~= "string" then
      error(("bad argument #1 to 'pack' (string expected, got %s)"):format(type(path)), 2)
    end
    return pack_to(self, path, true)
  end
  local work, err, code = fs.temp_dir("regsh-context")
  if not work then return nil, err, code end
  local ok
  ok, err, code = pack_to(self, work .. "/context.tar.gz", true)
  local bytes
  if ok then bytes, err, code = fs.read_file(work .. "/context.tar.gz") end
  fs.remove_tree(work)
  if not bytes then return nil, err, code end
  return bytes
end

local function new(kind, source, fields)
  local ctx = setmetatable(fields or {}, Context)
  ctx.kind, ctx.source = kind, source
  ctx.shown = ctx.shown or source
  ctx.commit, ctx.branch, ctx.subdir = ctx.commit or "", ctx.branch or "", ctx.subdir or ""
  return ctx
end

-- The .dockerignore of a directory: <Dockerfile>.dockerignore when the
-- Dockerfile named by opts has one, else .dockerignore; nil when neither.
local function load_ignore(dir, dockerfile)
  local candidates = {}
  if dockerfile then
    local path = dockerfile:sub(1, 1) == "/" and dockerfile or (dir .. "/" .. dockerfile)
    candidates[1] = path .. ".dockerignore"
  end
  candidates[#candidates + 1] = dir .. "/.dockerignore"
  for _, path in ipairs(candidates) do
    local text, err, code = fs.read_file(path)
    if text then return dockerignore.parse(text, path) end
    if code ~= "ENOENT" then return nil, err, code end
  end
  return false
end

local function open_dir(source, opts)
  local ignore, err = load_ignore(source, opts.dockerfile)
  if ignore == nil then return fail(source, err) end
  return new("dir", source, {root = source, ignore = ignore or nil})
end

-- A source fetched into a new temp dir: fill(root, work) makes the content.
local function open_fetched(kind, source, shown, fill)
  local temp, err, code = fs.temp_dir("regsh-context")
  if not temp then return nil, err, code end
  local ctx = new(kind, source, {temp = temp, shown = shown})
  local root, work = temp .. "/root", temp .. "/work"
  assert(fs.mkdir(root) and fs.mkdir(work))
  local fields
  fields, err, code = fill(root, work)
  if not fields then
    ctx:close()
    return nil, err, code
  end
  ctx.root = type(fields) == "table" and fields.root or root
  if type(fields) == "table" then
    ctx.commit, ctx.branch = fields.commit or "", fields.branch or ""
  end
  return ctx
end

local function is_tar_name(path)
  local lower = path:lower()
  return lower:match("%.tar$") or lower:match("%.tar%.gz$") or lower:match("%.tgz$")
    or lower:match("%.tar%.bz2$") or lower:match("%.tar%.xz$") or lower:match("%.tar%.zst$")
end

local OPTIONS = {token = "string", dockerfile = "string", insecure = "boolean",
                 registry = "table", timeout = "number"}

--- open(source [, opts]) -> ctx | nil, "ECONTEXT: ...", "ECONTEXT"
function M.open(source, opts)
  if type(source) ~= "string" then
    error(("bad argument #1 to 'open' (string expected, got %s)"):format(type(source)), 2)
  end
  opts = opts or {}
  if type(opts) ~= "table" then
    error(("bad argument #2 to 'open' (table expected, got %s)"):format(type(opts)), 2)
  end
  for k, v in pairs(opts) do
    if not OPTIONS[k] then error(("bad argument #2 to 'open' (unknown option '%s')"):format(tostring(k)), 2) end
    if type(v) ~= OPTIONS[k] then
      error(("bad argument #2 to 'open' (option '%s' must be a %s)"):format(k, OPTIONS[k]), 2)
    end
  end
  if source:lower() == "/dev/null" then return new("none", source) end
  if git.is_git(source) then
    local src = git.parse(source, opts.token)
    local ctx, err, code = open_fetched("git", source, src.shown, function(root)
      return git.fetch(src, root, opts)
    end)
    if not ctx then return nil, err, code end
    ctx.source, ctx.subdir = src.shown, src.subdir
    return ctx
  end
  local scheme = source:match("^(%a[%w+.-]*)://")
  if scheme then
    scheme = scheme:lower()
    if scheme == "http" or scheme == "https" then
      return open_fetched("url", source, source, function(root, work)
        return remote.url(source, root, work, opts)
      end)
    elseif scheme == "oci" then
      return open_fetched("oci", source, source, function(root, work)
        return remote.oci(source, root, work, opts)
      end)
    end
    return fail(source, "unknown kind of source (a directory, a tar file, an http(s) tarball,"
      .. " a git URL, oci://, or /dev/null)")
  end
  local st, _, code = fs.stat(source)
  if not st then return fail(source, errors.meaning(code)) end
  if st.type == "directory" then return open_dir(source, opts) end
  if st.type == "file" and is_tar_name(source) then
    return open_fetched("tar", source, source, function(root)
      local ok, why = archive.extract(source, root)
      if not ok then return fail(source, why) end
      return true
    end)
  end
  return fail(source, "not a directory or a tar file (.tar, .tar.gz, .tgz)")
end

return M
