-- A device leaves (dropped = '') or drops (dropped = the time, in ms). ARGV: prefix, call,
-- user, device, node, dropped. Returns {departure, call now empty ('1' or '0')}.
local P, call, user, dev, node, dropped = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]
local base = P .. ':presence:call:' .. call
local dkey = base .. ':user:' .. user
redis.call('SREM', P .. ':presence:node:' .. node .. ':devices', call .. '|' .. user .. '|' .. dev)
if redis.call('SREM', dkey, dev) == 0 then return {'unknown', '0'} end
if redis.call('SCARD', dkey) > 0 then return {'still', '0'} end
if dropped ~= '' then
  redis.call('ZADD', P .. ':presence:grace', tonumber(dropped), call .. '|' .. user)
  return {'disconnected', '0'}
end
redis.call('SREM', base .. ':users', user)
if redis.call('SCARD', base .. ':users') == 0 then
  redis.call('SREM', P .. ':presence:calls', call)
  return {'left', '1'}
end
return {'left', '0'}
