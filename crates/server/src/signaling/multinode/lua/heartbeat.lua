-- Heartbeat; returns 1 when this node's registration was missing (first start, or Redis
-- lost its data), so the node re-publishes its devices. ARGV: prefix, node, ttl (ms).
local P, node = ARGV[1], ARGV[2]
local old = redis.call('SET', P .. ':presence:node:' .. node .. ':alive', '1', 'PX', tonumber(ARGV[3]), 'GET')
redis.call('SADD', P .. ':presence:nodes', node)
if old then return 0 end
return 1
