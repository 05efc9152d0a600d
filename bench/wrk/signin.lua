-- POST /api/v1/signin as many different users, for wrk.
--
-- Usage: wrk -t1 -s bench/wrk/signin.lua URL -- TOKENS_FILE
--
-- TOKENS_FILE holds `surge token` output: one "user_id token" line per user.
-- Requests take the tokens in order, so each user signs in once until the
-- file is used up, after which the walk starts over and every request is a
-- repeat (answered from the fast path). Use one wrk thread: each thread
-- walks the file on its own.

local tokens = {}
local next_index = 1
local wrapped = 0

init = function(args)
  local file = assert(io.open(args[1], "r"), "cannot open the tokens file")
  for line in file:lines() do
    local token = line:match("^%d+ (%S+)$")
    if token then
      tokens[#tokens + 1] = token
    end
  end
  file:close()
  assert(#tokens > 0, "no tokens in the file")
end

request = function()
  local token = tokens[next_index]
  next_index = next_index + 1
  if next_index > #tokens then
    next_index = 1
    wrapped = wrapped + 1
  end
  return wrk.format("POST", "/api/v1/signin", {
    ["Authorization"] = "Bearer " .. token,
    ["Content-Length"] = "0",
  })
end

