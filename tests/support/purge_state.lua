-- tests/support/purge_state.lua: what the purge specs compare. A registry's state
-- read from its storage directory (not through the client under test), the
-- state a --dry-run JSON plan promises, and `regsh purge` as a child process
-- that a spec can SIGKILL.
local cjson = require "cjson"
local cmd = require "support.cmd"

local M = {}
local q = cmd.quote

--- The state of a distribution registry started by support.registry (reg.dir):
--- {tags = {["repo:tag"] = digest}, manifests = {["repo@digest"] = true}}.
--- A deleted manifest keeps its revision directory but loses its link file.
function M.snapshot(reg)
  local root = reg.dir .. "/data/docker/registry/v2/repositories"
  local out = cmd.sh("cd " .. q(root) .. " && find . -path '*/_manifests/tags/*/current/link'"
    .. " -o -path '*/_manifests/revisions/sha256/*/link' | sort")
  local state = {tags = {}, manifests = {}}
  for path in out:gmatch("[^\n]+") do
    local repo, tag = path:match("^%./(.+)/_manifests/tags/([^/]+)/current/link$")
    if repo then
      state.tags[repo .. ":" .. tag] = cmd.read_file(root .. "/" .. path:sub(3))
    else
      repo, tag = path:match("^%./(.+)/_manifests/revisions/sha256/(%x+)/link$")
      assert(repo, "unexpected storage path " .. path)
      state.manifests[repo .. "@sha256:" .. tag] = true
    end
  end
  return state
end

local function copy(state)
  local out = {tags = {}, manifests = {}}
  for k, v in pairs(state.tags) do out.tags[k] = v end
  for k, v in pairs(state.manifests) do out.manifests[k] = v end
  return out
end

