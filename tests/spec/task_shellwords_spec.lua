-- regsh.task.shellwords: a step's cmd split into argv as sh would split it,
-- without expanding anything (the container executor runs argv, not sh -c).
local shellwords = require "regsh.task.shellwords"

describe("regsh.task.shellwords", function()
  local split = shellwords.split

  it("splits on blanks, folded multi-line cmds included", function()
    assert.same({"busybox", "echo", "hi"}, split("busybox echo hi"))
    assert.same({"a", "b", "c"}, split("  a\tb \n  c\n"))
    assert.same({}, split(""))
    assert.same({}, split(" \n\t"))
  end)

  it("keeps single-quoted text as it is", function()
    assert.same({"bash", "-c", "echo $(date) >> hello.txt"},
      split("bash -c 'echo $(date) >> hello.txt'"))
    assert.same({"a\\b \"c\""}, split([['a\b "c"']]))
    assert.same({""}, split("''"))
  end)

  it("unescapes only $ ` \" \\ and newline inside double quotes", function()
    assert.same({"a $x `y` \"z\" \\ \\n"}, split([["a \$x \`y\` \"z\" \\ \n"]]))
    assert.same({"joined"}, split('"join\\\ned"'))
    assert.same({""}, split('""'))
  end)

  it("joins adjacent quoted and unquoted parts into one word", function()
    assert.same({"MY_SECRET=a b", "x"}, split([[MY_SECRET='a b' x]]))
    assert.same({"abcdef"}, split([[a'b'"c"d\ef]]))
  end)

  it("takes an unquoted backslash as an escape, backslash-newline as nothing", function()
    assert.same({"a b", "c"}, split([[a\ b c]]))
    assert.same({"ab"}, split("a\\\nb"))
    assert.same({"'"}, split([[\']]))
  end)

  it("expands nothing: $VAR, globs and operators are plain characters", function()
    assert.same({"echo", "$HOME", "*", ";", "|", ">x"}, split("echo $HOME * ; | >x"))
  end)

  it("refuses an unterminated quote or a trailing backslash, naming the column", function()
    local w, err = split("echo 'oops")
    assert.is_nil(w)
    assert.equal("unterminated single quote at column 6", err)
    w, err = split('a "b')
    assert.is_nil(w)
    assert.equal("unterminated double quote at column 3", err)
    w, err = split("a \\")
    assert.is_nil(w)
    assert.equal("a backslash ends the line at column 3", err)
    assert.has_error(function() split(nil) end, "bad argument #1 to 'split' (string expected, got nil)")
  end)

  it("quotes words so that split gives them back", function()
    assert.equal("busybox", shellwords.quote("busybox"))
    assert.equal("'a b'", shellwords.quote("a b"))
    assert.equal("''", shellwords.quote(""))
    assert.equal([['it'\''s']], shellwords.quote("it's"))
    local words = {"sh", "-c", "echo \"$x\" 'y'; exit 3", "", "a\\b", "--env=K=V"}
    assert.same(words, split(shellwords.join(words)))
  end)
end)
