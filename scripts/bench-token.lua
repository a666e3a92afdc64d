-- wrk script for POST /token (scripts/bench). TOKEN_KIND picks the grant:
--   client_credentials  the same request every time;
--   code | refresh      one single-use credential per request, read from TOKEN_FILE (one per
--                       line, split between WRK_THREADS threads so that none is sent twice).
-- CLIENT_BASIC is base64(client_id:secret); REDIRECT_URI is already URL-encoded.
local kind = os.getenv("TOKEN_KIND")
local basic = os.getenv("CLIENT_BASIC")
local redirect = os.getenv("REDIRECT_URI") or ""
local counter = 0
local items, next_item = {}, 1

function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
end

function init(args)
  if kind == "client_credentials" then return end
  local threads = tonumber(os.getenv("WRK_THREADS") or "2")
  local i = 0
  for line in io.lines(os.getenv("TOKEN_FILE")) do
    if i % threads == id then items[#items + 1] = line end
    i = i + 1
  end
end

local headers = { ["Content-Type"] = "application/x-www-form-urlencoded", ["Authorization"] = "Basic " .. (basic or "") }

function request()
  local body
  if kind == "client_credentials" then
    body = "grant_type=client_credentials&scope=partner"
  else
    local item = items[next_item] or "exhausted"
    next_item = next_item + 1
    if kind == "code" then
      body = "grant_type=authorization_code&code=" .. item .. "&redirect_uri=" .. redirect
    else
      body = "grant_type=refresh_token&refresh_token=" .. item
    end
  end
  return wrk.format("POST", "/token", headers, body)
end
