-- Job-poll path: GET /v1/jobs/{id} over the job ids in LOAD_IDS (a file, one id a line).
scenario = "poll"
local ids = {}
for line in io.lines(os.getenv("LOAD_IDS")) do table.insert(ids, line) end
request = function()
  return wrk.format("GET", "/v1/jobs/" .. ids[math.random(#ids)])
end
dofile(os.getenv("LOAD_DIR") .. "/common.lua")
