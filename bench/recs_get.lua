-- wrk script: GET BENCH_PATH with one more header per request, taken round robin
-- from the lines of BENCH_HEADER_FILE (one member's "Authorization: Bearer …" each).
local headers = {}
local counter = 0

init = function(args)
  for line in io.lines(os.getenv("BENCH_HEADER_FILE")) do
    local name, value = line:match("^([^:]+):%s*(.*)$")
    if name then headers[#headers + 1] = {name, value} end
  end
  counter = math.random(#headers)
end

request = function()
  counter = counter + 1
  local h = headers[(counter % #headers) + 1]
  return wrk.format("GET", os.getenv("BENCH_PATH"), {[h[1]] = h[2]})
end
