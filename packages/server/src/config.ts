import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { isIPv4 } from 'node:net';
import { hostname } from 'node:os';
import { z } from 'zod';
import type { Logger } from 'pino';
import type { IceServerConfig } from '@opencall/protocol';
import type { Clock } from './clock.js';
import type { GroupStore } from './groups/group-store.js';
import type { MultiDevice } from './sessions/session-registry.js';

/** What a groupCall's groupID means: OPENCALL_GROUPS (see ServerOptions.groupMode). */
export type GroupMode = 'labels' | 'enforced';
import { parseTrustProxy, type TrustProxy } from './http/client-address.js';
import { HISTORY_PER_MINUTE } from './transport/message-router.js';
import { DEFAULT_CALL_LIMITS as LIMITS } from './calls/call-limits.js';
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
  /**
   * A reserved identity (Tencent's REST API identity): nobody logs in as it and the dev endpoint
   * never mints it. It grants nothing: the admin API takes `adminToken`. Default 'administrator'.
   */
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
  /**
   * What a `groupID` in groupCall means (docs/migration.md, "Groups"). 'labels' (default): a
   * groupID naming no admin-API group the caller is in is only a label passed to the invitees
   * (apps migrating with Tencent IM group IDs work unchanged). 'enforced': every groupID must
   * name such a group and the invitees must be its members.
   */
  groupMode?: GroupMode;
  /** Redis URL: every node given the same one acts as one server (docs/deployment.md, "Several nodes"). */
  redisUrl?: string;
  /**
   * CA certificate(s), PEM text, trusted for a `rediss://` Redis URL besides the system's (a
   * private CA, or Redis's self-signed certificate). Default none.
   */
  redisTlsCa?: string;
  /** Prefix of every Redis key and channel, so deployments can share a Redis. Default '{opencall}:'. */
  redisPrefix?: string;
  /** This node's name in the cluster (unique). Default: host name, pid and a random suffix. */
  nodeId?: string;
  /**
   * How long the node running the call core holds it without renewing (ms): the longest a
   * cluster waits before another node takes over from one that died. Default 5000.
   */
  clusterLeaseMs?: number;
  /**
   * Allow the development secret or development UserSigs on a host other than loopback
   * (127.0.0.0/8, ::1, localhost). Default false: the server refuses to start instead.
   */
  insecureDev?: boolean;
  /**
   * Token of the admin REST API (`Authorization: Bearer <token>`), at least 32 characters.
   * Default none: the admin routes answer 403 saying how to turn them on.
   */
  adminToken?: string;
  /** Token `/metrics` requires (`Authorization: Bearer <token>`), at least 32 characters. Default none: open. */
  metricsToken?: string;
  /**
   * Serve `/metrics` (and `/healthz`) on their own listener at this port, and not on the public
   * one. Default none: `/metrics` is on the public port.
   */
  metricsPort?: number;
  /** Interface of that metrics listener. Default 127.0.0.1. */
  metricsHost?: string;
  /** Most HTTP requests per client address per window (`/healthz` excepted); 0 turns the limit off. Default 300 (an office behind one NAT address loading the app at once stays under it). */
  httpRateLimit?: number;
  /** That window in ms. Default 10000. */
  httpRateWindowMs?: number;

  // ---- Abuse limits of the call engine (docs/configuration.md, "Abuse limits") ----
  /** Invitations (invite and addInvitees requests) one user may send a minute, on average. Default 20; 0 = no limit. */
  inviteRate?: number;
  /** How many invitations one user may send at once before `inviteRate` paces them. Default 10. */
  inviteBurst?: number;
  /** Times one user may ring the same other user a minute (a flood of calls at one person is refused). Default 3; 0 = no limit. */
  ringRate?: number;
  /** Longest an invitation rings, in seconds: larger `timeout`s and `timeout: 0` ("never") ring this long. Default 120. */
  maxRingSeconds?: number;
  /** Audio/video switches one call may have (each is a record row). Default 50. */
  callMaxTypeSwitches?: number;
  /** `ready` and `sdp` relays (offers, answers) one member may send in one call. Default 1000. */
  callMaxRelays?: number;
  /** ICE candidates one member may relay in one call. Default 5000. */
  callMaxIce?: number;
  /** `history` requests one user may make a minute, after a burst of 10 (a page is a database read and up to ~25 KB). Default 60; 0 = no limit. */
  historyRate?: number;

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
export interface ResolvedOptions
  extends Required<Omit<ServerOptions, 'logger' | 'logLevel' | 'clock' | 'groups' | 'staticDir' | 'dataDir' | 'databaseUrl' | 'turnSecret' | 'janusUrl' | 'janusApiSecret' | 'redisUrl' | 'adminToken' | 'metricsToken' | 'metricsPort' | 'redisTlsCa'>> {
  redisTlsCa: string | undefined;
  adminToken: string | undefined;
  metricsToken: string | undefined;
  metricsPort: number | undefined;
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
/** Shortest secret, admin token or metrics token accepted (Tencent's keys are 64 hex characters). */
export const MIN_SECRET_LENGTH = 32;
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
  OPENCALL_GROUPS: z.enum(['labels', 'enforced']).default('labels'),
  OPENCALL_REDIS_URL: z.string().regex(/^rediss?:\/\//, 'must be a redis:// or rediss:// URL').optional(),
  OPENCALL_REDIS_TLS_CA: z.string().min(1).optional(),
  OPENCALL_REDIS_PREFIX: z.string().min(1).max(64).default('{opencall}:'),
  OPENCALL_NODE_ID: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, 'letters, digits, _ . - (at most 64)').optional(),
  OPENCALL_CLUSTER_LEASE_MS: z.coerce.number().int().min(500).max(60_000).default(5000),
  OPENCALL_INSECURE_DEV: z.enum(['0', '1', 'true', 'false']).optional(),
  OPENCALL_ADMIN_TOKEN: z.string().min(MIN_SECRET_LENGTH, `at least ${MIN_SECRET_LENGTH} characters (e.g. openssl rand -hex 32)`).optional(),
  OPENCALL_METRICS_TOKEN: z.string().min(MIN_SECRET_LENGTH, `at least ${MIN_SECRET_LENGTH} characters (e.g. openssl rand -hex 32)`).optional(),
  OPENCALL_METRICS_PORT: z.coerce.number().int().min(0).max(65535).optional(),
  OPENCALL_METRICS_HOST: z.string().min(1).default('127.0.0.1'),
  OPENCALL_HTTP_RATE: z.coerce.number().int().min(0).max(1_000_000).default(300),
  OPENCALL_HTTP_RATE_WINDOW_MS: z.coerce.number().int().min(100).max(3_600_000).default(10_000),
  OPENCALL_INVITE_RATE: z.coerce.number().int().min(0).max(100_000).default(LIMITS.inviteRatePerMinute),
  OPENCALL_INVITE_BURST: z.coerce.number().int().min(1).max(100_000).default(LIMITS.inviteBurst),
  OPENCALL_RING_RATE: z.coerce.number().int().min(0).max(100_000).default(LIMITS.ringRatePerMinute),
  OPENCALL_MAX_RING_S: z.coerce.number().int().min(1).max(24 * 3600).default(LIMITS.maxRingMs / 1000),
  OPENCALL_CALL_MAX_SWITCHES: z.coerce.number().int().min(0).max(1_000_000).default(LIMITS.maxTypeSwitches),
  OPENCALL_CALL_MAX_RELAYS: z.coerce.number().int().min(10).max(10_000_000).default(LIMITS.maxRelays),
  OPENCALL_CALL_MAX_ICE: z.coerce.number().int().min(10).max(10_000_000).default(LIMITS.maxIce),
  OPENCALL_HISTORY_RATE: z.coerce.number().int().min(0).max(1_000_000).default(HISTORY_PER_MINUTE),
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
  const insecureDev = e.OPENCALL_INSECURE_DEV === '1' || e.OPENCALL_INSECURE_DEV === 'true';
  const problems = securityProblems({ host: e.OPENCALL_HOST, secretKey, devUserSig, insecureDev });
  if (problems.length > 0) throw new Error(`invalid configuration:\n${problems.map((p) => `  ${p}`).join('\n')}`);
  if (insecureDev && !isLoopbackHost(e.OPENCALL_HOST) && (secretKey === DEV_SECRET || devUserSig)) {
    warnings.push(
      `OPENCALL_INSECURE_DEV=1: development credentials are reachable on ${e.OPENCALL_HOST}, beyond this machine. Anyone who reaches it can log in as anyone. Never do this with real users.`,
    );
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
  let redisTlsCa: string | undefined;
  if (e.OPENCALL_REDIS_TLS_CA !== undefined) {
    try {
      redisTlsCa = readFileSync(e.OPENCALL_REDIS_TLS_CA, 'utf8');
    } catch (err) {
      throw new Error(`invalid configuration:\n  OPENCALL_REDIS_TLS_CA: cannot read ${e.OPENCALL_REDIS_TLS_CA}: ${(err as Error).message}`);
    }
    if (!redisTlsCa.includes('-----BEGIN CERTIFICATE-----')) throw new Error(`invalid configuration:\n  OPENCALL_REDIS_TLS_CA: ${e.OPENCALL_REDIS_TLS_CA} holds no PEM certificate`);
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
      groupMode: e.OPENCALL_GROUPS,
      ...(e.OPENCALL_REDIS_URL !== undefined && { redisUrl: e.OPENCALL_REDIS_URL }),
      redisPrefix: e.OPENCALL_REDIS_PREFIX,
      ...(redisTlsCa !== undefined && { redisTlsCa }),
      ...(e.OPENCALL_NODE_ID !== undefined && { nodeId: e.OPENCALL_NODE_ID }),
      clusterLeaseMs: e.OPENCALL_CLUSTER_LEASE_MS,
      insecureDev,
      ...(e.OPENCALL_ADMIN_TOKEN !== undefined && { adminToken: e.OPENCALL_ADMIN_TOKEN }),
      ...(e.OPENCALL_METRICS_TOKEN !== undefined && { metricsToken: e.OPENCALL_METRICS_TOKEN }),
      ...(e.OPENCALL_METRICS_PORT !== undefined && { metricsPort: e.OPENCALL_METRICS_PORT }),
      metricsHost: e.OPENCALL_METRICS_HOST,
      httpRateLimit: e.OPENCALL_HTTP_RATE,
      httpRateWindowMs: e.OPENCALL_HTTP_RATE_WINDOW_MS,
      inviteRate: e.OPENCALL_INVITE_RATE,
      inviteBurst: e.OPENCALL_INVITE_BURST,
      ringRate: e.OPENCALL_RING_RATE,
      maxRingSeconds: e.OPENCALL_MAX_RING_S,
      callMaxTypeSwitches: e.OPENCALL_CALL_MAX_SWITCHES,
      callMaxRelays: e.OPENCALL_CALL_MAX_RELAYS,
      callMaxIce: e.OPENCALL_CALL_MAX_ICE,
      historyRate: e.OPENCALL_HISTORY_RATE,
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
  const host = o.host ?? '127.0.0.1';
  const problems = securityProblems({ host, secretKey: o.secretKey, devUserSig: o.devUserSig ?? false, insecureDev: o.insecureDev ?? false });
  for (const [name, token] of [['adminToken', o.adminToken], ['metricsToken', o.metricsToken]] as const) {
    if (token !== undefined && token.length < MIN_SECRET_LENGTH) problems.push(`${name}: at least ${MIN_SECRET_LENGTH} characters`);
  }
  if (problems.length > 0) throw new Error(`unsafe options:\n${problems.map((p) => `  ${p}`).join('\n')}`);
  return {
    port: o.port ?? 8080,
    host,
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
    groupMode: o.groupMode ?? 'labels',
    redisUrl: o.redisUrl,
    redisPrefix: o.redisPrefix ?? '{opencall}:',
    redisTlsCa: o.redisTlsCa,
    nodeId: o.nodeId ?? `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`,
    clusterLeaseMs: o.clusterLeaseMs ?? 5000,
    insecureDev: o.insecureDev ?? false,
    adminToken: o.adminToken,
    metricsToken: o.metricsToken,
    metricsPort: o.metricsPort,
    metricsHost: o.metricsHost ?? '127.0.0.1',
    httpRateLimit: o.httpRateLimit ?? 300,
    httpRateWindowMs: o.httpRateWindowMs ?? 10_000,
    inviteRate: o.inviteRate ?? LIMITS.inviteRatePerMinute,
    inviteBurst: o.inviteBurst ?? LIMITS.inviteBurst,
    ringRate: o.ringRate ?? LIMITS.ringRatePerMinute,
    maxRingSeconds: o.maxRingSeconds ?? LIMITS.maxRingMs / 1000,
    callMaxTypeSwitches: o.callMaxTypeSwitches ?? LIMITS.maxTypeSwitches,
    callMaxRelays: o.callMaxRelays ?? LIMITS.maxRelays,
    callMaxIce: o.callMaxIce ?? LIMITS.maxIce,
    historyRate: o.historyRate ?? HISTORY_PER_MINUTE,
    maxSendBufferBytes: o.maxSendBufferBytes ?? 4 * 1024 * 1024,
    loginTimeoutMs: o.loginTimeoutMs ?? 10_000,
    maxConnectionsPerAddress: o.maxConnectionsPerAddress ?? 1000,
    maxConnections: o.maxConnections ?? 200_000,
    heartbeatMs: o.heartbeatMs ?? 30_000,
  };
}

/** 127.0.0.0/8, ::1 (also IPv4-mapped) and `localhost`; 0.0.0.0 and :: listen everywhere, so they are not. */
export function isLoopbackHost(host: string): boolean {
  const h = host.trim().toLowerCase().replace(/^\[(.*)\]$/, '$1');
  if (h === 'localhost' || h === '::1' || h === '0:0:0:0:0:0:0:1') return true;
  const v4 = h.startsWith('::ffff:') ? h.slice(7) : h;
  return isIPv4(v4) && v4.startsWith('127.');
}

/**
 * Secure defaults (issue 11): development credentials only on loopback unless `insecureDev`,
 * and a real secret long enough not to be guessed. Returns one line per problem, naming the setting.
 */
function securityProblems(o: { host: string; secretKey: string; devUserSig: boolean; insecureDev: boolean }): string[] {
  const problems: string[] = [];
  if (!isLoopbackHost(o.host) && !o.insecureDev) {
    if (o.secretKey === DEV_SECRET) problems.push(`OPENCALL_SECRET: not set, and the public development secret is refused on ${o.host} (not loopback): set OPENCALL_SECRET (your SDKAppID's key), or OPENCALL_INSECURE_DEV=1 to allow it anyway`);
    if (o.devUserSig) problems.push(`OPENCALL_DEV_USERSIG: development UserSigs (anyone logs in as anyone) are refused on ${o.host} (not loopback): set OPENCALL_DEV_USERSIG=0, or OPENCALL_INSECURE_DEV=1 to allow them anyway`);
  }
  if (o.secretKey.length < MIN_SECRET_LENGTH) problems.push(`OPENCALL_SECRET: too short (${o.secretKey.length} characters): at least ${MIN_SECRET_LENGTH} (Tencent's keys are 64 hex characters)`);
  return problems;
}
