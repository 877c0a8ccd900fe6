/**
 * The cluster's Redis layout version (packages/server/src/cluster/layout.ts, docs/upgrading.md):
 * the first node records it under the prefix; a node of another version refuses to start, with
 * what to do, instead of misreading the cluster's state. A real redis-server.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { REDIS_LAYOUT_VERSION } from '../packages/server/src/cluster/layout.js';
import { startTestServer } from './support/harness.js';
import { startRedis, type RedisInstance } from './support/redis.js';

describe('cluster layout version in Redis', () => {
  let redis: RedisInstance;
  let client: Redis;
  beforeAll(async () => {
    redis = await startRedis();
    client = new Redis(redis.url);
  });
  afterAll(async () => {
    client?.disconnect();
    await redis?.stop();
  });
  const node = (prefix: string) => startTestServer({ redisUrl: redis.url, redisPrefix: prefix, clusterLeaseMs: 1000 });

  it('is recorded by the first node and accepted by the next', async () => {
    const a = await node('layout-same:');
    try {
      expect(await client.get('layout-same:layout')).toBe(String(REDIS_LAYOUT_VERSION));
      const b = await node('layout-same:');
      await b.close();
    } finally {
      await a.close();
    }
    // Kept after the nodes leave: the state under the prefix is still in that layout.
    expect(await client.get('layout-same:layout')).toBe(String(REDIS_LAYOUT_VERSION));
  });

  it('a newer layout under the prefix stops the node at start: upgrade it', async () => {
    await client.set('layout-newer:layout', String(REDIS_LAYOUT_VERSION + 1));
    await expect(node('layout-newer:')).rejects.toThrow(`holds cluster layout v${REDIS_LAYOUT_VERSION + 1}, written by a newer OpenCall; this node speaks v${REDIS_LAYOUT_VERSION}`);
    expect(await client.get('layout-newer:layout')).toBe(String(REDIS_LAYOUT_VERSION + 1));
  });

  it('an older (or unknown) layout stops the node at start: stop the old nodes, clear the prefix or pick another', async () => {
    await client.set('layout-older:layout', String(REDIS_LAYOUT_VERSION - 1));
    await expect(node('layout-older:')).rejects.toThrow(/holds cluster layout v0, which this OpenCall \(v1\) cannot read: stop every node of the old version/);
    await client.set('layout-junk:layout', 'junk');
    await expect(node('layout-junk:')).rejects.toThrow(/holds cluster layout "junk"/);
    // After clearing the prefix's keys, as docs/upgrading.md says, the node starts.
    await client.del('layout-older:layout');
    const n = await node('layout-older:');
    await n.close();
  });
});
