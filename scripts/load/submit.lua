-- Job-submit path: POST /v1/jobs with one of LOAD_TEXTS distinct tiny texts (default 20), so the
-- workers synthesize each text once and every other submission joins the in-flight job or is born
-- succeeded from the cache (bounded synthesis; what is measured is the API's submit path).
scenario = "submit"
local texts = tonumber(os.getenv("LOAD_TEXTS") or "20")
local run = os.getenv("LOAD_RUN") or "0"
request = function()
  local body = string.format('{"input":"Load phrase %d of run %s.","response_format":"mp3"}',
    math.random(texts), run)
  return wrk.format("POST", "/v1/jobs", {["Content-Type"] = "application/json"}, body)
end
dofile(os.getenv("LOAD_DIR") .. "/common.lua")
