-- Adds a device to a call. ARGV: prefix, call, user, device, node, node ttl (ms).
-- Returns the arrival ('first', 'resumed' or 'another') followed by the connected users.
-- A join is a sign of life too: a node that has just started publishes devices before its
-- first heartbeat, and those must not be claimed as a dead node's (reap.lua checks both).
local P, call, user, dev, node = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
redis.call('SET', P .. ':presence:node:' .. node .. ':joined', '1', 'PX', tonumber(ARGV[6]))
local base = P .. ':presence:call:' .. call
local dkey = base .. ':user:' .. user
local had = redis.call('SCARD', dkey)
local resumed = redis.call('ZREM', P .. ':presence:grace', call .. '|' .. user)
redis.call('SADD', dkey, dev)
redis.call('SADD', base .. ':users', user)
redis.call('SADD', P .. ':presence:calls', call)
redis.call('SADD', P .. ':presence:node:' .. node .. ':devices', call .. '|' .. user .. '|' .. dev)
redis.call('SADD', P .. ':presence:nodes', node)
local arrival = 'first'
if had > 0 then arrival = 'another' elseif resumed > 0 then arrival = 'resumed' end
local out = {arrival}
for _, u in ipairs(redis.call('SMEMBERS', base .. ':users')) do
  if redis.call('SCARD', base .. ':user:' .. u) > 0 then table.insert(out, u) end
end
return out
