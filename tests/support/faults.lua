-- tests/support/faults.lua: what the fault specs of tests/faults/ share: a
-- registry killed and restarted on its port and storage, the checks a purge
-- must pass whatever was interrupted (nothing unselected changed, nothing
-- selected-not-deleted untracked), a small tmpfs to fill, and waiting for a
-- condition with a generous bound (a safety net under load, never a timing).
local cmd = require "support.cmd"
local purge = require "support.purge_state"
local registry = require "support.registry"

local M = {}
local q = cmd.quote

--- wait_for(what, cond [, limit seconds = 120]) -> cond()'s value; raises
--- naming `what` when it never became true.
function M.wait_for(what, cond, limit)
  local v
  for _ = 1, math.floor((limit or 120) * 10) do
    v = cond()
    if v then return v end
    cmd.sh("sleep 0.1")
  end
  v = cond()
  if not v then error("gave up waiting for " .. what, 2) end
  return v
end

--- kill(pid): SIGKILL, and wait until it is gone.
function M.kill(pid)
  cmd.sh("kill -KILL " .. pid)
  M.wait_for("pid " .. pid .. " to die", function() return not purge.alive(pid) end)
end

--- kill_registry(reg): SIGKILL it, and wait until it is gone.
function M.kill_registry(reg) M.kill(reg.pid) end

--- deletes(proxy) -> how many DELETEs the fault proxy forwarded with 202.
function M.deletes(fp)
  local n = 0
  for _, e in ipairs(fp:log("/manifests/")) do
    if e.method == "DELETE" and e.status == 202 then n = n + 1 end
  end
  return n
end

--- restart_registry(reg): start it again on its port and storage (reg.pid updated).
function M.restart_registry(reg)
  local out, status = cmd.sh("scripts/start-registry --watch " .. registry.pid() .. " --dir "
    .. q(reg.dir) .. " --port " .. reg.port)
  assert(status == 0, "start-registry failed: " .. out)
  reg.pid = assert(tonumber(out:match("pid=(%d+)")), out)
end

-- key of a planned action in a snapshot: "repo:tag" or "repo@digest"
local function key(repo, a)
  return a.op == "untag" and (repo .. ":" .. a.tag) or (repo .. "@" .. a.digest)
end

--- unselected(before, plan, now) -> list of keys that changed although the
--- plan did not select them (empty when the purge kept to its plan). A tag
--- the plan untags may point at regsh's throwaway manifest for a while (an
--- untag interrupted between its PUT and DELETE): that manifest is allowed.
function M.unselected(before, plan, now)
  local allowed = {}
  for _, k in ipairs(purge.diff(before, purge.expected(before, plan)).removed) do
    allowed[k] = true
  end
  local bad, throwaways = {}, {}
  local d = purge.diff(before, now)
  for _, k in ipairs(d.removed) do
    if not allowed[k] then bad[#bad + 1] = k end
  end
  for _, k in ipairs(d.added) do
    if not k:find("@", 1, true) then   -- a tag that moved: only to a throwaway of a planned untag
      if not allowed[k] then bad[#bad + 1] = k end
      throwaways[k:match("^(.-):") .. "@" .. now.tags[k]] = true
    end
  end
  for _, k in ipairs(d.added) do
    if k:find("@", 1, true) and not throwaways[k] then bad[#bad + 1] = k end
  end
  return bad
end

--- untracked(before, plan, now, journal) -> list of planned actions that
--- are not done in `now` and have no journal row although their repository
--- was touched: what a next run could lose track of (empty when the journal
--- covers every repository the run had started on).
function M.untracked(before, plan, now, journal)
  local rows = {}
  for _, r in ipairs(journal) do rows[r.repository .. "\0" .. r.op .. "\0" .. r.target] = true end
  local touched = {}
  for _, k in ipairs(purge.diff(before, now).removed) do touched[k:match("^(.-)[:@]")] = true end
  for _, k in ipairs(purge.diff(before, now).added) do touched[k:match("^(.-)[:@]")] = true end
  local out = {}
  for _, r in ipairs(plan.repositories) do
    if touched[r.repository] then
      for _, a in ipairs(r.actions) do
        local k = key(r.repository, a)
        local done = a.op == "untag" and now.tags[k] == nil or a.op ~= "untag" and not now.manifests[k]
        local target = a.op == "untag" and a.tag or a.digest
        if not done and not rows[r.repository .. "\0" .. a.op .. "\0" .. target] then
          out[#out + 1] = k
        end
      end
    end
  end
  return out
end

--- tmpfs(size) -> a new directory with a tmpfs of that size mounted on it
--- (regsh's tests run as root); release it with unmount().
function M.tmpfs(size)
  local dir = cmd.temp_name()
  local out, status, err = cmd.sh("mkdir -p " .. q(dir) .. " && mount -t tmpfs -o size=" .. size
    .. ",mode=0700 tmpfs " .. q(dir))
  assert(status == 0, "cannot mount a tmpfs (the fault specs run as root): " .. out .. err)
  return dir
end

--- fill(dir) -> the path of the file that takes every free byte of dir's file system.
function M.fill(dir)
  local path = dir .. "/fill"
  cmd.sh("dd if=/dev/zero of=" .. q(path) .. " bs=4k 2>/dev/null")
  local out = cmd.sh("df --output=avail " .. q(dir) .. " | tail -1")
  assert(tonumber(out) == 0, "the tmpfs still has room: " .. out)
  return path
end

function M.unmount(dir)
  cmd.sh("umount " .. q(dir) .. " && rmdir " .. q(dir))
end

return M
