import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { z } from 'zod';
import type { Logger } from 'pino';
import type { IceServerConfig } from '@opencall/protocol';
import type { Clock } from './clock.js';
import type { GroupStore } from './groups/group-store.js';
import type { MultiDevice } from './sessions/session-registry.js';
import { parseTrustProxy, type TrustProxy } from './http/client-address.js';
import { checkIceConfig, DEFAULT_TURN_TTL_SECONDS, MAX_TURN_TTL_SECONDS, MIN_TURN_TTL_SECONDS } from './ice/ice-servers.js';

/** Options of {@link startServer}. Only `sdkAppId` and `secretKey` are required. */
export interface ServerOptions {
  /** TCP port; 0 picks any free port. Default 8080. */
  port?: number;
  /** Interface to listen on. Default 127.0.0.1 (loopback only: put a TLS proxy in front for the internet). */
  host?: string;
  /**
   * Proxies trusted to name the client in X-Forwarded-For (per-address limits then apply to the
   * named client, not the proxy). Default false: the socket's peer is the client.
   */
  trustProxy?: TrustProxy;
  /** The SDKAppID UserSigs must be issued for. */
  sdkAppId: number;
  /** The secret key UserSigs are signed with (tls-sig-api-v2). */
  secretKey: string;
  /** Most invitees one call may have. Default 16. */
  maxInvitees?: number;
  /**
   * How long a user whose connection dropped stays present (calls kept, events buffered) for
   * the client to reconnect and resume, in ms. Default 10000; 0 ends their calls at once.
   */
  reconnectGraceMs?: number;
  /** Janus WebSocket API URL (`ws://host:8188`): group calls then go through the Janus VideoRoom SFU. */
  janusUrl?: string;
  /** Janus `api_secret`, if Janus is configured with one. */
  janusApiSecret?: string;
  /** Most people in an SFU call. Default 16. */
  sfuMaxParticipants?: number;
  /** Most people in a mesh call (every pair has its own connection). Default 4. */
  meshMaxParticipants?: number;
  /** Identifier whose UserSig grants access to the admin REST API. Default 'administrator'. */
  adminUserID?: string;
  /** Hand out UserSigs at POST /v1/dev/usersig (the demo's login). Development only. Default false. */
  devUserSig?: boolean;
  /** Serve this folder at `/` (the built demo app). Default none. */
  staticDir?: string;
  /** STUN/TURN servers handed to clients at login. Default none (host candidates only). */
  iceServers?: IceServerConfig[];
  /** coturn's `static-auth-secret`: TURN entries of `iceServers` without credentials get per-user ones (TURN REST API). */
  turnSecret?: string;
  /** Lifetime of those TURN credentials in seconds. Default 3600. */
  turnTtl?: number;
  /** Serve Prometheus metrics at `GET /metrics`. Default true. */
  metrics?: boolean;
  /** A pino logger to use, or a level for the built-in one. Default level 'info'. */
  logger?: Logger;
  logLevel?: string;
  /** Time source for invitation timeouts (tests inject a manual clock). */
  clock?: Clock;
  /** Group membership store. Default: in memory. */
  groups?: GroupStore;
  /** Folder for the call records database (`opencall.sqlite`). Default none: records kept in memory. */
  dataDir?: string;
  /** PostgreSQL URL for call records, used instead of SQLite when set (docs/records.md). */
  databaseUrl?: string;
  /**
   * A user logged in on several devices at once: 'kick' (default, the spec's behaviour: a new
   * login kicks the older one) or 'ring-all' (every device rings; the first to answer takes the
   * call, the others stop ringing with reason "answered elsewhere").
   */
  multiDevice?: MultiDevice;
  /** Redis URL: every node given the same one acts as one server (docs/deployment.md, "Several nodes"). */
  redisUrl?: string;
  /** Prefix of every Redis key and channel, so deployments can share a Redis. Default '{opencall}:'. */
  redisPrefix?: string;
  /** This node's name in the cluster (unique). Default: host name, pid and a random suffix. */
  nodeId?: string;
  /**
   * How long the node running the call core holds it without renewing (ms): the longest a
   * cluster waits before another node takes over from one that died. Default 5000.
   */
  clusterLeaseMs?: number;

