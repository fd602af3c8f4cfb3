/**
 * The Lua scripts that change room seats in Redis, one script per change so that each is atomic
 * across server nodes (Redis runs a script without interleaving any other command). Data layout
 * and failure handling are described in `redisSeatStore.ts`; the rules are those of
 * `seatStore.ts`. Seats are stored as JSON `{s: socketId, k?: sha256(session), p: polite,
 * j: joinedAt, n: node id, c: connected, h?: heldUntil}`; a protected room's passcode verifier in
 * `P:pass:<room>`, which lives and dies with the room key (`save` below).
 *
 * Verifiers are compared with Lua's `~=`, not in constant time: the time could at most tell how
 * many leading characters of a guess's scrypt output match the stored one, which does not help to
 * find a passcode (each guess still costs an scrypt, and outputs cannot be steered).
 */
import { createHash } from 'node:crypto';

const LUA_PRELUDE = `
local function load(key)
  local raw = redis.call('GET', key)
  if not raw then return {} end
  return cjson.decode(raw)
end
local function save(key, seats, ttl, passKey)
  if #seats == 0 then
    redis.call('DEL', key, passKey)
  else
    redis.call('SET', key, cjson.encode(seats), 'PX', ttl)
    redis.call('PEXPIRE', passKey, ttl)
  end
end
local function otherOf(seats, seat)
  for _, s in ipairs(seats) do if s ~= seat then return s end end
  return nil
end
`;

/** KEYS: room, held, nodeseats(self), pass. ARGV: room, socketId, sessionHash|'', now, node, ttl, passcodeVerifier|''. */
const JOIN = `${LUA_PRELUDE}
local seats = load(KEYS[1])
local sid = ARGV[2]
local required = false
if #seats > 0 then required = redis.call('GET', KEYS[4]) end
local protected = (required ~= false)
for _, s in ipairs(seats) do
  if s.s == sid and s.c then
    return cjson.encode({kind='joined', seat=s, members=#seats, rejoin=true, other=otherOf(seats, s), pw=protected})
  end
end
if ARGV[3] ~= '' then
  for _, s in ipairs(seats) do
    if s.k == ARGV[3] then
      local evicted = nil
      local prev = s.s
      if s.c then evicted = s.s else redis.call('ZREM', KEYS[2], ARGV[1] .. '|' .. s.s) end
      s.s = sid; s.c = true; s.h = nil; s.n = ARGV[5]
      local o = otherOf(seats, s)
      s.p = (o ~= nil)
      if o then o.p = false end
      save(KEYS[1], seats, ARGV[6], KEYS[4])
      redis.call('SADD', KEYS[3], ARGV[1])
      return cjson.encode({kind='joined', seat=s, members=#seats, resumed=true, other=o, evicted=evicted, prev=prev, pw=protected})
    end
  end
end
if protected and required ~= ARGV[7] then return cjson.encode({kind='wrong-passcode'}) end
if #seats >= 2 then return cjson.encode({kind='full', members=#seats}) end
if #seats == 0 then
  if ARGV[7] ~= '' then
    redis.call('SET', KEYS[4], ARGV[7])
    protected = true
  else
    redis.call('DEL', KEYS[4])
  end
end
local o = seats[1]
local seat = {s=sid, p=(o ~= nil), j=tonumber(ARGV[4]), n=ARGV[5], c=true}
if ARGV[3] ~= '' then seat.k = ARGV[3] end
if o then o.p = false end
table.insert(seats, seat)
save(KEYS[1], seats, ARGV[6], KEYS[4])
redis.call('SADD', KEYS[3], ARGV[1])
return cjson.encode({kind='joined', seat=seat, members=#seats, other=o, pw=protected})
`;

/** KEYS: room, held, nodeseats(self), pass. ARGV: room, socketId, ttl. */
const LEAVE = `${LUA_PRELUDE}
local seats = load(KEYS[1])
for i, s in ipairs(seats) do
  if s.s == ARGV[2] and s.c then
    table.remove(seats, i)
    save(KEYS[1], seats, ARGV[3], KEYS[4])
    local o = seats[1]
    if not (o and o.n == s.n) then redis.call('SREM', KEYS[3], ARGV[1]) end
    return cjson.encode({seat=s, other=o})
  end
end
return false
`;

