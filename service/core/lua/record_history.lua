-- record_history: one comment's spam-history writes and reads (workers.scoring.history), the same
-- commands as one by one in one call; queued in the batch's pipeline.
--
-- KEYS[1..ARGV[1]]  the rate keys: sorted sets of comment ids by time (Keys.rate_email,
--                   <prefix>:rate:email:<site>:<hash>; Keys.rate_ip, <prefix>:rate:ip:<site>:<hash>)
-- KEYS[ARGV[1]+1..] the near-duplicate band keys: hashes author-or-thread -> time
--                   (Keys.near_duplicate, <prefix>:dup:<site>:<bucket>)
-- ARGV[1]  how many rate keys
-- ARGV[2]  member (the comment id)
-- ARGV[3]  now
-- ARGV[4]  "(" .. (now - window): rate entries up to it are dropped
-- ARGV[5]  now - window: rate entries from it are counted
-- ARGV[6]  rate key TTL (seconds)
-- ARGV[7]  author field, ARGV[8] thread field, ARGV[9] their stamp
-- ARGV[10] band key TTL (seconds)
-- Returns the rate counts, then each band's HGETALL (flat field/value lists).
local rates = tonumber(ARGV[1])
local out = {}
for i = 1, rates do
  redis.call('ZADD', KEYS[i], 'NX', ARGV[3], ARGV[2])
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', ARGV[4])
  out[#out + 1] = redis.call('ZCOUNT', KEYS[i], ARGV[5], '+inf')
  redis.call('EXPIRE', KEYS[i], ARGV[6])
end
for i = rates + 1, #KEYS do
  redis.call('HSET', KEYS[i], ARGV[7], ARGV[9], ARGV[8], ARGV[9])
  out[#out + 1] = redis.call('HGETALL', KEYS[i])
  redis.call('EXPIRE', KEYS[i], ARGV[10])
end
return out
