-- HTTP/1.1 pipelining for wrk (the classic TechEmpower pipeline.lua).
--
-- Usage: wrk -s bench/wrk/pipeline.lua URL -- DEPTH
--
-- init() builds one string holding DEPTH copies of the request wrk would
-- send (wrk.format() = method, path, headers of the command line), and
-- request() returns that string, so every write puts DEPTH requests on the
-- wire at once. wrk parses the string to learn the depth and waits for all
-- DEPTH responses before writing again, so each connection keeps DEPTH
-- requests in flight. "Requests/sec" counts responses; the latency that wrk
-- records is per batch (the time until the last of the DEPTH responses).

local req

init = function(args)
  local depth = tonumber(args[1]) or 1
  local r = {}
  for i = 1, depth do
    r[i] = wrk.format()
  end
  req = table.concat(r)
end

request = function()
  return req
end
