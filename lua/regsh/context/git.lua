-- regsh.context.git: a git source fetched the way ACR's acb does it (init,
-- remote add, shallow fetch of the ref with a full fetch as fallback,
-- checkout, submodules), with the `git` program run from an argv. A token
-- never reaches argv, the remote URL in .git/config, or a message.
local proc = require "regsh.proc"
local base64 = require "regsh.registry.base64"

local M = {}

--- is_git(source) -> whether source is a git URL: ACR's CLI takes an http(s)
--- URL ending in `.git` (before `#`) or an Azure DevOps `/_git/` one; git:// and
--- file:// URLs of a `.git` path are taken too.
function M.is_git(source)
  local url = source:match("^([^#]*)")
  if not url:match("^%a[%w+.-]*://") then return false end
  local scheme = url:match("^(%a[%w+.-]*)://"):lower()
  if scheme == "git" then return true end
  if scheme ~= "http" and scheme ~= "https" and scheme ~= "file" then return false end
  return url:match("%.git/?$") ~= nil or url:find("/_git/", 1, true) ~= nil
end

--- parse(source, token) -> {url, ref, subdir, token, shown}: the URL without
--- its fragment and without user info; ref and subdir from `#ref:subdir`.
--- A user without a password in the URL is a token (ACR rewrites it to
--- dummy:TOKEN); opts.token wins. `shown` is the source with the token masked.
function M.parse(source, token)
  local url, fragment = source:match("^([^#]*)#?(.*)$")
  local scheme, userinfo, rest = url:match("^(%a[%w+.-]*://)([^/@]*)@(.*)$")
  local user, secret = "dummy", nil
  if scheme then
    local name, pass = userinfo:match("^([^:]*):(.*)$")
    if name then user, secret = name, pass
    else secret = userinfo end  -- a user without a password is a token (ACR)
    url = scheme .. rest
  end
  local ref, subdir = fragment, ""
  local colon = fragment:find(":", 1, true)
  if colon then ref, subdir = fragment:sub(1, colon - 1), fragment:sub(colon + 1) end
  if token then user = "dummy" end  -- opts.token is ACR's --git-access-token
  return {url = url, ref = ref, subdir = subdir, token = token or secret, user = user,
          password = secret, shown = M.redact(source, {token, secret})}
end

--- redact(text, secrets) -> text with each secret (as itself, percent-encoded
--- and as the base64 of dummy:SECRET) replaced by ***.
function M.redact(text, secrets)
  for _, s in pairs(secrets) do
    if type(s) == "string" and s ~= "" then
      local forms = {s, (s:gsub("[^%w%-._~]", function(c) return ("%%%02X"):format(c:byte()) end)),
                     base64.encode("dummy:" .. s)}
      for _, f in ipairs(forms) do
        text = text:gsub(f:gsub("%p", "%%%0"), "***")
      end
    end
  end
  return text
end

-- The environment of every git run: never a prompt, no system or user
-- configuration, and the credential as an HTTP header (from the environment,
-- so it is neither in argv, which `ps` shows, nor in .git/config, which
-- would land in the workspace).
local function environment(src)
  local env = {
    GIT_TERMINAL_PROMPT = "0", GIT_ASKPASS = "true", SSH_ASKPASS = "true",
    GIT_CONFIG_NOSYSTEM = "1", GIT_CONFIG_GLOBAL = "/dev/null",
    HOME = os.getenv("HOME") or "/", PATH = os.getenv("PATH") or "/usr/bin:/bin",
    GIT_CONFIG_COUNT = "1", GIT_CONFIG_KEY_0 = "protocol.file.allow", GIT_CONFIG_VALUE_0 = "always",
  }
  if src.token then
    local pair = src.user .. ":" .. src.token
    env.GIT_CONFIG_COUNT = "2"
    env.GIT_CONFIG_KEY_1 = "http.extraHeader"
    env.GIT_CONFIG_VALUE_1 = "Authorization: Basic " .. base64.encode(pair)
  end
  return env
end

