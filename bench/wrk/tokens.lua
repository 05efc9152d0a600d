-- wrk script: every request carries the next user's token (round robin
-- over a file of "user_id token" lines, as `surge token` prints them), each
-- thread starting at its own offset.
--
-- Usage: wrk -s bench/wrk/tokens.lua URL -- TOKENS_FILE METHOD PATH [BODY]
--   PATH may contain {uid}: replaced by the token's user id.

local tokens = {}
local method, path, body
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
  i = (offset or 0) % #tokens
end

request = function()
  i = i % #tokens + 1
  local t = tokens[i]
  local headers = { ["Authorization"] = "Bearer " .. t[2] }
  if body then
    headers["Content-Type"] = "application/json"
  end
  return wrk.format(method, path:gsub("{uid}", t[1]), headers, body)
end