  // Bounds on what one socket can make the server hold (issue 11; docs/security.md).
  /** A socket whose unsent bytes pass this is closed (close code 4006, slow consumer). Default 4 MiB. */
  maxSendBufferBytes?: number;
  /** A socket that has not logged in this long after opening is closed (4004). Default 10000 ms. */
  loginTimeoutMs?: number;
  /** Most open sockets per client address (0: no cap); beyond, the upgrade gets HTTP 429. Default 1000. */
  maxConnectionsPerAddress?: number;
  /** Most open sockets in total (0: no cap); beyond, the upgrade gets HTTP 503. Default 200000. */
  maxConnections?: number;
  /** Interval of the heartbeat ping; a socket that did not answer the previous one is dropped. Default 30000 ms. */
  heartbeatMs?: number;
}

/** Options after defaults. */
export interface ResolvedOptions extends Required<Omit<ServerOptions, 'logger' | 'logLevel' | 'clock' | 'groups' | 'staticDir' | 'dataDir' | 'databaseUrl' | 'turnSecret' | 'janusUrl' | 'janusApiSecret' | 'redisUrl'>> {
  redisUrl: string | undefined;
  turnSecret: string | undefined;
  janusUrl: string | undefined;
  janusApiSecret: string | undefined;
  staticDir: string | undefined;
  dataDir: string | undefined;
  databaseUrl: string | undefined;
  logLevel: string;
}

const DEV_SECRET = 'opencall-dev-secret-do-not-use-in-production';
const DEV_SDKAPPID = 1400000000;

const iceServersSchema = z.array(
  z.object({ urls: z.union([z.string(), z.array(z.string())]), username: z.string().optional(), credential: z.string().optional() }),
);

