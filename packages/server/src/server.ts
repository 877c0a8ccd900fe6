import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { Authenticator } from './auth/authenticator.js';
import { startClusterNode, type ClusterNode } from './cluster/cluster-node.js';
import { createCallCore, type CallCore } from './core/call-core.js';
import { systemClock } from './clock.js';
import { resolveOptions, type ServerOptions } from './config.js';
import { MemoryGroupStore, memoryGroupAdmin } from './groups/group-store.js';
import { GROUPS_FILE, SqliteGroupStore } from './groups/sqlite-group-store.js';
import { registerAdminRoutes } from './http/admin-routes.js';
import { registerPublicRoutes } from './http/public-routes.js';
import { clientAddressResolver } from './http/client-address.js';
import { createHttpApp } from './http/http-app.js';
import { limitHttpRate } from './http/rate-limit.js';
import { createIceServerProvider } from './ice/ice-servers.js';
import { createLogger } from './log.js';
import { registerMetricsRoute, ServerMetrics } from './metrics/metrics.js';
import { startMetricsListener } from './metrics/metrics-listener.js';
import { openRecords, registerRecordRoutes } from './records/index.js';
import { readinessChecks } from './readiness/probes.js';
import { Readiness, READY_TIMEOUT_MS, registerReadinessRoute } from './readiness/readiness.js';
import { CloseCode } from './transport/message-router.js';
import { WsGateway, type GatewayOptions } from './transport/ws-gateway.js';
import { Ingress } from './transport/ingress.js';

/** How long shutdown waits for clients to complete the WebSocket close handshake before cutting them off. */
const SOCKET_CLOSE_WAIT_MS = 2000;

/** A running server. */
export interface RunningServer {
  /** Base URL, e.g. `http://127.0.0.1:8080`; the signaling WebSocket is at `/ws` under it. */
  url: string;
  port: number;
  /** Base URL of the metrics listener (`/metrics`, `/healthz`) when `metricsPort` is set. */
  metricsUrl?: string;
  /** Ends every call, closes every connection and stops listening. */
  close(): Promise<void>;
  /** Live counters, for tests and health checks (users and calls: 0 on a cluster node not running the call core). */
  stats(): { connections: number; users: number; calls: number };
  /** In a cluster: this node's id and whether it runs the call core right now. */
  cluster?: { nodeId: string; leading(): boolean };
}

