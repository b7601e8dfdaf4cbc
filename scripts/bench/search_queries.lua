-- wrk script: round-robin over the shops of $SLUGS_FILE (X-Shop) and the queries of
-- $QUERIES_FILE (query strings of GET /v1/store/search).
local function lines(path)
  local list = {}
  for line in io.lines(path) do
    if line ~= "" then list[#list + 1] = line end
  end
  return list
end
local slugs = lines(os.getenv("SLUGS_FILE"))
local queries = lines(os.getenv("QUERIES_FILE"))
local counter = 0
request = function()
  counter = counter + 1
  local shop = slugs[(counter % #slugs) + 1]
  local query = queries[(counter % #queries) + 1]
  return wrk.format("GET", "/v1/store/search?" .. query, { ["X-Shop"] = shop })
end
