-- GET /api/v1/users/{id} over a range of ids, for wrk.
--
-- Usage: wrk -s bench/wrk/users.lua URL -- FIRST LAST
--
-- Each request asks for a uniformly random id in FIRST..LAST. The same
-- paths work against surge and against nginx serving one file per id
-- (bench/users.sh writes them), so both see the same request bytes.

local first, last

init = function(args)
  first = tonumber(args[1]) or 1
  last = tonumber(args[2]) or first
  math.randomseed(os.time() + (tonumber(tostring({}):match("0x(%x+)"), 16) or 0))
end

request = function()
  return wrk.format("GET", "/api/v1/users/" .. math.random(first, last))
end
