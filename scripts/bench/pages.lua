-- wrk script: each request is the next page of $PAGES ("host path;host path;…"), addressed to
-- its shop by the Host header, as a browser on that shop's host sends it.
local pages = {}
for item in string.gmatch(os.getenv("PAGES"), "[^;]+") do
  local host, path = string.match(item, "^%s*(%S+)%s+(%S+)%s*$")
  pages[#pages + 1] = { host = host, path = path }
end
local counter = 0
request = function()
  counter = counter + 1
  local page = pages[(counter % #pages) + 1]
  return wrk.format("GET", page.path, { ["Host"] = page.host, ["Accept"] = "text/html,application/json" })
end