/** Starts the signaling server: HTTP (`/healthz`) and the WebSocket endpoint `/ws` on one port. */
export async function startServer(options: ServerOptions): Promise<RunningServer> {
  const o = resolveOptions(options);
  const iceServers = createIceServerProvider({ iceServers: o.iceServers, turnSecret: o.turnSecret, turnTtl: o.turnTtl });
  const log = options.logger ?? createLogger(o.logLevel);
  const clock = options.clock ?? systemClock;
  const clustered = o.redisUrl !== undefined;
  // The call core of this node: for its whole life on one node; in a cluster, only while it holds the lease.
  let core: CallCore | undefined;
  const metrics = o.metrics ? new ServerMetrics({ connections: (): number => gateway.connectionCount, users: () => core?.registry.size ?? 0 }) : undefined;
  const records = await openRecords({ dataDir: o.dataDir, databaseUrl: o.databaseUrl, clock, closeOrphans: !clustered }, log);
  // Groups: in Redis in a cluster (cluster/), else in a file next to the records (memory without a data dir).
  const groupFile = !options.groups && !clustered && o.dataDir ? new SqliteGroupStore(join(o.dataDir, GROUPS_FILE)) : undefined;
  const groups = options.groups ?? groupFile ?? new MemoryGroupStore();
  const buildCore = (groupStore = groups) =>
    createCallCore({
      clock,
      log,
      groups: groupStore,
      maxInvitees: o.maxInvitees,
      meshMaxParticipants: o.meshMaxParticipants,
      sfuMaxParticipants: o.sfuMaxParticipants,
      janusUrl: o.janusUrl,
      janusApiSecret: o.janusApiSecret,
      reconnectGraceMs: o.reconnectGraceMs,
      multiDevice: o.multiDevice,
      groupMode: o.groupMode,
      iceServers,
      recordStore: records.store,
      metrics,
      historyRatePerMinute: o.historyRate,
      callLimits: {
        inviteRatePerMinute: o.inviteRate,
        inviteBurst: o.inviteBurst,
        ringRatePerMinute: o.ringRate,
        maxRingMs: o.maxRingSeconds * 1000,
        maxTypeSwitches: o.callMaxTypeSwitches,
        maxRelays: o.callMaxRelays,
        maxIce: o.callMaxIce,
      },
    });
  // The admin identifier is reserved: nobody logs in as it (docs/configuration.md, OPENCALL_ADMIN_ID).
  const reservedUserIDs = new Set([o.adminUserID]);
  const auth = new Authenticator(o.sdkAppId, o.secretKey, reservedUserIDs);
  const gatewayOptions: GatewayOptions = {
    clientAddress: clientAddressResolver(o.trustProxy),
    maxSendBufferBytes: o.maxSendBufferBytes,
    loginTimeoutMs: o.loginTimeoutMs,
    maxConnectionsPerAddress: o.maxConnectionsPerAddress,
    maxConnections: o.maxConnections,
    heartbeatMs: o.heartbeatMs,
  };
  let cluster: ClusterNode | undefined;
  let gateway: WsGateway;
  if (clustered) {
    cluster = await startClusterNode({
      redisUrl: o.redisUrl!,
      ...(o.redisTlsCa !== undefined && { redisTlsCa: o.redisTlsCa }),
      prefix: o.redisPrefix,
      nodeId: o.nodeId,
      leaseMs: o.clusterLeaseMs,
      log,
      buildCore: (groupStore) => buildCore(groupStore),
      onCore: (c) => (core = c),
      sessionById: (id) => gateway.session(id),
    });
    gateway = new WsGateway(new Ingress(auth, cluster.link, log, iceServers), log, gatewayOptions);
  } else {
    core = buildCore();
    gateway = new WsGateway(new Ingress(auth, core.router, log, iceServers), log, gatewayOptions);
  }
  if (metrics) {
    gateway.onRefused = (code) => metrics.refused(code);
    gateway.onPolicyClose = (reason) => metrics.policyClose(reason);
    gateway.onUpgradeRefused = (reason) => metrics.upgradeRefused(reason);
  }
  const users = () => core?.registry.size ?? 0;
  const calls = () => core?.engine.size ?? 0;
  const stats = () => ({ connections: gateway.connectionCount, users: users(), calls: calls() });
  const health = { connections: () => gateway.connectionCount, users, calls };
  const rate = { max: o.httpRateLimit, windowMs: o.httpRateWindowMs };
  const app = createHttpApp(health, o.trustProxy);
  await limitHttpRate(app, rate);
  // /readyz: the dependencies configured (Redis, the records database, Janus) answer; rate limited, unlike /healthz.
  const readiness = readinessChecks(
    {
      ...(cluster && { redis: cluster }),
      ...((o.databaseUrl !== undefined || o.dataDir !== undefined) && { records: records.store }),
      ...(o.janusUrl !== undefined && { janus: { url: o.janusUrl, apiSecret: o.janusApiSecret } }),
    },
    READY_TIMEOUT_MS,
  );
  registerReadinessRoute(app, new Readiness(readiness, log));
  registerAdminRoutes(app, { adminToken: o.adminToken, groups: cluster ? cluster.groupAdmin : memoryGroupAdmin(groups) });
  registerRecordRoutes(app, { auth, sdkAppId: o.sdkAppId, adminToken: o.adminToken, records });
  // /metrics on its own listener (OPENCALL_METRICS_PORT, started below), or on the public one.
  const ownMetricsListener = metrics !== undefined && o.metricsPort !== undefined;
  if (metrics && !ownMetricsListener) registerMetricsRoute(app, metrics, o.metricsToken);
  await registerPublicRoutes(app, { sdkAppId: o.sdkAppId, secretKey: o.secretKey, devUserSig: o.devUserSig, staticDir: o.staticDir, reservedUserIDs });
  app.server.on('upgrade', gateway.handleUpgrade);
  await app.listen({ port: o.port, host: o.host });
  const metricsListener = ownMetricsListener
    ? await startMetricsListener(health, metrics!, { host: o.metricsHost, port: o.metricsPort!, token: o.metricsToken, trustProxy: o.trustProxy, rate }).catch(async (err: unknown) => {
        await app.close(); // e.g. the metrics port is taken: do not leave the public port open
        throw err;
      })
    : undefined;
  const metricsUrl = metricsListener?.url;
  if (metricsUrl) log.info({ event: 'metrics.listening', url: metricsUrl }, `metrics on ${metricsUrl}/metrics`);
  const port = (app.server.address() as AddressInfo).port;
  const host = o.host.includes(':') ? `[${o.host}]` : o.host;
  const url = `http://${host}:${port}`;
  log.info({ event: 'server.listening', url, sdkAppId: o.sdkAppId, ...(cluster && { nodeId: cluster.nodeId }) }, `OpenCall listening on ${url}`);

  let closing: Promise<void> | undefined;
  return {
    url,
    port,
    ...(metricsUrl !== undefined && { metricsUrl }),
    stats,
    ...(cluster && { cluster: { nodeId: cluster.nodeId, leading: () => cluster!.leading } }),
    close() {
      closing ??= (async () => {
        log.info({ event: 'server.stopping', calls: calls(), connections: gateway.connectionCount }, 'OpenCall shutting down');
        if (cluster) {
          // Calls go on without this node: its clients reconnect to another node and resume,
          // and the call core (if it ran here) is handed over at once.
          gateway.close(CloseCode.SHUTDOWN, 'server shutting down');
        } else {
          // All in one synchronous step, so no login or call can slip in between: every call ends
          // (each participant gets its `ended`, each ringing invitee its `cancelled`), then every
          // socket is closed with 1001 behind those frames, new upgrades get 503 and the port closes.
          core!.engine.endAll();
          gateway.close(CloseCode.SHUTDOWN, 'server shutting down');
        }
        const httpClosed = Promise.all([app.close(), metricsListener?.app.close()]);
        // Clients answer the close handshake at once; whoever does not is cut off.
        const drained = async (ms: number) => {
          for (const until = Date.now() + ms; gateway.connectionCount > 0 && Date.now() < until; ) await new Promise((r) => setTimeout(r, 20));
        };
        await drained(SOCKET_CLOSE_WAIT_MS);
        gateway.terminateAll();
        await drained(1000);
        await httpClosed;
        await cluster?.close();
        if (!cluster) await core!.close();
        await records.close();
        groupFile?.close();
        log.info({ event: 'server.closed' }, 'OpenCall stopped');
      })();
      return closing;
    },
  };
}