const envSchema = z.object({
  OPENCALL_PORT: z.coerce.number().int().min(0).max(65535).default(8080),
  OPENCALL_HOST: z.string().min(1).default('127.0.0.1'),
  OPENCALL_TRUST_PROXY: z.string().optional(),
  OPENCALL_SDKAPPID: z.coerce.number().int().min(0).max(2 ** 32).optional(),
  OPENCALL_SECRET: z.string().min(1).optional(),
  OPENCALL_MAX_INVITEES: z.coerce.number().int().min(1).max(256).default(16),
  OPENCALL_RECONNECT_GRACE_MS: z.coerce.number().int().min(0).max(10 * 60_000).default(10_000),
  OPENCALL_JANUS_URL: z.string().regex(/^wss?:\/\//, 'must be a ws:// or wss:// URL').optional(),
  OPENCALL_JANUS_SECRET: z.string().min(1).optional(),
  OPENCALL_SFU_MAX: z.coerce.number().int().min(2).max(64).default(16),
  OPENCALL_MESH_MAX: z.coerce.number().int().min(2).max(16).default(4),
  OPENCALL_DEV_USERSIG: z.enum(['0', '1', 'true', 'false']).optional(),
  OPENCALL_STATIC_DIR: z.string().optional(),
  OPENCALL_ADMIN_ID: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/).default('administrator'),
  OPENCALL_ICE_SERVERS: z.string().optional(),
  OPENCALL_TURN_SECRET: z.string().min(1).optional(),
  OPENCALL_TURN_TTL: z.coerce.number().int().min(MIN_TURN_TTL_SECONDS).max(MAX_TURN_TTL_SECONDS).default(DEFAULT_TURN_TTL_SECONDS),
  OPENCALL_METRICS: z.enum(['0', '1', 'true', 'false']).default('1'),
  OPENCALL_DATA_DIR: z.string().default('./.data'),
  OPENCALL_DATABASE_URL: z.string().regex(/^postgres(ql)?:\/\//, 'must be a postgres:// or postgresql:// URL').optional(),
  OPENCALL_MULTI_DEVICE: z.enum(['kick', 'ring-all']).default('kick'),
  OPENCALL_REDIS_URL: z.string().regex(/^rediss?:\/\//, 'must be a redis:// or rediss:// URL').optional(),
  OPENCALL_REDIS_PREFIX: z.string().min(1).max(64).default('{opencall}:'),
  OPENCALL_NODE_ID: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, 'letters, digits, _ . - (at most 64)').optional(),
  OPENCALL_CLUSTER_LEASE_MS: z.coerce.number().int().min(500).max(60_000).default(5000),
  OPENCALL_MAX_SEND_BUFFER_BYTES: z.coerce.number().int().min(64 * 1024).max(1024 * 1024 * 1024).default(4 * 1024 * 1024),
  OPENCALL_LOGIN_TIMEOUT_MS: z.coerce.number().int().min(100).max(10 * 60_000).default(10_000),
  OPENCALL_MAX_CONNECTIONS_PER_IP: z.coerce.number().int().min(0).default(1000),
  OPENCALL_MAX_CONNECTIONS: z.coerce.number().int().min(0).default(200_000),
  OPENCALL_HEARTBEAT_MS: z.coerce.number().int().min(100).max(10 * 60_000).default(30_000),
  OPENCALL_LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  NODE_ENV: z.string().optional(),
});

/** Result of reading the environment: options, plus warnings to print loudly. */
export interface EnvConfig { options: ServerOptions; warnings: string[] }

/**
 * Reads `OPENCALL_*` variables. Throws an Error listing every bad variable (so a
 * misconfigured server refuses to start instead of half-working).
 */
export function loadConfigFromEnv(env: NodeJS.ProcessEnv = process.env): EnvConfig {
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`);
    throw new Error(`invalid configuration:\n${lines.join('\n')}`);
  }
  const e = parsed.data;
  const warnings: string[] = [];
  let secretKey = e.OPENCALL_SECRET;
  if (!secretKey) {
    if (e.NODE_ENV === 'production') throw new Error('invalid configuration:\n  OPENCALL_SECRET: required when NODE_ENV=production');
    secretKey = DEV_SECRET;
    warnings.push(
      'OPENCALL_SECRET is not set: using the public development secret. Anyone can sign UserSigs for this server. Set OPENCALL_SECRET before real users connect.',
    );
  }
  // Dev UserSigs follow the dev secret unless said otherwise: a demo that just works on `npm start`.
  const devUserSig = e.OPENCALL_DEV_USERSIG !== undefined ? e.OPENCALL_DEV_USERSIG === '1' || e.OPENCALL_DEV_USERSIG === 'true' : secretKey === DEV_SECRET;
  if (devUserSig) {
    if (e.NODE_ENV === 'production') throw new Error('invalid configuration:\n  OPENCALL_DEV_USERSIG: must be off when NODE_ENV=production');
    warnings.push('Development UserSigs are on (POST /v1/dev/usersig): anyone can log in as anyone. Turn off with OPENCALL_DEV_USERSIG=0.');
  }
  let trustProxy: TrustProxy;
  try {
    trustProxy = parseTrustProxy(e.OPENCALL_TRUST_PROXY);
  } catch (err) {
    throw new Error(`invalid configuration:\n  OPENCALL_TRUST_PROXY: ${(err as Error).message}`);
  }
  let iceServers: IceServerConfig[] = [];
  if (e.OPENCALL_ICE_SERVERS) {
    iceServers = parseIceServers(e.OPENCALL_ICE_SERVERS);
  }
  if (e.OPENCALL_REDIS_URL && !e.OPENCALL_DATABASE_URL && e.OPENCALL_DATA_DIR !== '') {
    warnings.push(
      'OPENCALL_REDIS_URL without OPENCALL_DATABASE_URL: each node keeps call records in its own SQLite file, so history depends on which node runs the call core. Set OPENCALL_DATABASE_URL (PostgreSQL) for several nodes.',
    );
  }
  const ice = checkIceConfig({ iceServers, turnSecret: e.OPENCALL_TURN_SECRET, turnTtl: e.OPENCALL_TURN_TTL });
  if (ice.errors.length > 0) throw new Error(`invalid configuration:\n${ice.errors.map((m) => `  OPENCALL_ICE_SERVERS: ${m}`).join('\n')}`);
  warnings.push(...ice.warnings);
  return {
    options: {
      port: e.OPENCALL_PORT,
      host: e.OPENCALL_HOST,
      trustProxy,
      sdkAppId: e.OPENCALL_SDKAPPID ?? DEV_SDKAPPID,
      secretKey,
      maxInvitees: e.OPENCALL_MAX_INVITEES,
      meshMaxParticipants: e.OPENCALL_MESH_MAX,
      sfuMaxParticipants: e.OPENCALL_SFU_MAX,
      ...(e.OPENCALL_JANUS_URL !== undefined && { janusUrl: e.OPENCALL_JANUS_URL }),
      ...(e.OPENCALL_JANUS_SECRET !== undefined && { janusApiSecret: e.OPENCALL_JANUS_SECRET }),
      reconnectGraceMs: e.OPENCALL_RECONNECT_GRACE_MS,
      adminUserID: e.OPENCALL_ADMIN_ID,
      devUserSig,
      ...(e.OPENCALL_STATIC_DIR !== undefined && { staticDir: e.OPENCALL_STATIC_DIR }),
      iceServers,
      ...(e.OPENCALL_TURN_SECRET !== undefined && { turnSecret: e.OPENCALL_TURN_SECRET }),
      turnTtl: e.OPENCALL_TURN_TTL,
      metrics: e.OPENCALL_METRICS === '1' || e.OPENCALL_METRICS === 'true',
      logLevel: e.OPENCALL_LOG_LEVEL,
      // An empty OPENCALL_DATA_DIR keeps call records in memory.
      ...(e.OPENCALL_DATA_DIR !== '' && { dataDir: e.OPENCALL_DATA_DIR }),
      ...(e.OPENCALL_DATABASE_URL !== undefined && { databaseUrl: e.OPENCALL_DATABASE_URL }),
      multiDevice: e.OPENCALL_MULTI_DEVICE,
      ...(e.OPENCALL_REDIS_URL !== undefined && { redisUrl: e.OPENCALL_REDIS_URL }),
      redisPrefix: e.OPENCALL_REDIS_PREFIX,
      ...(e.OPENCALL_NODE_ID !== undefined && { nodeId: e.OPENCALL_NODE_ID }),
      clusterLeaseMs: e.OPENCALL_CLUSTER_LEASE_MS,
      maxSendBufferBytes: e.OPENCALL_MAX_SEND_BUFFER_BYTES,
      loginTimeoutMs: e.OPENCALL_LOGIN_TIMEOUT_MS,
      maxConnectionsPerAddress: e.OPENCALL_MAX_CONNECTIONS_PER_IP,
      maxConnections: e.OPENCALL_MAX_CONNECTIONS,
      heartbeatMs: e.OPENCALL_HEARTBEAT_MS,
    },
    warnings,
  };
}

/** `OPENCALL_ICE_SERVERS`: either JSON (an RTCIceServer array) or a comma-separated list of URLs. */
function parseIceServers(text: string): IceServerConfig[] {
  const trimmed = text.trim();
  if (trimmed.startsWith('[')) {
    let json: unknown;
    try {
      json = JSON.parse(trimmed);
    } catch {
      throw new Error('invalid configuration:\n  OPENCALL_ICE_SERVERS: not valid JSON');
    }
    const r = iceServersSchema.safeParse(json);
    if (!r.success) throw new Error(`invalid configuration:\n  OPENCALL_ICE_SERVERS: ${r.error.issues[0]?.message}`);
    return r.data;
  }
  return trimmed.split(',').map((u) => u.trim()).filter(Boolean).map((urls) => ({ urls }));
}

export function resolveOptions(o: ServerOptions): ResolvedOptions {
  if (!Number.isInteger(o.sdkAppId) || o.sdkAppId < 0) throw new Error('sdkAppId must be a non-negative integer');
  if (typeof o.secretKey !== 'string' || o.secretKey.length === 0) throw new Error('secretKey is required');
  return {
    port: o.port ?? 8080,
    host: o.host ?? '127.0.0.1',
    trustProxy: o.trustProxy ?? false,
    sdkAppId: o.sdkAppId,
    secretKey: o.secretKey,
    maxInvitees: o.maxInvitees ?? 16,
    meshMaxParticipants: o.meshMaxParticipants ?? 4,
    sfuMaxParticipants: o.sfuMaxParticipants ?? 16,
    janusUrl: o.janusUrl,
    janusApiSecret: o.janusApiSecret,
    reconnectGraceMs: o.reconnectGraceMs ?? 10_000,
    adminUserID: o.adminUserID ?? 'administrator',
    devUserSig: o.devUserSig ?? false,
    staticDir: o.staticDir,
    iceServers: o.iceServers ?? [],
    turnSecret: o.turnSecret,
    turnTtl: o.turnTtl ?? DEFAULT_TURN_TTL_SECONDS,
    metrics: o.metrics ?? true,
    logLevel: o.logLevel ?? 'info',
    dataDir: o.dataDir,
    databaseUrl: o.databaseUrl,
    multiDevice: o.multiDevice ?? 'kick',
    redisUrl: o.redisUrl,
    redisPrefix: o.redisPrefix ?? '{opencall}:',
    nodeId: o.nodeId ?? `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`,
    clusterLeaseMs: o.clusterLeaseMs ?? 5000,
    maxSendBufferBytes: o.maxSendBufferBytes ?? 4 * 1024 * 1024,
    loginTimeoutMs: o.loginTimeoutMs ?? 10_000,
    maxConnectionsPerAddress: o.maxConnectionsPerAddress ?? 1000,
    maxConnections: o.maxConnections ?? 200_000,
    heartbeatMs: o.heartbeatMs ?? 30_000,
  };
}
