-- The call is over: forget its users, devices and grace periods. ARGV: prefix, call.
local P, call = ARGV[1], ARGV[2]
local base = P .. ':presence:call:' .. call
for _, u in ipairs(redis.call('SMEMBERS', base .. ':users')) do
  redis.call('DEL', base .. ':user:' .. u)
  redis.call('ZREM', P .. ':presence:grace', call .. '|' .. u)
end
redis.call('DEL', base .. ':users')
redis.call('SREM', P .. ':presence:calls', call)
return 1
