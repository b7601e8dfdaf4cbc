-- wrk script: each request goes to the next shop of $SLUGS_FILE, by X-Shop header.
local slugs = {}
for line in io.lines(os.getenv("SLUGS_FILE")) do
  if line ~= "" then slugs[#slugs + 1] = line end
end
local counter = 0
request = function()
  counter = counter + 1
  return wrk.format("GET", wrk.path, { ["X-Shop"] = slugs[(counter % #slugs) + 1] })
end
