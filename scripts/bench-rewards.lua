-- wrk script for POST /saas/requestin (scripts/bench): one signed reward task per request, each
-- with a new trxId (made by server/examples/bench_rewards.rs into BODY_FILE, one a line, split
-- between WRK_THREADS threads so that none is sent twice). API_KEY is the bench client's key.
local api_key = os.getenv("API_KEY") or ""
local counter = 0
local items, next_item = {}, 1

function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
end

function init(args)
  local threads = tonumber(os.getenv("WRK_THREADS") or "2")
  local i = 0
  for line in io.lines(os.getenv("BODY_FILE")) do
    if i % threads == id then items[#items + 1] = line end
    i = i + 1
  end
end

local headers = { ["Content-Type"] = "application/json", ["Client-Id"] = "bench", ["Api-Key"] = api_key }

function request()
  local body = items[next_item] or "exhausted"
  next_item = next_item + 1
  return wrk.format("POST", "/saas/requestin", headers, body)
end
