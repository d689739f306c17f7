-- wrk script: POST a flash-sale purchase (unique Idempotency-Key per request) for
-- the item BENCH_ITEM, as the member of BENCH_TOKEN, to address BENCH_ADDRESS.
local counter = 0
local token = os.getenv("BENCH_TOKEN")
local address = os.getenv("BENCH_ADDRESS")
local item = os.getenv("BENCH_ITEM")
local threads = 0

function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end

request = function()
  counter = counter + 1
  local body = '{"quantity":1,"address_id":' .. address .. '}'
  local headers = {}
  headers["Content-Type"] = "application/json"
  headers["Authorization"] = "Bearer " .. token
  headers["Idempotency-Key"] = "wrk-" .. tostring(tid) .. "-" .. tostring(counter) .. "-" .. tostring(os.time())
  return wrk.format("POST", "/api/v1/flash-sales/items/" .. item .. "/buy", headers, body)
end
