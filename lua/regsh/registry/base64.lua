-- regsh.registry.base64: RFC 4648 base64 for Basic auth and docker's
-- config.json "auth" fields; decode also takes the URL-safe alphabet and
-- missing padding, as JWT segments use them.
local M = {}

local alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
local encode_table, decode_table = {}, {}
for i = 1, 64 do
  local c = alphabet:sub(i, i)
  encode_table[i - 1] = c
  decode_table[c:byte()] = i - 1
end
decode_table[("-"):byte()] = 62
decode_table[("_"):byte()] = 63

function M.encode(data)
  local out = {}
  for i = 1, #data, 3 do
    local a, b, c = data:byte(i, i + 2)
    local n = (a << 16) | ((b or 0) << 8) | (c or 0)
    out[#out + 1] = encode_table[(n >> 18) & 63] .. encode_table[(n >> 12) & 63]
      .. (b and encode_table[(n >> 6) & 63] or "=") .. (c and encode_table[n & 63] or "=")
  end
  return table.concat(out)
end

--- Decode; returns nil, "EINVAL: ..." on characters outside the alphabets.
function M.decode(text)
  text = text:gsub("[%s=]", "")
  if #text % 4 == 1 then return nil, "EINVAL: base64 text has a stray character", "EINVAL" end
  local out = {}
  for i = 1, #text, 4 do
    local n, count = 0, 0
    for j = i, math.min(i + 3, #text) do
      local v = decode_table[text:byte(j)]
      if not v then return nil, "EINVAL: base64 text has an invalid character", "EINVAL" end
      n = (n << 6) | v
      count = count + 1
    end
    n = n << (6 * (4 - count))
    local bytes = string.char((n >> 16) & 255, (n >> 8) & 255, n & 255)
    out[#out + 1] = bytes:sub(1, count - 1)
  end
  return table.concat(out)
end

return M