/** KEYS: room, held, nodeseats(self), pass. ARGV: room, socketId, now, graceMs, ttl. */
const DISCONNECT = `${LUA_PRELUDE}
local seats = load(KEYS[1])
local grace = tonumber(ARGV[4])
for i, s in ipairs(seats) do
  if s.s == ARGV[2] and s.c then
    if s.k == nil or grace <= 0 then
      table.remove(seats, i)
      save(KEYS[1], seats, ARGV[5], KEYS[4])
      local o = seats[1]
      if not (o and o.n == s.n) then redis.call('SREM', KEYS[3], ARGV[1]) end
      return cjson.encode({held=false, seat=s, other=o})
    end
    s.c = false
    s.h = tonumber(ARGV[3]) + grace
    redis.call('ZADD', KEYS[2], s.h, ARGV[1] .. '|' .. s.s)
    save(KEYS[1], seats, ARGV[5], KEYS[4])
    return cjson.encode({held=true, seat=s, other=otherOf(seats, s)})
  end
end
return false
`;

/** KEYS: held. ARGV: now, prefix (with colon), ttl, limit. Frees due held seats; returns [{room, seat, other}]. */
const EXPIRE = `${LUA_PRELUDE}
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[4]))
local out = {}
for _, m in ipairs(due) do
  redis.call('ZREM', KEYS[1], m)
  local bar = string.find(m, '|', 1, true)
  if bar then
    local room = string.sub(m, 1, bar - 1)
    local sid = string.sub(m, bar + 1)
    local key = ARGV[2] .. 'room:' .. room
    local seats = load(key)
    for i, s in ipairs(seats) do
      if s.s == sid and not s.c then
        table.remove(seats, i)
        save(key, seats, ARGV[3], ARGV[2] .. 'pass:' .. room)
        table.insert(out, {room=room, seat=s, other=seats[1]})
        break
      end
    end
  end
end
if #out == 0 then return '[]' end
return cjson.encode(out)
`;

/**
 * KEYS: nodes, held. ARGV: deadNode, now, graceMs, prefix (with colon), ttl.
 * Reclaims the connected seats of a node whose heartbeat key is gone; returns [{room, seat, held}]
 * or false when the node is alive or another node already reclaimed it.
 */
const RECLAIM = `${LUA_PRELUDE}
if redis.call('EXISTS', ARGV[4] .. 'node:' .. ARGV[1]) == 1 then return false end
if redis.call('SREM', KEYS[1], ARGV[1]) == 0 then return false end
local setKey = ARGV[4] .. 'nodeseats:' .. ARGV[1]
local rooms = redis.call('SMEMBERS', setKey)
local now = tonumber(ARGV[2])
local grace = tonumber(ARGV[3])
local out = {}
for _, room in ipairs(rooms) do
  local key = ARGV[4] .. 'room:' .. room
  local seats = load(key)
  local i = 1
  while i <= #seats do
    local s = seats[i]
    if s.n == ARGV[1] and s.c then
      if s.k ~= nil and grace > 0 then
        s.c = false
        s.h = now + grace
        redis.call('ZADD', KEYS[2], s.h, room .. '|' .. s.s)
        table.insert(out, {room=room, seat=s, held=true})
        i = i + 1
      else
        table.remove(seats, i)
        table.insert(out, {room=room, seat=s, held=false})
      end
    else
      i = i + 1
    end
  end
  save(key, seats, ARGV[5], ARGV[4] .. 'pass:' .. room)
end
redis.call('DEL', setKey)
if #out == 0 then return '[]' end
return cjson.encode(out)
`;

/** A script and its SHA-1 (for EVALSHA). */
export class Script {
  readonly sha: string;
  constructor(readonly source: string) {
    this.sha = createHash('sha1').update(source).digest('hex');
  }
}

/** Every seat script, by change. */
export const SCRIPTS = {
  join: new Script(JOIN),
  leave: new Script(LEAVE),
  disconnect: new Script(DISCONNECT),
  expire: new Script(EXPIRE),
  reclaim: new Script(RECLAIM),
};
