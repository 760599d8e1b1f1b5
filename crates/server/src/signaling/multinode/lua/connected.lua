-- The users with at least one device in a call. ARGV: prefix, call.
local base = ARGV[1] .. ':presence:call:' .. ARGV[2]
local out = {}
for _, u in ipairs(redis.call('SMEMBERS', base .. ':users')) do
  if redis.call('SCARD', base .. ':user:' .. u) > 0 then table.insert(out, u) end
end
return out
