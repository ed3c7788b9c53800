-- regsh.registry.challenge: parse WWW-Authenticate headers (RFC 7235) into
-- {scheme = "bearer"|"basic"|..., params = {realm=, service=, scope=, ...}}.
-- Quoted values may hold commas (scope="repository:a:pull,push"), and one
-- header may carry several challenges.
local M = {}

local TOKEN = "^[%w!#$%%&'*+%-.^_`|~]+"

local function skip_space(s, pos)
  return (s:find("[^%s]", pos)) or (#s + 1)
end

-- A quoted-string starting at pos (the opening quote); returns value, next pos.
local function quoted(s, pos)
  local out, i = {}, pos + 1
  while i <= #s do
    local c = s:sub(i, i)
    if c == "\\" then
      out[#out + 1] = s:sub(i + 1, i + 1)
      i = i + 2
    elseif c == '"' then
      return table.concat(out), i + 1
    else
      out[#out + 1] = c
      i = i + 1
    end
  end
  return table.concat(out), i  -- unterminated: take what there is
end

--- Parse one header value into an array of challenges, in order.
function M.parse(header)
  local challenges = {}
  if type(header) ~= "string" then return challenges end
  local pos, current = 1, nil
  while pos <= #header do
    pos = skip_space(header, pos)
    if header:sub(pos, pos) == "," then
      pos = pos + 1
    else
      local token = header:match(TOKEN, pos)
      if not token then break end  -- garbage: keep what parsed so far
      local after = skip_space(header, pos + #token)
      local is_param = current ~= nil and header:sub(after, after) == "="
        and header:sub(after + 1, after + 1) ~= "="
      if is_param then
        local value
        pos = skip_space(header, after + 1)
        if header:sub(pos, pos) == '"' then
          value, pos = quoted(header, pos)
        else
          value = header:match("^[^,%s]*", pos)
          pos = pos + #value
        end
        current.params[token:lower()] = value
      else
        current = {scheme = token:lower(), params = {}}
        challenges[#challenges + 1] = current
        pos = pos + #token
        -- a token68 credential ("Negotiate abc==") belongs to the scheme: keep it aside
        local start = skip_space(header, pos)
        local token68, token68_end = header:match("^([%w%-._~+/]+=*)%s*()", start)
        local at_end = token68_end and (token68_end > #header
          or header:sub(token68_end, token68_end) == ",")
        if token68 and start > pos and at_end then
          current.token68 = token68
          pos = token68_end
        end
      end
    end
  end
  return challenges
end

--- Parse every WWW-Authenticate value of a response (a list of header strings)
--- and return the challenges, the first of each scheme wins in find().
function M.parse_all(values)
  local all = {}
  for _, value in ipairs(values or {}) do
    for _, c in ipairs(M.parse(value)) do all[#all + 1] = c end
  end
  return all
end

--- The first challenge of the given scheme (lower-case), or nil.
function M.find(challenges, scheme)
  for _, c in ipairs(challenges) do
    if c.scheme == scheme then return c end
  end
end

return M
