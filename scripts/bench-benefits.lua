-- wrk script for issueBenefit (scripts/bench): one pre-signed request per line of BENEFIT_FILE
-- (`Request-Time<TAB>Signature<TAB>body`, made by the bench_benefits example), split between
-- WRK_THREADS threads so that each benefitIssueRequestId is sent once; BENEFIT_REPLAY=1 sends
-- the first line every time (a retry: the idempotent path). Client-Id is BENEFIT_CLIENT, the
-- path BENEFIT_PATH.
local path = os.getenv("BENEFIT_PATH")
local client = os.getenv("BENEFIT_CLIENT")
local replay = os.getenv("BENEFIT_REPLAY") == "1"
local counter = 0
local items, next_item = {}, 1

function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
end

function init(args)
  local threads = tonumber(os.getenv("WRK_THREADS") or "2")
  local i = 0
  for line in io.lines(os.getenv("BENEFIT_FILE")) do
    if replay then
      if i == 0 then items[1] = line end
    elseif i % threads == id then
      items[#items + 1] = line
    end
    i = i + 1
  end
end

function request()
  local line = items[replay and 1 or next_item]
  next_item = next_item + 1
  if line == nil then
    -- out of pre-signed requests: a 404, so that wrk reports it instead of counting it
    return wrk.format("POST", path .. "/exhausted", {}, "{}")
  end
  local time, signature, body = line:match("^([^\t]*)\t([^\t]*)\t(.*)$")
  local headers = {
    ["Content-Type"] = "application/json; charset=UTF-8",
    ["Client-Id"] = client,
    ["Request-Time"] = time,
    ["Signature"] = signature,
  }
  return wrk.format("POST", path, headers, body)
end
