import type { Logger } from 'pino';
import type { Redis } from 'ioredis';
import type { CallSnapshot } from '../calls/call.js';
import type { CallCore } from '../core/call-core.js';
import { MemoryGroupStore } from '../groups/group-store.js';
import type { LiveCallSnapshot } from '../records/recorder.js';
import { BACKLOG_LIMIT, BACKLOG_MS, type BacklogEntry, type PresenceSnapshot } from '../sessions/session-registry.js';
import type { CoreMessage } from '../transport/message-router.js';
import type { ClusterKeys, InboxEntry } from './keys.js';
import { Outbox, RemoteConn } from './remote-conn.js';
import type { ClusterRedis } from './scripts.js';

/** Close code for a connection whose session the core gave up (a WebSocket "try again later"). */
const CLOSE_SESSION_LOST = 1013;
/** Inbox entries read per round trip. */
const READ_COUNT = 512;
/** How long an idle read waits in Redis for new entries (ms). */
const READ_BLOCK_MS = 1000;
/** A backlog nobody resumed from is dropped from Redis after this long (ms). */
const BACKLOG_TTL_MS = 2 * BACKLOG_MS;

interface StoredCall {
  call: CallSnapshot;
  rec?: LiveCallSnapshot;
}

export interface CoreRunnerOptions {
  nodeId: string;
  keys: ClusterKeys;
  /** Commands and commits. */
  redis: ClusterRedis;
  /** Opens the connection of its own the blocking inbox read needs (closed on stop). */
  openReader: () => Redis;
  buildCore: (groups: MemoryGroupStore) => CallCore;
  log: Logger;
  /** How old a node's last heartbeat may be before its connections count as lost (ms). */
  nodeTimeoutMs: number;
  /** The runner stopped by itself (lost the lease, or Redis failed under it). */
  onStepDown: (why: string) => void;
}

/**
 * Runs the call core on the node holding the lease: takes the state over from Redis, then
 * applies the inbox in order. Every batch of effects (state changes, the frames they produced
 * and how far the inbox was read) is committed in one fenced Lua script, so a node that takes
 * over later starts exactly where the last commit left off: nothing done twice, nothing lost.
 */
export class CoreRunner {
  readonly core: CallCore;
  private readonly groups = new MemoryGroupStore();
  private readonly conns = new Map<string, RemoteConn>();
  private readonly outbox = new Outbox(() => this.scheduleCommit());
  private readonly dirtyCalls = new Set<string>();
  /** Connections with messages handled since the last commit: they get an acknowledgement. */
  private readonly toAck = new Set<RemoteConn>();
  private readonly dirtyUsers = new Set<string>();
  /** Backlog keys to empty, and entries to append, since the last commit. */
  private readonly resetBacklogs = new Set<string>();
  private readonly newBacklog = new Map<string, BacklogEntry[]>();
  private cursor = '0-0';
  private cursorDirty = false;
  private active = true;
  private commitQueued = false;
  private commits: Promise<void> = Promise.resolve();
  private sweepTimer: NodeJS.Timeout | undefined;
  private loop: Promise<void> | undefined;
  private readonly reader: Redis;

  constructor(private readonly o: CoreRunnerOptions) {
    this.core = o.buildCore(this.groups);
    this.reader = o.openReader();
  }

  get running(): boolean {
    return this.active;
  }

  /** Loads the state the previous core left, then starts reading the inbox. */
  async start(): Promise<void> {
    const { redis, keys, log } = this.o;
    const [calls, users, groups, cursor] = (await redis.multi().hgetall(keys.calls).hgetall(keys.users).hgetall(keys.groups).get(keys.cursor).exec())!.map(
      ([err, v]) => {
        if (err) throw err;
        return v;
      },
    ) as [Record<string, string>, Record<string, string>, Record<string, string>, string | null];
    for (const [id, json] of Object.entries(groups)) this.groups.put(id, membersOf(JSON.parse(json)));
    const presences = Object.values(users).flatMap((json) => JSON.parse(json) as PresenceSnapshot[]);
    const backlogs = presences.length > 0 ? ((await presences.reduce((p, s) => p.lrange(keys.backlog(s.userID, s.device), 0, -1), redis.pipeline()).exec()) ?? []) : [];
    const { registry, engine, records, router } = this.core;
    registry.restore(
      presences.map((presence, i) => ({ presence, backlog: ((backlogs[i]?.[1] as string[] | undefined) ?? []).map((e) => JSON.parse(e) as BacklogEntry) })),
      (id, userID, device) => {
        const conn = this.connFor(String(id));
        conn.userID = userID;
        conn.device = device;
        return conn;
      },
      router.graceExpired,
    );
    const stored = Object.values(calls).map((json) => JSON.parse(json) as StoredCall);
    const restored = engine.restore(stored.map((s) => s.call));
    for (const s of stored) if (s.rec) records?.restore(s.call.inviteID, s.rec);
    this.cursor = cursor ?? '0-0';
    this.observe();
    // An SFU call cannot be handed over: its Janus handles belonged to the node that is gone.
    for (const call of restored) if (call.mediaPath === 'sfu') engine.endCall(call.inviteID, 'disconnected');
    // Records left open by a core that died before committing them are closed; the calls handed over stay open.
    records?.closeOrphans(new Set(restored.filter((c) => !c.ended).map((c) => c.inviteID))).catch((err) => log.error({ err }, 'cluster: closing orphaned call records failed'));
    log.info({ event: 'cluster.core_started', node: this.o.nodeId, calls: restored.length, users: presences.length, cursor: this.cursor }, 'this node runs the call core now');
    this.sweepDeadNodes();
    this.sweepTimer = setInterval(() => this.sweepDeadNodes(), Math.max(250, this.o.nodeTimeoutMs / 3));
    this.sweepTimer.unref();
    this.loop = this.readLoop();
  }

