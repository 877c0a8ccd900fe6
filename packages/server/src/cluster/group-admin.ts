import type { GroupAdmin } from '../groups/group-store.js';
import type { ClusterKeys } from './keys.js';
import type { ClusterRedis } from './scripts.js';

/**
 * Groups in a cluster: kept in Redis, and every change is also put in the call core's inbox in
 * the same atomic step, so a call made after the admin request returns sees the new members.
 */
export function clusterGroupAdmin(redis: ClusterRedis, keys: ClusterKeys): GroupAdmin {
  const list = (json: string | null): string[] | undefined => {
    if (json === null) return undefined;
    const v: unknown = JSON.parse(json);
    return Array.isArray(v) ? (v as string[]) : [];
  };
  return {
    get: async (id) => list(await redis.hget(keys.groups, id)),
    put: async (id, members) => list(await redis.ocGroupPut(keys.groups, keys.inbox, id, JSON.stringify(members)))!,
    update: async (id, add, remove) => list(await redis.ocGroupUpdate(keys.groups, keys.inbox, id, JSON.stringify(add), JSON.stringify(remove))),
    delete: async (id) => (await redis.ocGroupDelete(keys.groups, keys.inbox, id)) === 1,
  };
}
