/**
 * Every Redis key and channel of a cluster. The default prefix is a hash tag (`{opencall}:`),
 * so all keys land in one slot and the Lua scripts also run on Redis Cluster.
 */
export interface ClusterKeys {
  /** Version of this layout (string, cluster/layout.ts): nodes that do not speak it refuse to start. */
  layout: string;
  /** Which node runs the call core: a lease with a TTL (string). */
  leader: string;
  /** Messages for the call core, from every node, in order (stream). */
  inbox: string;
  /** Id of the last inbox entry whose effects are committed (string). */
  cursor: string;
  /** Calls going on: inviteID → JSON {call, rec} (hash). */
  calls: string;
  /** Present users: userID → JSON array of their devices' presences (hash). */
  users: string;
  /** Groups: groupID → JSON member list (hash). */
  groups: string;
  /** Live nodes: node id → last heartbeat in ms (sorted set). */
  nodes: string;
  /** Frames kept for the resume of one device of a user (list). */
  backlog(userID: string, device: string): string;
  /** Frames for the sockets held by a node (pub/sub channel). */
  out(nodeId: string): string;
}

export function clusterKeys(prefix: string): ClusterKeys {
  return {
    layout: `${prefix}layout`,
    leader: `${prefix}leader`,
    inbox: `${prefix}inbox`,
    cursor: `${prefix}cursor`,
    calls: `${prefix}calls`,
    users: `${prefix}users`,
    groups: `${prefix}groups`,
    nodes: `${prefix}nodes`,
    backlog: (userID, device) => `${prefix}bl:${userID}:${device}`,
    out: (nodeId) => `${prefix}out:${nodeId}`,
  };
}

/** What a node puts in the inbox (field `e` of a stream entry, JSON). */
export type InboxEntry =
  /**
   * A validated message from a connection (`c`) of node `n`; `q` numbers the messages of that
   * connection; `s` 1 when the node believes the connection is logged in.
   */
  | { k: 'm'; n: string; c: number; q: number; s?: 1; m: unknown }
  /** The connection closed. */
  | { k: 'd'; n: string; c: number }
  /** The connection's UserSig ran out. */
  | { k: 'x'; n: string; c: number }
  /** A group was created, changed (members) or deleted (members null) through the admin API. */
  | { k: 'g'; g: string; members: string[] | null };

/**
 * What the call core publishes to a node: frames for a connection, close it, or "answered
 * every message up to `a`" (after the frames those messages produced).
 */
export type OutboxOp = { c: number; f: unknown } | { c: number; j: string } | { c: number; x: [code: number, reason: string] } | { c: number; a: number };
