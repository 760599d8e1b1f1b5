-- Claims devices of nodes whose heartbeat stopped (and that joined no device within the
-- node ttl either): SPOP hands each to exactly one node.
-- ARGV: prefix, this node. Returns node, 'call|user|device', for each.
local P, me = ARGV[1], ARGV[2]
local out = {}
for _, node in ipairs(redis.call('SMEMBERS', P .. ':presence:nodes')) do
  local base = P .. ':presence:node:' .. node
  if node ~= me and redis.call('EXISTS', base .. ':alive', base .. ':joined') == 0 then
    local key = P .. ':presence:node:' .. node .. ':devices'
    local popped = redis.call('SPOP', key, 100)
    for _, d in ipairs(popped) do
      table.insert(out, node)
      table.insert(out, d)
    end
    if redis.call('SCARD', key) == 0 then
      redis.call('SREM', P .. ':presence:nodes', node)
    end
  end
end
return out
