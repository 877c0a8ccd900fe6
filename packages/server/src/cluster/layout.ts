import type { Redis } from 'ioredis';

/**
 * Version of what a cluster keeps in Redis: the keys (keys.ts), the JSON stored in them and the
 * inbox/outbox messages between nodes. Bump it with any change a node of the previous version
 * could not read: nodes of different versions then refuse to share a prefix, and the upgrade is
 * stop-the-world (docs/upgrading.md). Unchanged, nodes of both versions can run side by side
 * (a rolling upgrade).
 */
export const REDIS_LAYOUT_VERSION = 1;

/**
 * Records this node's layout under `key` if the prefix has none yet, else checks the one there:
 * a different version stops the node at start with what to do, instead of misreading the state.
 */
export async function claimLayout(redis: Redis, key: string, prefix: string, ours = REDIS_LAYOUT_VERSION): Promise<void> {
  await redis.setnx(key, String(ours));
  const stored = await redis.get(key);
  if (stored === String(ours)) return;
  const theirs = Number(stored);
  const where = `Redis key ${key} (OPENCALL_REDIS_PREFIX ${JSON.stringify(prefix)})`;
  if (Number.isInteger(theirs) && theirs > ours) {
    throw new Error(`${where} holds cluster layout v${theirs}, written by a newer OpenCall; this node speaks v${ours}: upgrade this node to the version of the others (docs/upgrading.md)`);
  }
  throw new Error(
    `${where} holds cluster layout ${Number.isInteger(theirs) ? `v${theirs}` : JSON.stringify(stored)}, which this OpenCall (v${ours}) cannot read: ` +
      `stop every node of the old version, then delete the keys under the prefix or choose a new OPENCALL_REDIS_PREFIX (docs/upgrading.md)`,
  );
}
