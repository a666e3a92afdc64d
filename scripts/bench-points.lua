-- wrk script for the SkyJoy point APIs (scripts/bench): POINT_KIND=accrual|redemption, each
-- request with its own transactionId (thread id + counter), for member SKYJOY_ID, with the
-- partner's Bearer token in BEARER; with SKYJOY_IDS (comma-separated) each request goes to the
-- next member of that list in turn instead.
local kind = os.getenv("POINT_KIND")
local members = {}
for m in string.gmatch(os.getenv("SKYJOY_IDS") or os.getenv("SKYJOY_ID") or "", "[^,]+") do members[#members + 1] = m end
local headers = { ["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. (os.getenv("BEARER") or "") }
local counter = 0
local n = 0

function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
end

function request()
  n = n + 1
  local skyjoy = members[(n + id) % #members + 1]
  local txn = string.format("%s-%d-%d-%d", kind, os.time(), id, n)
  local body
  if kind == "accrual" then
    body = string.format('{"skyjoyId":"%s","transactionId":"%s","transactionDate":1678896000000,"transactionAmount":152123}', skyjoy, txn)
    return wrk.format("POST", "/api-point/partner/v1/point-accrual", headers, body)
  end
  body = string.format('{"skyjoyId":"%s","transactionId":"%s","transactionDate":1678896000000,"transactionAmount":1000,"usedPoint":1}', skyjoy, txn)
  return wrk.format("POST", "/api-point/partner/v1/point-redemption", headers, body)
end
