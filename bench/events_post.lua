-- wrk script: POST /api/v1/events/batch, BENCH_BATCH events per batch (default 100),
-- every event with its own random (version 4) uuid, as phones make them: random
-- keys land all over the unique index, like the raw-COPY baseline's. Each wrk
-- thread seeds its generator from BENCH_NONCE (8 hex digits) and its number, so
-- threads and runs never repeat a uuid. One anonymous visitor per batch; event
-- times run up to sent_at (whole seconds, from os.time()), so the server's clock
-- correction keeps them inside the horizon and never in the future.
local counter = 0
local threads = 0
local nonce = os.getenv("BENCH_NONCE") or "0badcafe"
local per = tonumber(os.getenv("BENCH_BATCH") or "100")
local mix = {
  {"page_view", "pages/index/index", "", false},
  {"page_view", "pages/product/detail", "pages/index/index", true},
  {"product_view", "pages/product/detail", "pages/index/index", true},
  {"page_view", "pages/category/index", "pages/product/detail", false},
  {"page_view", "pages/product/detail", "pages/category/index", true},
  {"product_view", "pages/product/detail", "pages/category/index", true},
  {"add_to_cart", "pages/product/detail", "", true},
  {"page_view", "pages/search/index", "pages/product/detail", false},
  {"search", "pages/search/index", "pages/product/detail", false},
  {"page_view", "pages/cart/index", "pages/product/detail", false},
}
local device = '"device":{"platform":"android","os":"Android 14","model":"Xiaomi 14",'
  .. '"app_version":"1.4.0","network":"wifi"}'

function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end

function init(args)
  math.randomseed((tonumber(nonce, 16) or 0) % 1000003 * 97 + tid)
end

local random = math.random
local function uuid4()
  return string.format("%04x%04x-%04x-4%03x-%04x-%04x%04x%04x",
    random(0, 65535), random(0, 65535), random(0, 65535), random(0, 4095),
    random(32768, 49151), random(0, 65535), random(0, 65535), random(0, 65535))
end

request = function()
  counter = counter + 1
  local now = os.time() * 1000
  local session = string.format("s-%d-%d", tid, counter)
  local parts = {}
  for i = 1, per do
    local m = mix[(i - 1) % #mix + 1]
    local props = "{}"
    if m[4] then
      if m[1] == "add_to_cart" then
        props = string.format('{"product_id":%d,"quantity":1}', (counter * 7 + i) % 520 + 1)
      else
        props = string.format('{"product_id":%d}', (counter * 7 + i) % 520 + 1)
      end
    end
    parts[i] = string.format(
      '{"uuid":"%s","name":"%s","ts":%d,"session_id":"%s",'
        .. '"path":"%s","referrer":"%s","scene":1089,"channel":"","utm_source":"",'
        .. '"utm_medium":"","utm_campaign":"","share_code":"","properties":%s}',
      uuid4(), m[1], now - (per - i) * 900, session,
      m[2], m[3], props)
  end
  local body = string.format('{"sent_at":%d,"anonymous_id":"a-%s-%d-%d",%s,"events":[%s]}',
    now, nonce, tid, counter, device, table.concat(parts, ","))
  local headers = {}
  headers["Content-Type"] = "application/json"
  return wrk.format("POST", "/api/v1/events/batch", headers, body)
end
