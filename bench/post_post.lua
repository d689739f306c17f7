-- wrk script: POST /api/v1/posts with a unique Idempotency-Key per request and a
-- text that differs per request (a shop post of ~200 characters, no listed word).
local counter = 0
local token = os.getenv("BENCH_TOKEN")
local threads = 0
local texts = {
  "今天收到的连衣裙面料很舒服，颜色和图片一致，尺码偏小一点，建议大家买大一号。",
  "这款保温杯用了一周，保温效果不错，早上装的热水到下午还是烫的，杯盖也不漏水。",
  "给家里老人买的按摩器，操作简单，力度可以调节，老人每天晚上都会用一会儿。",
  "分享一下我的早餐搭配：全麦面包、水煮蛋和一杯牛奶，简单又营养，上班前十分钟搞定。",
}

function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end

request = function()
  counter = counter + 1
  local text = texts[(counter % #texts) + 1]
  local body = '{"text":"' .. text .. text .. text .. ' 第' .. tostring(counter) .. '条"}'
  local headers = {}
  headers["Content-Type"] = "application/json"
  headers["Authorization"] = "Bearer " .. token
  headers["Idempotency-Key"] = "wrk-" .. tostring(tid) .. "-" .. tostring(counter) .. "-" .. tostring(os.time())
  return wrk.format("POST", "/api/v1/posts", headers, body)
end
