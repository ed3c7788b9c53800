-- regsh.task.shellwords: split a command line into words the way a POSIX
-- shell would before running it (quotes, backslashes, white space), and
-- quote words back for display. No expansion of any kind: the container
-- executor runs argv, where ACR hands the line to sh -c (docs/reference/task.md).
local M = {}

local BLANK = {[" "] = true, ["\t"] = true, ["\n"] = true, ["\r"] = true}
-- inside double quotes a backslash escapes only these (POSIX 2.2.3)
local DQUOTE_ESCAPES = {["$"] = true, ["`"] = true, ['"'] = true, ["\\"] = true}

--- split(line) -> {words} | nil, "message": the words of line. Single quotes
--- keep everything to the next single quote; double quotes keep everything
--- but \$ \` \" \\ and backslash-newline; an unquoted backslash keeps the next
--- character (backslash-newline joins lines). `$VAR`, `*`, `;`, `|`, `>` are
--- ordinary characters. An unterminated quote is an error naming its column.
function M.split(line)
  if type(line) ~= "string" then
    error("bad argument #1 to 'split' (string expected, got " .. type(line) .. ")", 2)
  end
  local words, word, in_word = {}, {}, false
  local i, n = 1, #line
  local function finish()
    if in_word then words[#words + 1] = table.concat(word) end
    word, in_word = {}, false
  end
  while i <= n do
    local c = line:sub(i, i)
    if BLANK[c] then
      finish()
      i = i + 1
    elseif c == "'" then
      local close = line:find("'", i + 1, true)
      if not close then return nil, "unterminated single quote at column " .. i end
      word[#word + 1] = line:sub(i + 1, close - 1)
      in_word, i = true, close + 1
    elseif c == '"' then
      local start = i
      i = i + 1
      in_word = true
      while true do
        if i > n then return nil, "unterminated double quote at column " .. start end
        local d = line:sub(i, i)
        if d == '"' then
          i = i + 1
          break
        elseif d == "\\" and i < n then
          local e = line:sub(i + 1, i + 1)
          if DQUOTE_ESCAPES[e] then word[#word + 1] = e
          elseif e ~= "\n" then word[#word + 1] = "\\" .. e end
          i = i + 2
        else
          word[#word + 1] = d
          i = i + 1
        end
      end
    elseif c == "\\" then
      if i == n then return nil, "a backslash ends the line at column " .. i end
      local e = line:sub(i + 1, i + 1)
      if e ~= "\n" then
        word[#word + 1] = e
        in_word = true
      end
      i = i + 2
    else
      local stop = line:find("[%s'\"\\]", i) or n + 1
      word[#word + 1] = line:sub(i, stop - 1)
      in_word, i = true, stop
    end
  end
  finish()
  return words
end

--- quote(word) -> the word as a shell would need it written: unchanged when
--- it holds only safe characters, else in single quotes.
function M.quote(word)
  word = tostring(word)
  if word ~= "" and not word:find("[^%w@%%+=:,./_-]") then return word end
  return "'" .. word:gsub("'", "'\\''") .. "'"
end

--- join(words) -> one line that split() turns back into the same words.
function M.join(words)
  local out = {}
  for i, w in ipairs(words) do out[i] = M.quote(w) end
  return table.concat(out, " ")
end

return M
