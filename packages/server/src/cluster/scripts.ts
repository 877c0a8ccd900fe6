import type { Redis } from 'ioredis';

/**
 * The Lua scripts of a cluster. Each runs atomically in Redis: that is what makes a takeover
 * safe (a node that lost its lease can no longer write anything) and group changes ordered with
 * the messages that follow them.
 */
const SCRIPTS = {
  /** KEYS: leader. ARGV: node id, lease ms. Renews the lease if this node still holds it. */
  ocRenew: {
    numberOfKeys: 1,
    lua: `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return 0`,
  },
  /** KEYS: leader. ARGV: node id. Gives the lease up if this node holds it. */
  ocRelease: {
    numberOfKeys: 1,
    lua: `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`,
  },
  /**
   * KEYS: leader. ARGV: node id, JSON array of commands. Applies the commands (state writes,
   * then the frames they produced) only if this node still holds the lease: all or nothing.
   */
  ocCommit: {
    numberOfKeys: 1,
    lua: `if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
local ops = cjson.decode(ARGV[2])
for i = 1, #ops do redis.call(unpack(ops[i])) end
return 1`,
  },
  /** KEYS: nodes. ARGV: node id. A heartbeat stamped with Redis's clock, so nodes' clocks need not agree. */
  ocBeat: {
    numberOfKeys: 1,
    lua: `local t = redis.call('TIME')
return redis.call('ZADD', KEYS[1], tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000), ARGV[1])`,
  },
  /** KEYS: nodes. ARGV: timeout ms. Nodes whose last heartbeat (Redis's clock) is older than that. */
  ocStale: {
    numberOfKeys: 1,
    lua: `local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
return redis.call('ZRANGEBYSCORE', KEYS[1], 0, now - tonumber(ARGV[1]))`,
  },
  /** KEYS: groups, inbox. ARGV: groupID, members JSON. Creates or replaces a group. */
  ocGroupPut: {
    numberOfKeys: 2,
    lua: `redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('XADD', KEYS[2], '*', 'e', '{"k":"g","g":' .. cjson.encode(ARGV[1]) .. ',"members":' .. ARGV[2] .. '}')
return ARGV[2]`,
  },
  /** KEYS: groups, inbox. ARGV: groupID, add JSON, remove JSON. Removing wins over adding. */
  ocGroupUpdate: {
    numberOfKeys: 2,
    lua: `local cur = redis.call('HGET', KEYS[1], ARGV[1])
if not cur then return false end
local drop, seen, out = {}, {}, {}
for _, m in ipairs(cjson.decode(ARGV[3])) do drop[m] = true end
local function take(list) for _, m in ipairs(list) do if not drop[m] and not seen[m] then seen[m] = true; out[#out + 1] = m end end end
take(cjson.decode(cur))
take(cjson.decode(ARGV[2]))
local enc = '[]'
if #out > 0 then enc = cjson.encode(out) end
redis.call('HSET', KEYS[1], ARGV[1], enc)
redis.call('XADD', KEYS[2], '*', 'e', '{"k":"g","g":' .. cjson.encode(ARGV[1]) .. ',"members":' .. enc .. '}')
return enc`,
  },
  /** KEYS: groups, inbox. ARGV: groupID. */
  ocGroupDelete: {
    numberOfKeys: 2,
    lua: `if redis.call('HDEL', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('XADD', KEYS[2], '*', 'e', '{"k":"g","g":' .. cjson.encode(ARGV[1]) .. ',"members":null}')
return 1`,
  },
} as const;

export interface ClusterRedis extends Redis {
  ocRenew(leader: string, nodeId: string, leaseMs: number): Promise<number>;
  ocRelease(leader: string, nodeId: string): Promise<number>;
  ocCommit(leader: string, nodeId: string, opsJson: string): Promise<number>;
  ocBeat(nodes: string, nodeId: string): Promise<number>;
  ocStale(nodes: string, timeoutMs: number): Promise<string[]>;
  ocGroupPut(groups: string, inbox: string, groupID: string, membersJson: string): Promise<string>;
  ocGroupUpdate(groups: string, inbox: string, groupID: string, addJson: string, removeJson: string): Promise<string | null>;
  ocGroupDelete(groups: string, inbox: string, groupID: string): Promise<number>;
}

/** Adds the scripts to a connection (ioredis loads them once and then calls them by SHA). */
export function withScripts(redis: Redis): ClusterRedis {
  for (const [name, s] of Object.entries(SCRIPTS)) redis.defineCommand(name, { numberOfKeys: s.numberOfKeys, lua: s.lua });
  return redis as ClusterRedis;
}
