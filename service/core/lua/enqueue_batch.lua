-- enqueue_batch: durable intake of a batch of accepted comments (service.core.queue.Enqueuer), one
-- call per batch; every request runs under pcall, so one failing write fails only its own request.
--
-- KEYS[1]     the intake stream (Keys.stream, <prefix>:stream:comments)
-- KEYS[2..]   the batch's record keys (Keys.comment, <prefix>:comment:<id>), idempotency keys
--             (Keys.idempotency, <prefix>:idem:<site>:<hash>) and rate keys (Keys.rate_site,
--             <prefix>:rl:site:<site>:<window>; Keys.rate_client, <prefix>:rl:client:<site>:<hash>:<window>)
-- ARGV[1]     idempotency TTL (seconds)
-- ARGV[2]     client limit per window
-- ARGV[3]     rate window (seconds)
-- ARGV[4]     JSON list, one entry per request: {record key, idempotency key, site rate key, client rate
--             key (indexes into KEYS, 0: none), id, site, created_at, request_id, payload hash, site limit}
-- ARGV[4 + i] the comment JSON of request i, stored byte for byte
-- Returns a JSON list, one {code, value} per request: {1, entry id} written, {0, "id hash"} for a
-- replayed Idempotency-Key, {2, seconds} when a rate limit is reached (nothing written), {-1, error}.
local ttl, client_limit, window = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])

local function over_limit(key, limit)
  if key and tonumber(redis.call('GET', key) or '0') >= limit then
    local left = redis.call('TTL', key)
    if left < 1 then left = 1 end
    return tostring(left)
  end
end

local function one(r, comment)
  local idem = KEYS[r[2]]
  if idem then
    local existing = redis.call('GET', idem)
    if existing then return {0, existing} end
  end
  local limits = {{KEYS[r[3]], r[10]}, {KEYS[r[4]], client_limit}}
  for _, rl in ipairs(limits) do
    local wait = over_limit(rl[1], rl[2])
    if wait then return {2, wait} end
  end
  for _, rl in ipairs(limits) do
    if rl[1] and redis.call('INCR', rl[1]) == 1 then redis.call('EXPIRE', rl[1], window) end
  end
  redis.call('HSET', KEYS[r[1]], 'site', r[6], 'comment', comment, 'status', 'pending',
             'created_at', r[7], 'request_id', r[8])
  local entry = redis.call('XADD', KEYS[1], '*', 'id', r[5], 'request_id', r[8])
  if idem then redis.call('SET', idem, r[5] .. ' ' .. r[9], 'EX', ttl) end
  return {1, entry}
end

local out = {}
for i, r in ipairs(cjson.decode(ARGV[4])) do
  local ok, res = pcall(one, r, ARGV[4 + i])
  if not ok then
    res = {-1, type(res) == 'table' and tostring(res.err) or tostring(res)}
  end
  out[i] = res
end
return cjson.encode(out)
