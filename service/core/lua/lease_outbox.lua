-- lease_outbox: take a site's due webhook events (workers.stream_outbox.Outbox), moving their next
-- attempt to the lease's end (a sender that dies mid-attempt leaves them to another one then). An
-- empty outbox leaves the set of sites.
--
-- KEYS[1] the site's outbox: event ids by next attempt (Keys.webhook_due, <prefix>:outbox:due:<site>)
-- KEYS[2] the set of sites with events (Keys.webhook_sites, <prefix>:outbox:sites)
-- ARGV[1] now (ms), ARGV[2] the lease's end (ms), ARGV[3] at most this many, ARGV[4] the site
-- Returns the ids of the leased events.
if redis.call('ZCARD', KEYS[1]) == 0 then
  redis.call('SREM', KEYS[2], ARGV[4])
  return {}
end
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
for _, id in ipairs(ids) do redis.call('ZADD', KEYS[1], ARGV[2], id) end
return ids