local function git(dir, src, args, timeout)
  local argv = {"git", "-C", dir}
  for _, a in ipairs(args) do argv[#argv + 1] = a end
  local r, err, code = proc.run{argv = argv, env = environment(src), timeout = timeout}
  if not r then return nil, err, code end
  return r
end

-- The last lines git wrote to stderr, for a message (masked).
local function why(r, src)
  local text = (r.stderr or ""):gsub("%s+$", "")
  if r.timed_out then text = "timed out" end
  text = text:match("([^\n]*\n?[^\n]*)$") or text
  return M.redact(text:gsub("\n", "; "), {src.token, src.password})
end

local function fail(src, what)
  return nil, ("ECONTEXT: %s: %s"):format(src.shown, what), "ECONTEXT"
end

local function run(dir, src, args, timeout)
  local r, err = git(dir, src, args, timeout)
  if not r then return fail(src, M.redact(err, {src.token, src.password})) end
  return r
end

-- The branch the remote's HEAD names, or nil.
local function default_branch(dir, src, timeout)
  local r = run(dir, src, {"ls-remote", "--symref", "origin", "HEAD"}, timeout)
  return r and r.ok and r.stdout:match("^ref: refs/heads/(%S+)%s+HEAD") or nil
end

-- Fetch and check out src.ref (the remote's HEAD when empty) into dir.
local function checkout(dir, src, timeout)
  local ref = src.ref
  local r, err, code = run(dir, src, {"fetch", "-q", "--depth", "1", "origin", ref ~= "" and ref or "HEAD"},
                           timeout)
  if not r then return nil, err, code end
  if r.ok then
    if ref == "" then
      local branch = default_branch(dir, src, timeout)
      if branch then r = run(dir, src, {"checkout", "-q", "-B", branch, "FETCH_HEAD"}, timeout)
      else r = run(dir, src, {"checkout", "-q", "FETCH_HEAD"}, timeout) end
      if not r then return nil, err, code end
      if not r.ok then return fail(src, "checkout failed: " .. why(r, src)) end
      return true
    end
    -- a branch checks out by name (so .Run.Branch is set); a tag not made
    -- locally, a commit or pull/N/head as what was fetched
    r = run(dir, src, {"checkout", "-q", ref}, timeout)
    if r and not r.ok then r = run(dir, src, {"checkout", "-q", "FETCH_HEAD"}, timeout) end
    if not r then return nil, err, code end
    if not r.ok then return fail(src, ("checkout of '%s' failed: %s"):format(ref, why(r, src))) end
    return true
  end
  -- a dumb server, or a commit the server will not hand out alone
  local shallow = why(r, src)
  r = run(dir, src, {"fetch", "-q", "--tags", "origin"}, timeout)
  if not r then return nil, err, code end
  if not r.ok then return fail(src, "git fetch failed: " .. shallow) end
  r = run(dir, src, {"checkout", "-q", ref ~= "" and ref or "FETCH_HEAD"}, timeout)
  if not r then return nil, err, code end
  if not r.ok then return fail(src, ("ref '%s' not found: %s"):format(ref, shallow)) end
  return true
end

-- The subdirectory of the checkout: relative, no '..', every part a real
-- directory (no symbolic link that could lead out of the repository).
local function subdirectory(dir, src, fs)
  local path = dir
  if src.subdir:sub(1, 1) == "/" then return fail(src, "subdirectory '" .. src.subdir .. "' is absolute") end
  for part in src.subdir:gmatch("[^/]+") do
    if part == ".." then return fail(src, "subdirectory '" .. src.subdir .. "' has '..'") end
    if part ~= "." then
      path = path .. "/" .. part
      local st = fs.lstat(path)
      if not st or st.type ~= "directory" then
        return fail(src, ("subdirectory '%s' is not a directory in the repository"):format(src.subdir))
      end
    end
  end
  return path
end

local function rev_parse(dir, src, args)
  local r = git(dir, src, args)
  return r and r.ok and r.stdout:gsub("%s+$", "") or ""
end

--- fetch(src, dir, opts) -> {root, commit, branch} | nil, err, "ECONTEXT":
--- the repository checked out into the existing empty dir.
function M.fetch(src, dir, opts)
  local fs = require "regsh.fs"
  local timeout = opts.timeout
  local r, err, code = run(dir, src, {"init", "-q"}, timeout)
  if r and not r.ok then return fail(src, "git init failed: " .. why(r, src)) end
  if not r then return nil, err, code end
  r, err, code = run(dir, src, {"remote", "add", "origin", src.url}, timeout)
  if r and not r.ok then return fail(src, "git remote add failed: " .. why(r, src)) end
  if not r then return nil, err, code end
  local ok
  ok, err, code = checkout(dir, src, timeout)
  if not ok then return nil, err, code end
  if fs.lstat(dir .. "/.gitmodules") then
    r, err, code = run(dir, src, {"submodule", "update", "--init", "--recursive", "--depth=1"}, timeout)
    if not r then return nil, err, code end
    if not r.ok then return fail(src, "submodule update failed: " .. why(r, src)) end
  end
  local root
  root, err, code = subdirectory(dir, src, fs)
  if not root then return nil, err, code end
  return {root = root, commit = rev_parse(dir, src, {"rev-parse", "HEAD"}),
          branch = rev_parse(dir, src, {"rev-parse", "--abbrev-ref", "HEAD"})}
end

return M
