-- regsh.fs: files, temporary directories, atomic writes and terminals, over
-- regsh.core.fs (src/fs.c). Expected failures are fail tuples named after
-- errno ("ENOENT: path: No such file or directory", "ENOENT").
local core = require "regsh.core.fs"

local M = {}

M.stat = core.stat
M.lstat = core.lstat
M.read_file = core.read_file
M.write_atomic = core.write_atomic
M.readdir = core.readdir
M.remove = core.remove
M.isatty = core.isatty

local function check_string(v, fname, argn)
  if type(v) ~= "string" then
    error(string.format("bad argument #%d to '%s' (string expected, got %s)", argn, fname,
      type(v)), 3)
  end
end

--- mkdir(path [, mode]) -> true | fail: creates path and any missing parents
--- (like mkdir -p, each new one with mode, default 0777 less the umask). An
--- existing directory is success; an existing file is EEXIST.
function M.mkdir(path, mode)
  check_string(path, "mkdir", 1)
  local st = core.stat(path)
  if st then
    if st.type == "directory" then return true end
    return nil, "EEXIST: " .. path .. ": exists and is not a directory", "EEXIST"
  end
  local parent = path:match("^(.*[^/])/+[^/]+/*$")
  if parent then
    local ok, err, code = M.mkdir(parent, mode)
    if not ok then return nil, err, code end
  end
  local ok, err, code = core.mkdir(path, mode)
  if not ok and code == "EEXIST" and (core.stat(path) or {}).type == "directory" then
    return true  -- made meanwhile by someone else
  end
  return ok, err, code
end

--- temp_dir([prefix]) -> path | fail: a new directory only this user can
--- enter (0700) under $TMPDIR or /tmp. The caller removes it (remove_tree).
function M.temp_dir(prefix)
  prefix = prefix or "regsh"
  check_string(prefix, "temp_dir", 1)
  if prefix:find("/", 1, true) then
    error("bad argument #1 to 'temp_dir' (a prefix has no '/')", 2)
  end
  local base = os.getenv("TMPDIR")
  if not base or base == "" then base = "/tmp" end
  return core.mkdtemp(base:gsub("/+$", "") .. "/" .. prefix .. ".XXXXXX")
end

--- remove_tree(path) -> true | fail: path and everything under it, like
--- rm -rf. Symbolic links are removed, never followed. A missing path is success.
function M.remove_tree(path)
  check_string(path, "remove_tree", 1)
  local st, err, code = core.lstat(path)
  if not st then
    if code == "ENOENT" then return true end
    return nil, err, code
  end
  if st.type == "directory" then
    local names
    names, err, code = core.readdir(path)
    if not names then return nil, err, code end
    for _, name in ipairs(names) do
      local ok
      ok, err, code = M.remove_tree(path .. "/" .. name)
      if not ok then return nil, err, code end
    end
  end
  local ok
  ok, err, code = core.remove(path)
  if not ok and code ~= "ENOENT" then return nil, err, code end
  return true
end

local EchoGuard = {}
EchoGuard.__name = "regsh.fs.echo_guard"
EchoGuard.__index = EchoGuard

--- Turn the echo back to what it was; idempotent.
function EchoGuard:restore()
  if self.file then
    core.echo(self.file, self.was)
    self.file = nil
  end
end
EchoGuard.__close = EchoGuard.restore
EchoGuard.__gc = EchoGuard.restore

--- echo_off(file) -> guard | fail (ENOTTY when file is no terminal): turns
--- off the terminal's echo until guard:restore(). Hold the guard in a
--- <close> variable and echo comes back on every exit, an error or Ctrl-C
--- (which read_line lets through at once) included.
function M.echo_off(file)
  local was, err, code = core.echo(file, false)
  if was == nil then return nil, err, code end
  return setmetatable({file = file, was = was}, EchoGuard)
end

--- Whether the terminal echoes what is typed (fail when file is no terminal).
function M.echo(file)
  return core.echo(file)
end

--- read_line(file) -> line (without "\n") | nil at end of input | fail:
--- reads from a terminal (or any file descriptor) so that an interrupt
--- (Ctrl-C) raises at once instead of waiting for Enter.
function M.read_line(file)
  while true do
    local line, err, code = core.read_line(file)
    -- another signal (a child exiting) interrupted the wait; SIGINT raises
    -- from the interpreter's hook before this loop goes round again
    if code ~= "EINTR" then return line, err, code end
  end
end

return M
