/**
 * Groups: who may call or be invited in a group call (the part of IM groups calls need).
 * One interface so a persistent store can replace the in-memory default.
 */
export interface GroupStore {
  members(groupID: string): ReadonlySet<string> | undefined;
  /** Creates the group or replaces its member list. */
  put(groupID: string, members: readonly string[]): void;
  /** Adds and removes members; false if there is no such group. */
  update(groupID: string, add: readonly string[], remove: readonly string[]): boolean;
  delete(groupID: string): boolean;
}

export class MemoryGroupStore implements GroupStore {
  private readonly groups = new Map<string, Set<string>>();

  members(groupID: string): ReadonlySet<string> | undefined {
    return this.groups.get(groupID);
  }

  put(groupID: string, members: readonly string[]): void {
    this.groups.set(groupID, new Set(members));
  }

  update(groupID: string, add: readonly string[], remove: readonly string[]): boolean {
    const g = this.groups.get(groupID);
    if (!g) return false;
    for (const m of add) g.add(m);
    for (const m of remove) g.delete(m);
    return true;
  }

  delete(groupID: string): boolean {
    return this.groups.delete(groupID);
  }
}

/**
 * The admin API's view of groups. Asynchronous, because in a cluster groups live in Redis and
 * reach the call core in order with the messages that follow.
 */
export interface GroupAdmin {
  get(groupID: string): Promise<string[] | undefined>;
  /** Creates the group or replaces its members; returns the members. */
  put(groupID: string, members: readonly string[]): Promise<string[]>;
  /** Adds and removes members; the members after, or undefined if there is no such group. */
  update(groupID: string, add: readonly string[], remove: readonly string[]): Promise<string[] | undefined>;
  delete(groupID: string): Promise<boolean>;
}

/** The admin API on a store in this process. */
export function memoryGroupAdmin(store: GroupStore): GroupAdmin {
  const list = (id: string) => {
    const m = store.members(id);
    return m ? [...m] : undefined;
  };
  return {
    get: async (id) => list(id),
    put: async (id, members) => {
      store.put(id, members);
      return list(id)!;
    },
    update: async (id, add, remove) => (store.update(id, add, remove) ? list(id) : undefined),
    delete: async (id) => store.delete(id),
  };
}
