import type { Logger } from 'pino';
import type { Redis as RedisClient } from 'ioredis';
import { importOptional } from '../optional-packages.js';
import { redactUrl } from '../log.js';
import type { CallCore } from '../core/call-core.js';
import type { GroupAdmin, MemoryGroupStore } from '../groups/group-store.js';
import type { Session } from '../sessions/session.js';
import { CoreRunner } from './core-runner.js';
import { GatewayLink } from './gateway-link.js';
import { clusterGroupAdmin } from './group-admin.js';
import { clusterKeys } from './keys.js';
import { claimLayout } from './layout.js';
import { withScripts } from './scripts.js';

export interface ClusterNodeOptions {
  redisUrl: string;
  /** CA certificate(s), PEM, to trust for a `rediss://` URL (a private CA or a self-signed Redis certificate). */
  redisTlsCa?: string;
  prefix: string;
  nodeId: string;
  /** Lease of the call core (ms): how long a dead node can hold it. */
  leaseMs: number;
  log: Logger;
  buildCore: (groups: MemoryGroupStore) => CallCore;
  /** The node starts or stops running the call core (undefined: it stopped). */
  onCore: (core: CallCore | undefined) => void;
  sessionById: (id: number) => Session | undefined;
}

export interface ClusterNode {
  readonly nodeId: string;
  /** What this node's sockets talk to. */
  readonly link: GatewayLink;
  readonly groupAdmin: GroupAdmin;
  /** Whether this node runs the call core right now. */
  readonly leading: boolean;
  /** Resolves when Redis answers a PING on this node's command connection (readiness). */
  ping(): Promise<unknown>;
  /** Hands the call core over (if it runs here) and leaves the cluster. */
  close(): Promise<void>;
}

/**
 * One node of a cluster (issue 5, "Several nodes"). Every node holds sockets, checks UserSigs
 * and validates messages; one of them at a time, the holder of a lease in Redis, runs the call
 * core, whose whole state lives in Redis. If that node dies, another takes the lease when it
 * runs out and carries on from the last commit: calls, timers and resumable sessions included.
 * See docs/deployment.md.
 */
export async function startClusterNode(o: ClusterNodeOptions): Promise<ClusterNode> {
  const keys = clusterKeys(o.prefix);
  // ioredis is an optional peer dependency: only a cluster node loads it.
  const { Redis } = await importOptional<{ Redis: typeof RedisClient }>('ioredis', { why: 'OPENCALL_REDIS_URL is set (several nodes on Redis)' });
  // Password and TLS come in the URL (rediss://:password@host:port); a private CA in redisTlsCa.
  const tls = o.redisTlsCa !== undefined ? { tls: { ca: o.redisTlsCa } } : {};
  const redisOptions = { lazyConnect: true, maxRetriesPerRequest: 2, enableAutoPipelining: true, ...tls } as const;
  const redis = withScripts(new Redis(o.redisUrl, redisOptions));
  const sub = new Redis(o.redisUrl, { lazyConnect: true, ...tls });
  // The first error says why a connection failed (wrong password, untrusted certificate); connect() only says it closed.
  let firstError: string | undefined;
  const onError = (name: string) => (err: Error) => {
    firstError ??= err.message;
    o.log.warn({ err: err.message, connection: name }, 'cluster: Redis connection error');
  };
  redis.on('error', onError('commands'));
  sub.on('error', onError('subscriber'));
  const openReader = () => new Redis(o.redisUrl, { maxRetriesPerRequest: 2, ...tls }).on('error', onError('reader'));
  try {
    await Promise.all([redis.connect(), sub.connect()]);
  } catch (err) {
    redis.disconnect();
    sub.disconnect();
    const why = firstError && firstError !== (err as Error).message ? `${firstError} (${(err as Error).message})` : (err as Error).message;
    throw new Error(`cannot reach Redis at ${redactUrl(o.redisUrl)}: ${why}`);
  }
  try {
    await claimLayout(redis, keys.layout, o.prefix);
  } catch (err) {
    redis.disconnect();
    sub.disconnect();
    throw err;
  }
  const log = o.log.child({ node: o.nodeId });
  const beatMs = Math.max(100, Math.floor(o.leaseMs / 5));
  const nodeTimeoutMs = Math.max(3 * beatMs, o.leaseMs);

  await sub.subscribe(keys.out(o.nodeId));
  sub.on('message', (_channel: string, message: string) => GatewayLink.deliver(message, o.sessionById, log));
  const link = new GatewayLink(redis, keys, o.nodeId, log);

  let runner: CoreRunner | undefined;
  let closed = false;
  let tick: Promise<void> = Promise.resolve();

  const beat = () => redis.ocBeat(keys.nodes, o.nodeId).catch(() => undefined);
  await beat();

  /** Heartbeat, and the lease: renew it if held, else try to take it. */
  const step = async () => {
    if (closed) return;
    await beat();
    if (runner?.running) {
      const held = await redis.ocRenew(keys.leader, o.nodeId, o.leaseMs).catch(() => 0);
      if (!held && runner.running) {
        // Another node may already be running the core: stop at once, without committing.
        await runner.stop(false);
        runner = undefined;
        o.onCore(undefined);
        log.warn({ event: 'cluster.lease_lost' }, 'cluster: lost the lease');
      }
      return;
    }
    runner = undefined;
    const got = await redis.set(keys.leader, o.nodeId, 'PX', o.leaseMs, 'NX').catch(() => null);
    if (got !== 'OK' || closed) return;
    const r = new CoreRunner({
      nodeId: o.nodeId,
      keys,
      redis,
      openReader,
      buildCore: o.buildCore,
      log,
      nodeTimeoutMs,
      onStepDown: () => {
        if (runner === r) {
          runner = undefined;
          o.onCore(undefined);
        }
      },
    });
    runner = r;
    o.onCore(r.core);
    try {
      await r.start();
    } catch (err) {
      log.error({ err }, 'cluster: taking over the call core failed');
      await r.stop(false);
      if (runner === r) {
        runner = undefined;
        o.onCore(undefined);
      }
      await redis.ocRelease(keys.leader, o.nodeId).catch(() => undefined);
    }
  };
  const timer = setInterval(() => {
    tick = tick.then(step, step);
  }, beatMs);
  timer.unref();
  tick = step();
  await tick;

  return {
    nodeId: o.nodeId,
    link,
    groupAdmin: clusterGroupAdmin(redis, keys),
    get leading() {
      return runner?.running ?? false;
    },
    ping: () => redis.ping(),
    async close() {
      closed = true;
      clearInterval(timer);
      await tick.catch(() => undefined);
      // Let the disconnects of this node's sockets reach the inbox before handing over.
      await new Promise((r) => setTimeout(r, 50));
      if (runner) {
        await runner.stop(true);
        runner = undefined;
        o.onCore(undefined);
        await redis.ocRelease(keys.leader, o.nodeId).catch(() => undefined);
      }
      await redis.zrem(keys.nodes, o.nodeId).catch(() => undefined);
      await Promise.all([redis.quit(), sub.quit()].map((p) => p.catch(() => undefined)));
    },
  };
}
