-- tests/mutants.lua: the mutants scripts/mutate applies, one at a time.
-- Each is a bug someone could write in one line: `from` (which must occur
-- exactly once in `file`) becomes `to`, and the `specs` (optionally narrowed
-- by a busted `filter`) must fail. `why` names the rule the mutant breaks.
-- Tag `fast` marks the subset CI runs on every change.
return {
  {
    name = "digest-verify-always-true",
    why = "verify() accepts content whatever its digest",
    file = "lua/regsh/digest.lua",
    from = "if actual ~= expected then",
    to = "if false then",
    specs = {"tests/spec/digest_spec.lua"},
    tags = {fast = true},
  },
  {
    name = "digest-valid-any-length",
    why = "valid() accepts a digest of the wrong length",
    file = "lua/regsh/digest.lua",
    from = "lengths[algorithm] == #hex",
    to = "lengths[algorithm] ~= nil",
    specs = {"tests/spec/digest_spec.lua"},
    tags = {fast = true},
  },
  {
    name = "digest-c-hex-low-nibble",
    why = "the hex encoding of a digest drops the low nibble",
    file = "src/digest.c",
    from = "hex[2 * i + 1] = hexdigits[md[i] & 15];",
    to = "hex[2 * i + 1] = hexdigits[md[i] >> 4];",
    specs = {"tests/spec/digest_spec.lua"},
  },
  {
    name = "retry-after-429-only",
    why = "a Retry-After header is obeyed on every retryable status (503 too), not only on 429:"
      .. " the delay before the retry of a 503 carrying Retry-After: N is N seconds",
    file = "lua/regsh/registry/transport.lua",
    from = 'self.policy:delay(attempt, res.headers["retry-after"])',
    to = 'self.policy:delay(attempt, res.status == 429 and res.headers["retry-after"] or nil)',
    specs = {"tests/spec/registry_faults_spec.lua"},
    filter = "Retry%-After on a 503",
    tags = {fast = true},
  },
  {
    name = "retry-no-etimedout",
    why = "a transport timeout (ETIMEDOUT) is retried like a reset: 1 + retries attempts"
      .. " reach the server before ETIMEDOUT is returned",
    file = "lua/regsh/errors.lua",
    from = 'ETIMEDOUT = {"the operation took longer than its timeout", true},',
    to = 'ETIMEDOUT = {"the operation took longer than its timeout"},',
    specs = {"tests/spec/registry_faults_spec.lua"},
    filter = "ETIMEDOUT",
    tags = {fast = true},
  },
  {
    name = "auth-token-any-repository",
    why = "a cached token serves a request only if it was granted for the same resource"
      .. " (repository:NAME) with every action needed; the token of one repository is never"
      .. " sent for another (the registry would answer 401 and a new token be fetched)",
    file = "lua/regsh/registry/auth.lua",
    from = "if hres == resource then",
    to = "if true then",
    specs = {"tests/spec/registry_auth_spec.lua"},
    filter = "never another's",
    tags = {fast = true},
  },
  {
    name = "auth-one-token-slot",
    why = "tokens are cached per scope set (the key is the sorted scopes), not in one slot"
      .. " for all: reads alternating between two repositories cost two tokens and no 401",
    file = "lua/regsh/registry/auth.lua",
    from = 'return table.concat(copy, " ")',
    to = 'return ""',
    specs = {"tests/spec/registry_auth_spec.lua"},
    filter = "keeps a token per scope",
    tags = {fast = true},
  },
  {
    name = "dryrun-blob-post-ungated",
    why = "in dry-run mode no write request reaches the registry: the POST that opens a blob"
      .. " upload session is itself a write (refused with EDRYRUN), not only the PUT that ends it",
    file = "lua/regsh/registry/blob.lua",
    from = 'write = string.format("upload blob %s (%d bytes)", what, source.size)})',
    to = "})",
    specs = {"tests/spec/registry_dryrun_spec.lua"},
    tags = {fast = true},
  },
  {
    name = "dryrun-write-ungated",
    why = "in dry-run mode every write (here a cross-repository mount, POST ...?mount=&from=)"
      .. " is refused with EDRYRUN before any request is sent: the gate logs, then stops",
    file = "lua/regsh/registry/layer.lua",
    from = "  if not ok then return nil, err, code end\n  return self.transport:request(spec)",
    to = "  return self.transport:request(spec)",
    specs = {"tests/spec/registry_dryrun_spec.lua"},
    tags = {fast = true},
  },
  {
    name = "blob-memory-unverified",
    why = "a blob read into memory is hashed and refused with EDIGEST unless it hashes to the"
      .. " digest asked for",
    file = "lua/regsh/registry/blob.lua",
    from = "local actual = digest.string(res.body, algorithm)",
    to = "local actual = blob_digest",
    specs = {"tests/spec/registry_integrity_spec.lua"},
    filter = "corrupted blob read into memory",
    tags = {fast = true},
  },
  {
    name = "blob-file-unverified",
    why = "a blob written to opts.output is hashed from the file and, unless it hashes to the"
      .. " digest asked for, refused with EDIGEST and the file removed",
    file = "lua/regsh/registry/blob.lua",
    from = "local actual, size_or_err = digest.file(opts.output, algorithm)",
    to = "local actual, size_or_err = blob_digest, 0",
    specs = {"tests/spec/registry_integrity_spec.lua"},
    filter = "corrupted blob written to a file",
    tags = {fast = true},
  },
  {
    name = "manifest-by-digest-unchecked",
    why = "a manifest asked for by digest must hash to that digest (EDIGEST otherwise), even"
      .. " when the registry sends no Docker-Content-Digest",
    file = "lua/regsh/registry/manifest.lua",
    from = "if by_digest and actual ~= by_digest then",
    to = "if false then",
    specs = {"tests/spec/registry_integrity_spec.lua"},
    filter = "asked for by digest",
    tags = {fast = true},
  },
  {
    name = "manifest-header-unchecked",
    why = "a manifest (asked for by tag) must hash to the Docker-Content-Digest the registry"
      .. " sent with it (EDIGEST otherwise)",
    file = "lua/regsh/registry/manifest.lua",
    from = 'header:match("^" .. algorithm .. ":") and header ~= actual then',
    to = 'header:match("^" .. algorithm .. ":") and false then',
    specs = {"tests/spec/registry_integrity_spec.lua"},
    filter = "asked for by tag",
    tags = {fast = true},
  },
  {
    name = "manifest-no-size-cap",
    why = "a manifest body over 4 MiB (distribution's own limit) is refused with ETOOBIG while"
      .. " it downloads (max_body of the GET), and one of exactly 4 MiB is read",
    file = "lua/regsh/registry/manifest.lua",
    from = "M.MAX_SIZE = 4 * 1024 * 1024",
    to = "M.MAX_SIZE = nil",
    specs = {"tests/spec/registry_integrity_spec.lua"},
    filter = "4 MiB",
    tags = {fast = true},
  },
  {
    name = "errors-unscrubbed",
    why = "every error message the registry client returns goes through redact.text with the"
      .. " host's secrets (password, identity token, bearer tokens), so a registry echoing a"
      .. " credential (in an error body) shows <redacted>",
    file = "lua/regsh/registry/transport.lua",
    from = 'return nil, redact.printable(redact.text(code .. ": " .. text,\n    self.auth and self.auth:secrets())), code',
    to = 'return nil, redact.printable(code .. ": " .. text), code',
    specs = {"tests/spec/registry_secrets_spec.lua"},
    tags = {fast = true},
  },
  {
    name = "log-unscrubbed",
    why = "every log line of the registry client goes through redact.text with the host's"
      .. " secrets, so a URL or challenge echoing a credential is logged as <redacted>",
    file = "lua/regsh/registry/transport.lua",
    from = "self.log_fn(level, redact.text(message, self.auth and self.auth:secrets()))",
    to = "self.log_fn(level, message)",
    specs = {"tests/spec/registry_secrets_spec.lua"},
    tags = {fast = true},
  },
  {
    name = "acr-locked-always-nil",
    why = "ACR tag and manifest entries carry locked = true when changeableAttributes has"
      .. " deleteEnabled or writeEnabled false, and locked = false otherwise (never nil when"
      .. " the registry sent attributes)",
    file = "lua/regsh/registry/acr.lua",
    from = 'if type(attributes) ~= "table" then return nil end',
    to = "do return nil end",
    specs = {"tests/spec/registry_acr_spec.lua"},
    filter = "locks and unlocks",
    tags = {fast = true},
  },
  {
    name = "limiter-unbounded",
    why = "a client never has more requests in flight than its `concurrency` option (default"
      .. " 8), however many tasks call it at once",
    file = "lua/regsh/registry/layer.lua",
    from = "limiter = async.semaphore(self.concurrency)",
    to = "limiter = async.semaphore(1000)",
    specs = {"tests/spec/registry_pagination_spec.lua"},
    filter = "in flight",
    tags = {fast = true},
  },
  {
    name = "limiter-serial",
    why = "a client with concurrency N > 1 runs requests in parallel (more than one in flight)",
    file = "lua/regsh/registry/layer.lua",
    from = "limiter = async.semaphore(self.concurrency)",
    to = "limiter = async.semaphore(1)",
    specs = {"tests/spec/registry_pagination_spec.lua"},
    filter = "in flight",
  },
  {
    name = "error-body-cut-before-scrub",
    why = "a plain-text error body is scrubbed before it is cut to 120 bytes, so a secret"
      .. " at the edge is never shown in part",
    file = "lua/regsh/registry/transport.lua",
    from = "local text = redact.text(body, self.auth and self.auth:secrets())",
    to = "local text = body",
    specs = {"tests/spec/registry_secrets_spec.lua"},
    filter = "longer than the 120 bytes",
    tags = {fast = true},
  },
  {
    name = "token-failure-unscrubbed",
    why = "a token-service failure is scrubbed whole: the realm (server text) can echo the password",
    file = "lua/regsh/registry/auth.lua",
    from = "return nil, redact.printable(redact.text(code .. \": \" .. string.format(fmt, ...),\n    self:secrets())), code",
    to = "return nil, redact.printable(code .. \": \" .. string.format(fmt, ...)), code",
    specs = {"tests/spec/registry_secrets_spec.lua"},
    filter = "Bearer realm",
    tags = {fast = true},
  },
  {
    name = "realm-any-scheme",
    why = "a Bearer realm gets credentials only over https:// (http:// only for a loopback"
      .. " or insecure registry); any other realm fails EAUTH before anything is sent",
    file = "lua/regsh/registry/auth.lua",
    from = 'if scheme == "https" or (scheme == "http" and self.plain_allowed) then return true end',
    to = 'if scheme ~= "" then return true end',
    specs = {"tests/spec/registry_security_spec.lua"},
    filter = "realm",
    tags = {fast = true},
  },
  {
    name = "loopback-leading-zeros",
    why = "loopback is decided by parsing the address as inet_pton does: 127.08.0.1 (leading"
      .. " zero) is a host name, not loopback, and gets no plain HTTP",
    file = "lua/regsh/registry/ref.lua",
    from = 'if #o > 3 or (#o > 1 and o:sub(1, 1) == "0") or tonumber(o) > 255 then return nil end',
    to = 'if #o > 3 or tonumber(o) > 255 then return nil end',
    specs = {"tests/spec/registry_security_spec.lua"},
    filter = "loopback",
    tags = {fast = true},
  },
  {
    name = "link-any-origin",
    why = "a Link header is followed only on the registry's own scheme, host and port; a"
      .. " page elsewhere is EPROTO, fetched nothing",
    file = "lua/regsh/registry/listing.lua",
    from = "if url.origin(next_url) ~= url.origin(transport.base_url) then",
    to = "if false then",
    specs = {"tests/spec/registry_security_spec.lua"},
    filter = "origin",
    tags = {fast = true},
  },
  {
    name = "names-ungrammatical-kept",
    why = "tag and repository names that break the OCI grammar are skipped (counted), never"
      .. " handed to callers",
    file = "lua/regsh/registry/names.lua",
    from = 'if type(name) == "string" and spec.valid(name) then',
    to = 'if type(name) == "string" then',
    specs = {"tests/spec/registry_security_spec.lua"},
    filter = "untrusted",
    tags = {fast = true},
  },
  {
    name = "messages-unescaped",
    why = "control characters and invalid UTF-8 in a server's text are escaped before any"
      .. " message carries them to a terminal",
    file = "lua/regsh/registry/transport.lua",
    from = 'return nil, redact.printable(redact.text(code .. ": " .. text,',
    to = 'return nil, (redact.text(code .. ": " .. text,',
    specs = {"tests/spec/registry_security_spec.lua"},
    filter = "escapes",
    tags = {fast = true},
  },
  {
    name = "env-credentials-to-both-sides",
    why = "between two registries REGSH_USERNAME/REGSH_PASSWORD reach the destination only"
      .. " (or the host REGSH_REGISTRY names), never the source",
    file = "lua/regsh/registry/init.lua",
    from = "if two_hosts and src_opts.env_credentials == nil then src_opts.env_credentials = false end",
    to = "",
    specs = {"tests/spec/registry_security_spec.lua"},
    filter = "REGSH_USERNAME",
    tags = {fast = true},
  },
  {
    name = "ping-per-task",
    why = "tasks starting together on a new client share one /v2/ ping: a rate-limited"
      .. " registry sees one, not one per task",
    file = "lua/regsh/registry/transport.lua",
    from = 'return flight.run(self.flights, "base", function() return self:settle_base() end)',
    to = "return self:settle_base()",
    specs = {"tests/spec/registry_auth_spec.lua"},
    filter = "50 tasks",
    tags = {fast = true},
  },
  {
    name = "token-request-per-task",
    why = "one token request per scope is in flight: tasks that need the same scope wait"
      .. " for its answer instead of each asking the token service",
    file = "lua/regsh/registry/auth.lua",
    from = "token, err, code = flight.run(self.flights, scope_key(scopes), function()",
    to = "token, err, code = flight.run(self.flights, {}, function()",
    specs = {"tests/spec/registry_auth_spec.lua"},
    filter = "50 tasks",
    tags = {fast = true},
  },
}
