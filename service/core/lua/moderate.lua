-- moderate: a moderator's status change (service.core.store.DecisionStore.transition), only while
-- the comment is in the change's from-status; with its audit entry (also on the moderation audit
-- stream), its decision event on the webhook stream and the event's place in the comment's order set.
--
-- KEYS[1] the comment record (Keys.comment, <prefix>:comment:<id>)
-- KEYS[2] the from-status's set (Keys.held, <prefix>:held; or Keys.by_status, <prefix>:status:<from>)
-- KEYS[3] the comment's audit list (Keys.audit, <prefix>:audit:<id>)
-- KEYS[4] the to-status's index (Keys.by_status, <prefix>:status:<to>)
-- KEYS[5] the webhook stream (Keys.webhook_stream, <prefix>:stream:webhooks)
-- KEYS[6] the moderation audit stream (Keys.moderation_audit, <prefix>:stream:audit)
-- KEYS[7] the comment's event order set (Keys.webhook_order, <prefix>:outbox:order:<id>)
-- ARGV[1] comment id, ARGV[2] to-status, ARGV[3] actor (moderator:<name>), ARGV[4] now (seconds),
-- ARGV[5] audit entry (JSON), ARGV[6] the decided channel, ARGV[7] now (microseconds),
-- ARGV[8] retention (seconds; 0: keep), ARGV[9] from-status
-- Returns 'ok' when written, 'missing', or the status the comment has instead of from-status.
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return 'missing' end
if status ~= ARGV[9] then return status end
redis.call('HSET', KEYS[1], 'status', ARGV[2], 'decided_by', ARGV[3], 'decided_at', ARGV[4])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZADD', KEYS[4], ARGV[7], ARGV[1])
redis.call('RPUSH', KEYS[3], ARGV[5])
if tonumber(ARGV[8]) > 0 then
  redis.call('EXPIRE', KEYS[1], ARGV[8])
  redis.call('EXPIRE', KEYS[3], ARGV[8])
end
redis.call('PUBLISH', ARGV[6], ARGV[1])
local seq = redis.call('HINCRBY', KEYS[1], 'event_seq', 1)
local event = redis.call('XADD', KEYS[5], 'MAXLEN', '~', 1000000, '*', 'id', ARGV[1], 'status', ARGV[2],
                         'seq', seq, 'decision', redis.call('HGET', KEYS[1], 'decision') or '',
                         'decided_by', ARGV[3], 'decided_at', ARGV[4])
redis.call('ZADD', KEYS[7], seq, event)
redis.call('XADD', KEYS[6], 'MAXLEN', '~', 100000, '*', 'id', ARGV[1], 'entry', ARGV[5])
return 'ok'
