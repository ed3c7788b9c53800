-- regsh.errors: the one closed list of error codes. An expected failure
-- returns nil, "CODE: detail", "CODE" with a CODE from this list, so a script
-- can branch on it. docs/reference/errors.md describes the same codes and
-- tests/spec/errors_spec.lua fails on a code literal in src/ or lua/ missing here.
local M = {}

-- code -> {meaning, retryable}. retryable: the failure can go away by itself
-- within seconds (the peer was briefly away or slow); the registry client
-- retries exactly these (regsh.registry.retry). Everything else is final:
-- a DNS failure, a bad certificate, running out of descriptors or a response
-- too large for its limit does not fix itself by asking again.
M.codes = {
  -- regsh's own codes
  EARCHIVE = {"an archive is damaged, unsupported, or has an unsafe entry"},
  EAUTH = {"credentials are missing or were rejected (HTTP 401)"},
  ECRON = {"a cron expression or time zone cannot be read, or the expression never fires"},
  EDENIED = {"the credentials are valid but not allowed to do this (HTTP 403)"},
  ECONTAINER = {"the container engine (podman/docker) is missing, or failed outside a step"
    .. " (network create, image missing before start)"},
  ECONTEXT = {"a context cannot be read or materialised: missing dir, bad tar, unsafe path in an archive,"
    .. " git fetch failed, unreachable URL, unknown form"},
  EDIGEST = {"content does not match its digest, or a digest is malformed"},
  EDRYRUN = {"a write was not done because the client is in dry-run mode"},
  EDATE = {"a timestamp or date (RFC 3339, HTTP date) cannot be read or is out of range"},
  EDURATION = {"a duration (\"10d\", \"1h30m\") cannot be read"},
  EHOST = {"the host name does not resolve (DNS)"},
  EHTTP = {"an HTTP exchange failed in a way no other code names (unexpected status, garbled answer)"},
  EJSON = {"text is not valid JSON"},
  ENOTFOUND = {"no such repository, manifest, blob or image (HTTP 404); no such stored task or timer"},
  ENOTSUP = {"the registry or the content does not support the operation"},
  EPROTO = {"an answer breaks the protocol (HTML instead of JSON, a token response without a token)"},
  EREF = {"an image reference or registry host is malformed"},
  EREGEX = {"a regular expression does not compile, or its match limit was hit"},
  ESTORE = {"the state store cannot be used: not an SQLite database, damaged, or written by a newer regsh"},
  ETASK = {"a task definition is invalid: YAML shape, unknown `when` id, self reference,"
    .. " two kinds in a step, bad values file, bad `--set`"},
  ETEMPLATE = {"a template does not parse or fails to render (message names file:line and the problem)"},
  ETLS = {"the TLS handshake failed or the certificate was not trusted"},
  ETOOBIG = {"a body or header is larger than its limit (max_body, HTTP 413, response headers)"},
  ETOOMANYREDIRECTS = {"a request was redirected more times than allowed"},
  EURL = {"a URL is malformed or has an unsupported scheme"},
  EYAML = {"text is not valid YAML"},

  -- the C library's errno names, spelled as libuv's uv_err_name spells them
  E2BIG = {"an argument list is too long"},
  EACCES = {"permission denied"},
  EADDRINUSE = {"something already listens on the address"},
  EADDRNOTAVAIL = {"the address is not one of this host's"},
  EAGAIN = {"a resource is temporarily unavailable"},
  EBADF = {"a file descriptor is not open"},
  EBUSY = {"a device or resource is busy"},
  ECANCELED = {"the operation or task was cancelled"},
  ECONNREFUSED = {"nothing accepted the connection", true},
  ECONNRESET = {"the connection broke before the answer was complete", true},
  EDQUOT = {"a disk quota is exhausted"},
  EEXIST = {"the file already exists; a stored task or timer of that name, or a timer occurrence's run, exists"},
  EFBIG = {"a file is too large"},
  EINTR = {"a system call was interrupted by a signal"},
  EINVAL = {"an invalid argument or value"},
  EIO = {"an input/output error"},
  EISDIR = {"the path is a directory"},
  ELOOP = {"too many symbolic links in a path"},
  EMFILE = {"the process has no file descriptors left"},
  ENAMETOOLONG = {"a file name is too long"},
  ENFILE = {"the system has no file descriptors left"},
  ENOENT = {"no such file or directory"},
  ENOMEM = {"out of memory"},
  ENOSPC = {"no space left on the device"},
  ENOTDIR = {"a part of the path is not a directory"},
  ENOTEMPTY = {"a directory is not empty"},
  ENOTTY = {"the file is not a terminal"},
  EPERM = {"the operation is not permitted"},
  EPIPE = {"the other end of a pipe or socket is closed"},
  EROFS = {"the file system is read-only"},
  ESRCH = {"no such process (it has already finished)"},
  ETIMEDOUT = {"the operation took longer than its timeout", true},
  EXDEV = {"a rename across file systems"},
}

--- meaning(code) -> one line saying what the code means; raises on an unknown code.
function M.meaning(code)
  local e = M.codes[code]
  if not e then
    error(string.format("bad argument #1 to 'meaning' (unknown error code '%s')", tostring(code)), 2)
  end
  return e[1]
end

--- retryable(code) -> whether the failure is transient, so worth another try.
--- false for anything not in the list: a code nobody knows is not retried.
function M.retryable(code)
  local e = M.codes[code]
  return e ~= nil and e[2] == true
end

--- is_code(value) -> whether value is a code of the list.
function M.is_code(value)
  return M.codes[value] ~= nil
end

--- detail(message) -> message without its leading "CODE: ", to wrap it in a
--- message of one's own without doubling the code.
function M.detail(message)
  return (tostring(message):gsub("^E[%u%d]+: ", "", 1))
end

return M
