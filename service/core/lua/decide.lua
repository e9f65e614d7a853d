-- decide: a worker's automatic decision (service.core.store.DecisionStore.decide), written only while
-- the comment is pending: a late or repeated write from a stale worker is a no-op, and a moderator's
-- decision is never overwritten. Appends the decision event (a snapshot and the comment's sequence
-- number) to the webhook stream and its entry id to the comment's order set.
--
-- KEYS[1] the comment record (Keys.comment, <prefix>:comment:<id>)
-- KEYS[2] the held queue (Keys.held, <prefix>:held)
-- KEYS[3] the delivery attempts hash (Keys.attempts, <prefix>:attempts)
-- KEYS[4] the comment's audit list (Keys.audit, <prefix>:audit:<id>)
-- KEYS[5] the index of the decision's status (Keys.by_status, <prefix>:status:<status>)
-- KEYS[6] the webhook stream (Keys.webhook_stream, <prefix>:stream:webhooks)
-- KEYS[7] the comment's event order set (Keys.webhook_order, <prefix>:outbox:order:<id>)
-- ARGV[1] comment id, ARGV[2] decision (JSON), ARGV[3] status (held, published, rejected),
-- ARGV[4] now (seconds), ARGV[5] created_at (microseconds, the held queue's score),
-- ARGV[6] audit entry (JSON), ARGV[7] the decided channel, ARGV[8] now (microseconds),
-- ARGV[9] retention (seconds; 0: keep)
-- Returns 'ok' when written, 'missing', or the status the comment already had.
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return 'missing' end
if status ~= 'pending' then return status end
redis.call('HSET', KEYS[1], 'status', ARGV[3], 'decision', ARGV[2], 'decided_at', ARGV[4],
           'decided_by', 'auto')
redis.call('HDEL', KEYS[3], ARGV[1])
redis.call('RPUSH', KEYS[4], ARGV[6])
if ARGV[3] == 'held' then
  redis.call('ZADD', KEYS[2], ARGV[5], ARGV[1])
else
  redis.call('ZADD', KEYS[5], ARGV[8], ARGV[1])
end
-- Held comments expire too (a moderator's decision later sets the retention again from then on).
if tonumber(ARGV[9]) > 0 then
  redis.call('EXPIRE', KEYS[1], ARGV[9])
  redis.call('EXPIRE', KEYS[4], ARGV[9])
end
redis.call('PUBLISH', ARGV[7], ARGV[1])
local seq = redis.call('HINCRBY', KEYS[1], 'event_seq', 1)
local event = redis.call('XADD', KEYS[6], 'MAXLEN', '~', 1000000, '*', 'id', ARGV[1], 'status', ARGV[3],
                         'seq', seq, 'decision', ARGV[2], 'decided_by', 'auto', 'decided_at', ARGV[4])
redis.call('ZADD', KEYS[7], seq, event)
return 'ok'
