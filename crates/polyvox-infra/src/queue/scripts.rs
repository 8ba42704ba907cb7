//! Lua scripts of the Redis queue. Each runs atomically on the server; times come from Redis'
//! `TIME`, so delays do not depend on the clocks of the machines that schedule them.

/// Moves due ids from the delayed set to their lane's stream. KEYS: delayed, interactive stream,
/// batch stream. ARGV: max ids to move.
pub(super) const PROMOTE: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[1]))
for _, m in ipairs(due) do
  local sep = string.find(m, ':', 1, true)
  if sep then
    local key = KEYS[3]
    if string.sub(m, 1, sep - 1) == 'interactive' then key = KEYS[2] end
    redis.call('XADD', key, '*', 'job', string.sub(m, sep + 1))
  end
  redis.call('ZREM', KEYS[1], m)
end
return #due
";

/// Acks and deletes an entry; a missing group (lost data) is not an error. KEYS: stream.
/// ARGV: group, entry id.
pub(super) const ACK: &str = r"
redis.pcall('XACK', KEYS[1], ARGV[1], ARGV[2])
redis.call('XDEL', KEYS[1], ARGV[2])
return 1
";

/// Optionally acks an entry, then re-adds its job now or schedules it. KEYS: stream, delayed.
/// ARGV: group, entry id ('' to skip the ack), delay ms, delayed-set member, job id.
pub(super) const NACK: &str = r"
if ARGV[2] ~= '' then
  redis.pcall('XACK', KEYS[1], ARGV[1], ARGV[2])
  redis.call('XDEL', KEYS[1], ARGV[2])
end
local delay = tonumber(ARGV[3])
if delay <= 0 then
  redis.call('XADD', KEYS[1], '*', 'job', ARGV[5])
else
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  redis.call('ZADD', KEYS[2], now + delay, ARGV[4])
end
return 1
";
