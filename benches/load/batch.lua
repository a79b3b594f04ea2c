-- wrk script: batches of NOTIFY_BATCH notifications (default 100) per request
local size = tonumber(os.getenv("NOTIFY_BATCH") or "100")
local counter = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = os.getenv("NOTIFY_AUTH")
request = function()
  local items = {}
  for i = 1, size do
    counter = counter + 1
    items[i] = string.format(
      '{"user_id":"user-%d","category":"load","content":{"sms":{"text":"load test %d"}}}', counter % 10000, counter)
  end
  return wrk.format(nil, "/v1/notifications/batch", nil, '{"items":[' .. table.concat(items, ",") .. ']}')
end