  /** Stops, committing what is done so far when `commit` (a clean hand-over). */
  async stop(commit: boolean): Promise<void> {
    if (!this.active) return;
    if (commit) await this.commit();
    this.halt();
    await this.loop?.catch(() => undefined);
    await this.core.close().catch(() => undefined);
  }

  /** Drops everything at once: another node owns the state now (or soon will). */
  private halt(): void {
    if (!this.active) return;
    this.active = false;
    clearInterval(this.sweepTimer);
    this.core.engine.dispose();
    this.core.registry.dispose();
    // Ends a read blocked in Redis at once.
    this.reader.disconnect();
  }

  private stepDown(why: string): void {
    if (!this.active) return;
    this.o.log.warn({ event: 'cluster.core_stopped', node: this.o.nodeId, why }, `this node stops running the call core: ${why}`);
    this.halt();
    void this.core.close().catch(() => undefined);
    this.o.onStepDown(why);
  }

  private observe(): void {
    const { engine, registry } = this.core;
    const dirty = (call: { inviteID: string }) => {
      this.dirtyCalls.add(call.inviteID);
      this.scheduleCommit();
    };
    engine.events.on('callCreated', dirty);
    engine.events.on('memberChanged', dirty);
    engine.events.on('callEnded', dirty);
    engine.events.on('callUpdated', dirty);
    registry.observer = {
      presenceChanged: (userID) => {
        this.dirtyUsers.add(userID);
        this.scheduleCommit();
      },
      backlogAdded: (userID, device, entry) => {
        const key = this.o.keys.backlog(userID, device);
        const list = this.newBacklog.get(key);
        if (list) list.push(entry);
        else this.newBacklog.set(key, [entry]);
      },
      backlogReset: (userID, device) => {
        const key = this.o.keys.backlog(userID, device);
        this.resetBacklogs.add(key);
        this.newBacklog.delete(key);
      },
    };
  }

  private async readLoop(): Promise<void> {
    const { keys, log } = this.o;
    const reader = this.reader;
    while (this.active) {
      let res: [string, [string, string[]][]][] | null;
      try {
        res = (await reader.xread('COUNT', READ_COUNT, 'BLOCK', READ_BLOCK_MS, 'STREAMS', keys.inbox, this.cursor)) as typeof res;
      } catch (err) {
        if (!this.active) return;
        log.error({ err }, 'cluster: reading the inbox failed');
        await new Promise((r) => setTimeout(r, 200));
        continue;
      }
      if (!this.active) return;
      if (res) {
        for (const [, entries] of res) {
          for (const [id, fields] of entries) {
            this.apply(fields);
            this.cursor = id;
          }
        }
        this.cursorDirty = true;
      }
      await this.commit();
    }
  }

  /** One inbox entry: runs synchronously, like a message on a single node. */
  private apply(fields: string[]): void {
    let e: InboxEntry;
    try {
      e = JSON.parse(fields[fields.indexOf('e') + 1] ?? 'null') as InboxEntry;
    } catch {
      this.o.log.error({ fields }, 'cluster: unreadable inbox entry skipped');
      return;
    }
    if (e.k === 'g') {
      if (e.members === null) this.groups.delete(e.g);
      else this.groups.put(e.g, membersOf(e.members));
      return;
    }
    const key = RemoteConn.key(e.n, e.c);
    const { router } = this.core;
    if (e.k === 'm') {
      if (e.s === 1 && !this.conns.has(key)) {
        // The node thinks this connection is logged in, but its session is not here: it was
        // given up (its node stopped beating for a while). Close it: the client reconnects
        // and resumes or logs in afresh, instead of being told it is not logged in.
        const lost = this.connFor(key);
        lost.close(CLOSE_SESSION_LOST, 'session lost; reconnect');
        this.conns.delete(key);
        return;
      }
      const conn = this.connFor(key);
      // The node holds back its own refusals of frames sent after message q-1 until it knows
      // every answer to messages up to q-1 is out: tell it before answering q.
      if (this.toAck.has(conn)) conn.acknowledge();
      router.dispatch(conn, e.m as CoreMessage);
      conn.lastQ = e.q;
      this.toAck.add(conn);
      return;
    }
    const conn = this.conns.get(key);
    if (!conn) return;
    if (e.k === 'x') return router.sigExpired(conn);
    this.conns.delete(key);
    router.disconnected(conn);
  }

