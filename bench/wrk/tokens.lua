-- wrk script: every request carries the next user's token (round robin
-- over a file of "user_id token" lines, as `surge token` prints them), each
-- thread starting at its own offset.
--
-- Usage: wrk -s bench/wrk/tokens.lua URL -- TOKENS_FILE METHOD PATH [BODY [FIRST N]]
--   PATH and BODY may contain {uid}: replaced by the token's user id;
--   BODY may contain {pid}: replaced by FIRST + (uid mod N) (spreads orders
--   over N products instead of one hot row).

local tokens = {}
local method, path, body, first_pid, n_pid
local i = 0
local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("offset", counter * 7919)
end

init = function(args)
  for line in io.lines(args[1]) do
    local uid, token = line:match("^(%d+)%s+(%S+)$")
    if uid then
      tokens[#tokens + 1] = { uid, token }
    end
  end
  method = args[2] or "GET"
  path = args[3] or "/api/v1/orders"
  body = args[4]
  first_pid = tonumber(args[5] or "0")
  n_pid = tonumber(args[6] or "1")
  i = (offset or 0) % #tokens
end

request = function()
  i = i % #tokens + 1
  local t = tokens[i]
  local headers = { ["Authorization"] = "Bearer " .. t[2] }
  if body then
    headers["Content-Type"] = "application/json"
  end
  local b = body
  if b then
    local pid = first_pid + tonumber(t[1]) % n_pid
    b = b:gsub("{uid}", t[1]):gsub("{pid}", tostring(pid))
  end
  local p = path:gsub("{uid}", t[1])
  return wrk.format(method, p, headers, b)
end
