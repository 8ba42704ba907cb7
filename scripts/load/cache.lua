-- Cache-hit path: POST /v1/audio/speech for texts the load test synthesized beforehand, so every
-- answer is a cache hit served from S3 through the API (X-Polyvox-Cache: hit), with no synthesis.
scenario = "cache"
local texts = tonumber(os.getenv("LOAD_WARM_TEXTS") or "5")
local run = os.getenv("LOAD_RUN") or "0"
request = function()
  local body = string.format('{"input":"Cached phrase %d of run %s.","response_format":"mp3"}',
    math.random(texts), run)
  return wrk.format("POST", "/v1/audio/speech", {["Content-Type"] = "application/json"}, body)
end
dofile(os.getenv("LOAD_DIR") .. "/common.lua")
