-- relabel: a caller's label on a decided (or still pending) comment (service.http.protocols.base):
-- its status becomes the label's, whatever it was, with a moderator audit entry; a change of status is
-- published and sent to webhooks like a moderator's decision.
--
-- KEYS[1] the comment record (Keys.comment, <prefix>:comment:<id>)
-- KEYS[2] the held queue (Keys.held, <prefix>:held)
-- KEYS[3] the comment's audit list (Keys.audit, <prefix>:audit:<id>)
-- KEYS[4] the published index (Keys.by_status("published"), <prefix>:status:published)
-- KEYS[5] the rejected index (Keys.by_status("rejected"), <prefix>:status:rejected)
-- KEYS[6] the webhook stream (Keys.webhook_stream, <prefix>:stream:webhooks)
-- KEYS[7] the comment's event order set (Keys.webhook_order, <prefix>:outbox:order:<id>)
-- ARGV[1] comment id, ARGV[2] to-status, ARGV[3] actor, ARGV[4] now, ARGV[5] audit entry (JSON),
-- ARGV[6] the decided channel, ARGV[7] now (microseconds), ARGV[8] retention (seconds; 0: keep)
-- Returns the status it had, or 'missing'.
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return 'missing' end
redis.call('HSET', KEYS[1], 'status', ARGV[2], 'decided_by', ARGV[3], 'decided_at', ARGV[4])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[4], ARGV[1])
redis.call('ZREM', KEYS[5], ARGV[1])
redis.call('ZADD', ARGV[2] == 'published' and KEYS[4] or KEYS[5], ARGV[7], ARGV[1])
redis.call('RPUSH', KEYS[3], ARGV[5])
if tonumber(ARGV[8]) > 0 then
  redis.call('EXPIRE', KEYS[1], ARGV[8])
  redis.call('EXPIRE', KEYS[3], ARGV[8])
end
if status ~= ARGV[2] then
  redis.call('PUBLISH', ARGV[6], ARGV[1])
  local seq = redis.call('HINCRBY', KEYS[1], 'event_seq', 1)
  local event = redis.call('XADD', KEYS[6], 'MAXLEN', '~', 1000000, '*', 'id', ARGV[1], 'status', ARGV[2],
                           'seq', seq, 'decision', redis.call('HGET', KEYS[1], 'decision') or '',
                           'decided_by', ARGV[3], 'decided_at', ARGV[4])
  redis.call('ZADD', KEYS[7], seq, event)
end
return status
