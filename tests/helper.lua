-- tests/helper.lua: loaded by busted before the specs (see tests/CMakeLists.txt).
-- Shared fixtures live in tests/support/*.lua and are required by the specs.
package.path = "tests/?.lua;" .. package.path
