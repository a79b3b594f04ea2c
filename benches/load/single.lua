-- wrk script: one notification per request, a new user id each time (keys spread over partitions)
local counter = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = os.getenv("NOTIFY_AUTH")
request = function()
  counter = counter + 1
  local body = string.format(
    '{"user_id":"user-%d","category":"load","content":{"sms":{"text":"load test %d"}}}', counter % 10000, counter)
  return wrk.format(nil, "/v1/notifications", nil, body)
end
