-- Claims the grace periods that ran out: the ZREM inside the script is what makes exactly
-- one node report each of them. ARGV: prefix, deadline (ms), at most this many.
-- Returns call, user, call empty ('1' or '0'), for each.
local P = ARGV[1]
local g = P .. ':presence:grace'
local due = redis.call('ZRANGEBYSCORE', g, '-inf', ARGV[2], 'LIMIT', 0, tonumber(ARGV[3]))
local out = {}
for _, m in ipairs(due) do
  redis.call('ZREM', g, m)
  local sep = string.find(m, '|', 1, true)
  if sep then
    local call = string.sub(m, 1, sep - 1)
    local user = string.sub(m, sep + 1)
    local base = P .. ':presence:call:' .. call
    if redis.call('SCARD', base .. ':user:' .. user) == 0 then
      redis.call('SREM', base .. ':users', user)
      local empty = '0'
      if redis.call('SCARD', base .. ':users') == 0 then
        redis.call('SREM', P .. ':presence:calls', call)
        empty = '1'
      end
      table.insert(out, call)
      table.insert(out, user)
      table.insert(out, empty)
    end
  end
end
return out