--- The state `before` becomes once plan (decoded `regsh purge -o json`) is
--- carried out: its untagged tags gone, its deleted manifests and every tag on
--- them gone, nothing else touched.
function M.expected(before, plan)
  local out = copy(before)
  for _, r in ipairs(plan.repositories) do
    for _, a in ipairs(r.actions) do
      if a.op == "untag" then
        assert(out.tags[r.repository .. ":" .. a.tag], "plan untags a missing tag " .. a.tag)
        out.tags[r.repository .. ":" .. a.tag] = nil
      else
        assert(out.manifests[r.repository .. "@" .. a.digest], "plan deletes a missing " .. a.digest)
        out.manifests[r.repository .. "@" .. a.digest] = nil
        for key, digest in pairs(before.tags) do
          if digest == a.digest and key:sub(1, #r.repository + 1) == r.repository .. ":" then
            out.tags[key] = nil
          end
        end
      end
    end
  end
  return out
end

--- Everything in after that is not in before, and everything before had
--- that after lacks: {added = {keys}, removed = {keys}} (tags as "repo:tag",
--- manifests as "repo@digest"), sorted.
function M.diff(before, after)
  local d = {added = {}, removed = {}}
  for k, v in pairs(after.tags) do if before.tags[k] ~= v then d.added[#d.added + 1] = k end end
  for k, v in pairs(before.tags) do if after.tags[k] ~= v then d.removed[#d.removed + 1] = k end end
  for k in pairs(after.manifests) do
    if not before.manifests[k] then d.added[#d.added + 1] = k end
  end
  for k in pairs(before.manifests) do
    if not after.manifests[k] then d.removed[#d.removed + 1] = k end
  end
  table.sort(d.added)
  table.sort(d.removed)
  return d
end

--- Point tag `to` of repo at the manifest tag `from` points at (its bytes
--- copied with curl). seed-tags runs make different layers (tar mtimes), so
--- a second run cannot be relied on to share digests with the first.
function M.retag(url, repo, from, to)
  local mt = "application/vnd.oci.image.manifest.v1+json"
  local _, status, err = cmd.sh("curl -sSf -H " .. q("Accept: " .. mt) .. " "
    .. q(url .. "/v2/" .. repo .. "/manifests/" .. from) .. " | curl -sSf -o /dev/null -X PUT -H "
    .. q("Content-Type: " .. mt) .. " --data-binary @- "
    .. q(url .. "/v2/" .. repo .. "/manifests/" .. to))
  assert(status == 0, "retag " .. repo .. ":" .. from .. " -> " .. to .. ": " .. err)
end

--- refused(reg, fp, state, limit, policy, ...) -> the one error line of
--- `regsh purge --policy policy ...` run for real (no --dry-run) through the
--- fault proxy fp: it must fail (killed after `limit` seconds as a safety
--- net, which fails the spec), print exactly one error line, send no write
--- and leave the registry as it was.
function M.refused(reg, fp, state, limit, policy, ...)
  local check = require "luassert"  -- busted's, as the specs see it
  local before = M.snapshot(reg)
  fp:clear()
  local words = {"timeout", "-s", "KILL", tostring(limit), cmd.bin, "purge", "--registry", fp.host,
    "--state", state, "--policy", policy, ...}
  for i, w in ipairs(words) do words[i] = q(w) end
  local out, status, err = cmd.sh(table.concat(words, " "))
  check.is_not.equal(0, status, out)
  check.is_not.equal(137, status, "regsh purge did not stop the policy")
  local lines = {}
  for line in err:gmatch("[^\n]+") do
    -- a usage error's hint is no second error
    if not line:find("^Try 'regsh purge %-%-help'%.$") then lines[#lines + 1] = line end
  end
  check.equal(1, #lines, err)
  check.same(before, M.snapshot(reg))
  for _, e in ipairs(fp:log()) do
    check.is_true(e.method == "GET" or e.method == "HEAD", e.method .. " " .. e.path)
  end
  return lines[1]
end

--- The purge specs' repository: tags old00..old<n-1> on n manifests, and
--- keep0..keep<keeps-1> on the first ones too (so a tag filter sparing
--- "keep" holds those manifests).
function M.seed_old(url, repo, n, keeps)
  require("support.images").seed_tags(url, repo, n, n, "old")
  for i = 0, keeps - 1 do M.retag(url, repo, string.format("old%02d", i), "keep" .. i) end
end

--- Put a two-platform OCI index of the manifests `digests` (amd64, arm64) to
--- repo:tag with curl.
function M.index(url, repo, digests, tag)
  local mt = "application/vnd.oci.image.manifest.v1+json"
  local entries = {}
  for i, d in ipairs(digests) do
    local body = cmd.sh("curl -sSf -H " .. q("Accept: " .. mt) .. " "
      .. q(url .. "/v2/" .. repo .. "/manifests/" .. d))
    entries[i] = string.format('{"mediaType":"%s","digest":"%s","size":%d,'
      .. '"platform":{"architecture":"%s","os":"linux"}}', mt, d, #body,
      i == 1 and "amd64" or "arm64")
  end
  local index = cmd.temp_file('{"schemaVersion":2,"mediaType":'
    .. '"application/vnd.oci.image.index.v1+json","manifests":[' .. table.concat(entries, ",")
    .. ']}')
  local _, status, err = cmd.sh("curl -sSf -o /dev/null -X PUT -H 'Content-Type: "
    .. "application/vnd.oci.image.index.v1+json' --data-binary @" .. q(index) .. " "
    .. q(url .. "/v2/" .. repo .. "/manifests/" .. tag))
  os.remove(index)
  assert(status == 0, "index put " .. repo .. ":" .. tag .. ": " .. err)
end

--- Run `regsh purge ARGS -o json --dry-run`: the decoded plan, or raise.
function M.plan(args)
  local all = {"purge"}
  for _, a in ipairs(args) do all[#all + 1] = a end
  all[#all + 1] = "--dry-run"
  all[#all + 1] = "-o"
  all[#all + 1] = "json"
  local out, status, err = cmd.regsh(all)
  assert(status == 0, "dry run failed (" .. tostring(status) .. "): " .. err .. out)
  return cjson.decode(out)
end

--- Start `regsh purge ARGS` in the background: {pid, out, err} (file names).
function M.spawn(args)
  local words = {q(cmd.bin), "purge"}
  for _, a in ipairs(args) do words[#words + 1] = q(a) end
  local out, err = cmd.temp_name(), cmd.temp_name()
  local pid = tonumber((cmd.sh(table.concat(words, " ") .. " > " .. q(out) .. " 2> " .. q(err)
    .. " < /dev/null & echo $!")))
  assert(pid, "could not start regsh purge")
  return {pid = pid, out = out, err = err}
end

--- Whether pid is still running (a zombie is not).
function M.alive(pid)
  local _, status = cmd.sh("ps -o stat= -p " .. pid .. " | grep -qv '^Z'")
  return status == 0
end

--- Poll until cond() is true (checked every 50 ms, at most `limit` seconds,
--- a safety net, not a timing): true, or false when it never became true.
function M.wait_for(cond, limit)
  for _ = 1, math.floor((limit or 60) * 20) do
    if cond() then return true end
    cmd.sh("sleep 0.05")
  end
  return cond()
end

--- The purge journal's rows for registry (a store at state_dir/state.db).
function M.journal(state_dir, registry)
  local store = assert(require("regsh.store").open(state_dir .. "/state.db"))
  local rows = assert(store.db:rows("SELECT repository, op, target, digest FROM purge_journal "
    .. "WHERE registry = ? ORDER BY repository, op, target", registry))
  store:close()
  return rows
end

return M
