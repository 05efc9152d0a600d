-- POST <path> with a different user's token on each request, cycling over
-- the "user_id token" lines of TOKENS_FILE (from `surge token --users A-B`).
-- Each thread starts at its own offset so the threads do not move in step.
--   TOKENS_FILE=/tmp/tokens GRAB_PATH=/api/v1/redpackets/1/grab wrk -s bench/wrk/grab.lua ...
local tokens = {}
local i = 0
local path = os.getenv("GRAB_PATH")
local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("offset", counter * 7919)
end

function init(args)
  for line in io.lines(os.getenv("TOKENS_FILE")) do
    local _, token = line:match("^(%d+) (%S+)$")
    if token then
      tokens[#tokens + 1] = "Bearer " .. token
    end
  end
  i = (offset or 0) % #tokens
end

function request()
  i = i % #tokens + 1
  return wrk.format("POST", path, { ["Authorization"] = tokens[i], ["Content-Length"] = "0" })
end