  private connFor(key: string): RemoteConn {
    let conn = this.conns.get(key);
    if (!conn) {
      const at = RemoteConn.parse(key);
      if (!at) throw new Error(`bad connection key ${key}`);
      conn = new RemoteConn(key, at.node, at.connId, this.outbox);
      this.conns.set(key, conn);
    }
    return conn;
  }

  /** Connections of nodes that stopped beating are lost: their users get the reconnect grace period. */
  private sweepDeadNodes(): void {
    const { redis, keys, nodeTimeoutMs } = this.o;
    redis
      .ocStale(keys.nodes, nodeTimeoutMs)
      .then((dead) => {
        if (!this.active || dead.length === 0) return;
        const gone = new Set(dead);
        for (const [key, conn] of [...this.conns]) {
          if (!gone.has(conn.node)) continue;
          this.conns.delete(key);
          this.core.router.disconnected(conn);
        }
        this.o.log.warn({ event: 'cluster.nodes_lost', nodes: dead }, 'cluster: nodes stopped beating; their users may reconnect elsewhere');
        return redis.zrem(keys.nodes, ...dead);
      })
      .catch((err) => this.o.log.warn({ err }, 'cluster: node sweep failed'));
  }

  private scheduleCommit(): void {
    if (this.commitQueued || !this.active) return;
    this.commitQueued = true;
    setImmediate(() => void this.commit());
  }

  /** Commits everything done so far (chained: commits never overlap or reorder). */
  private commit(): Promise<void> {
    this.commits = this.commits.then(() => this.commitNow());
    return this.commits;
  }

  private async commitNow(): Promise<void> {
    this.commitQueued = false;
    if (!this.active) return;
    const ops = this.collect();
    if (ops.length === 0) return;
    let ok: number;
    try {
      ok = await this.o.redis.ocCommit(this.o.keys.leader, this.o.nodeId, JSON.stringify(ops));
    } catch (err) {
      this.o.log.error({ err }, 'cluster: commit failed');
      // Whether it was applied is unknown: the state in Redis is the truth, so hand over.
      return this.stepDown('a commit to Redis failed');
    }
    if (ok !== 1) this.stepDown('another node holds the lease');
  }

  /** The Redis commands for everything changed since the last commit (state first, then frames). */
  private collect(): string[][] {
    const { keys } = this.o;
    const { engine, registry, records } = this.core;
    const ops: string[][] = [];
    for (const id of this.dirtyCalls) {
      const call = engine.snapshot(id);
      if (!call) ops.push(['HDEL', keys.calls, id]);
      else {
        const rec = records?.snapshot(id);
        ops.push(['HSET', keys.calls, id, JSON.stringify(rec ? { call, rec } : { call })]);
      }
    }
    this.dirtyCalls.clear();
    for (const key of this.resetBacklogs) ops.push(['DEL', key]);
    this.resetBacklogs.clear();
    for (const [key, entries] of this.newBacklog) {
      ops.push(['RPUSH', key, ...entries.map((e) => JSON.stringify(e))], ['LTRIM', key, String(-BACKLOG_LIMIT), '-1'], ['PEXPIRE', key, String(BACKLOG_TTL_MS)]);
    }
    this.newBacklog.clear();
    for (const userID of this.dirtyUsers) {
      const p = registry.snapshot(userID);
      // A dropped device's backlog is left to expire (BACKLOG_TTL_MS).
      if (p) ops.push(['HSET', keys.users, userID, JSON.stringify(p)]);
      else ops.push(['HDEL', keys.users, userID]);
    }
    this.dirtyUsers.clear();
    if (this.cursorDirty) {
      ops.push(['SET', keys.cursor, this.cursor], ['XTRIM', keys.inbox, 'MINID', this.cursor]);
      this.cursorDirty = false;
    }
    // After the frames: an answer produced later (SFU, PostgreSQL) does not hold refusals back.
    for (const conn of this.toAck) conn.acknowledge();
    this.toAck.clear();
    for (const [node, frames] of this.outbox.take()) ops.push(['PUBLISH', keys.out(node), JSON.stringify(frames)]);
    return ops;
  }
}

/** cjson turns an empty array into `{}`: a member list is whatever array there is. */
function membersOf(v: unknown): string[] {
  return Array.isArray(v) ? (v as string[]) : [];
}
