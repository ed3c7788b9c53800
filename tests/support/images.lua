-- tests/support/images.lua: test content on a registry, independent of the
-- client under test: podman-pushed images (tests/support/images.sh) and many
-- tags seeded with curl (tests/support/seed-tags).
local registry = require "support.registry"

local M = {}
local q = registry.shell_quote

local function sh(line)
  local p = assert(io.popen(line .. " 2>&1", "r"))
  local out = p:read("a")
  local ok = p:close()
  return out, ok
end

--- Fail (never skip) with a clear message when podman cannot run here.
function M.require_podman()
  local out, ok = sh("command -v podman")
  assert(ok, "podman is not installed: the registry image specs need podman, runc and "
    .. "busybox-static (scripts/bootstrap installs them); refusing to skip")
  out, ok = sh("tests/support/images.sh base")
  assert(ok, "podman cannot build the test base image: " .. out)
end

--- Push the podman test images to a plain-HTTP registry under PREFIX/.
--- Returns {docker = digest, oci = digest, multi = digest, multi_docker = digest}.
function M.push(host, prefix)
  local out, ok = sh("tests/support/images.sh push " .. q(host) .. " " .. q(prefix))
  assert(ok, "images.sh push failed: " .. out)
  local digests = {}
  for k, v in out:gmatch("([%w_]+)=(sha256:%x+)") do digests[k] = v end
  for _, k in ipairs({"docker", "oci", "multi", "multi_docker"}) do
    assert(digests[k], "images.sh push printed no " .. k .. " digest: " .. out)
  end
  return digests
end

--- Seed COUNT tags (prefix..zero-padded index) on MANIFESTS manifests with curl.
--- Returns the list of manifest digests (tag i -> manifests[i % n + 1]).
function M.seed_tags(url, repo, count, manifests, prefix)
  local out, ok = sh("tests/support/seed-tags " .. q(url) .. " " .. q(repo) .. " " .. count
    .. " " .. (manifests or 4) .. " " .. q(prefix or "t"))
  assert(ok, "seed-tags failed: " .. out)
  local digests = {}
  for d in out:gmatch("manifest=(sha256:%x+)") do digests[#digests + 1] = d end
  return digests
end

--- The name seed-tags gives tag i (0-based) of COUNT.
function M.tag_name(i, count, prefix)
  return string.format("%s%0" .. #tostring(count) .. "d", prefix or "t", i)
end

return M
