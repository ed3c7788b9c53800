-- regsh.task.docker_flags: read the flags a step's words carry, as the
-- docker/podman CLI would: which take a value (`-e K=V`, `--name=x`, `-p 80:80`)
-- and which stand alone (`-d`, `--rm`, `-it`). exec_container uses it to find a
-- cmd step's image and a build step's tags and context. Pure string work.
local M = {}

local function set(list)
  local s = {}
  for _, v in ipairs(list) do s[v] = true end
  return s
end

-- `docker run` / `podman run` flags without a value; every other flag takes one
M.RUN = {
  long = set{"detach", "interactive", "tty", "rm", "privileged", "init", "read-only",
    "publish-all", "no-healthcheck", "oom-kill-disable", "sig-proxy", "quiet",
    "disable-content-trust", "help", "replace", "rootfs", "no-hosts", "env-host",
    "http-proxy", "read-only-tmpfs", "tls-verify", "rmi"},
  short = set{"d", "i", "t", "P", "q"},
  stop_at_positional = true,   -- the image ends the flags; the rest is the command
}

-- `docker build` / `podman build` flags without a value
M.BUILD = {
  long = set{"no-cache", "pull", "rm", "force-rm", "quiet", "squash", "squash-all", "compress",
    "load", "push", "disable-content-trust", "layers", "stdin", "help", "no-hosts",
    "tls-verify", "disable-compression", "omit-history", "identity-label", "all-platforms"},
  short = set{"q"},
}

--- parse(words, grammar) -> {flags = {{name, value}...}, positional = {indexes}} | nil, err.
--- name is without dashes ("name", "t"); value is true for a flag without
--- one. With grammar.stop_at_positional, parsing ends at the first positional
--- word (its index is positional[1]). `--` ends the flags.
function M.parse(words, grammar)
  local flags, positional = {}, {}
  local i = 1
  local function value_of(name)
    i = i + 1
    local v = words[i]
    if v == nil then return nil, "flag " .. name .. " needs a value" end
    return v
  end
  while i <= #words do
    local w = words[i]
    if w == "--" then
      for j = i + 1, #words do positional[#positional + 1] = j end
      break
    elseif w:sub(1, 2) == "--" then
      local name, value = w:match("^%-%-([^=]+)=(.*)$")
      if not name then
        name = w:sub(3)
        if grammar.long[name] then value = true
        else
          local err
          value, err = value_of(w)
          if not value then return nil, err end
        end
      end
      flags[#flags + 1] = {name, value}
    elseif w:sub(1, 1) == "-" and #w > 1 then
      local j = 2
      while j <= #w do   -- a cluster: -it, -dp80:80, -eK=V
        local c = w:sub(j, j)
        if grammar.short[c] then
          flags[#flags + 1] = {c, true}
          j = j + 1
        else
          local value = w:sub(j + 1):gsub("^=", "")
          if value == "" then
            local err
            value, err = value_of("-" .. c)
            if not value then return nil, err end
          end
          flags[#flags + 1] = {c, value}
          break
        end
      end
    else
      positional[#positional + 1] = i
      if grammar.stop_at_positional then break end
    end
    i = i + 1
  end
  return {flags = flags, positional = positional}
end

--- values(parsed, ...) -> the values of the named flags, in order.
function M.values(parsed, ...)
  local names, out = set{...}, {}
  for _, f in ipairs(parsed.flags) do
    if names[f[1]] and f[2] ~= true then out[#out + 1] = f[2] end
  end
  return out
end

--- image_key(name) -> the name as local storage knows it, for comparing two
--- spellings: ":latest" when untagged, docker.io/library/ and localhost/ dropped.
function M.image_key(name)
  if not name:find("@", 1, true) and not name:match(":[^/]*$") then name = name .. ":latest" end
  return (name:gsub("^docker%.io/library/", ""):gsub("^docker%.io/", ""):gsub("^localhost/", ""))
end

--- registry_host(image) -> the registry host an image reference names
--- ("127.0.0.1:5000/a:b" -> "127.0.0.1:5000", "busybox" -> "docker.io").
function M.registry_host(image)
  local first = image:match("^([^/]+)/")
  if first and (first:find("[.:]") or first == "localhost") then return first end
  return "docker.io"
end

return M
