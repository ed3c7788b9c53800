-- luacheck configuration for lua/, policies/ and scripts/examples/ (run as a CTest test)
std = "lua54"
unused_args = false   -- method signatures keep arguments their callers pass
max_line_length = 120

-- scripts and policies run inside regsh, which gives them the `regsh` global
files["policies"] = {read_globals = {"regsh"}}
files["scripts/examples"] = {read_globals = {"regsh"}}
