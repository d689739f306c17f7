-- wrk script: POST /api/v1/orders with a unique Idempotency-Key per request,
-- spreading orders over the SKUs listed in BENCH_SKUS.
local counter = 0
local skus = {}
for id in string.gmatch(os.getenv("BENCH_SKUS") or "", "%d+") do table.insert(skus, id) end
local token = os.getenv("BENCH_TOKEN")
local address = os.getenv("BENCH_ADDRESS")
local threads = 0

function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end

request = function()
  counter = counter + 1
  local sku = skus[(counter % #skus) + 1]
  local body = '{"items":[{"sku_id":' .. sku .. ',"quantity":1}],"address_id":' .. address .. '}'
  local headers = {}
  headers["Content-Type"] = "application/json"
  headers["Authorization"] = "Bearer " .. token
  headers["Idempotency-Key"] = "wrk-" .. tostring(tid) .. "-" .. tostring(counter) .. "-" .. tostring(os.time())
  return wrk.format("POST", "/api/v1/orders", headers, body)
end
