import type { AddressInfo } from 'node:net';
import { Authenticator } from './auth/authenticator.js';
import { CallEngine } from './calls/call-engine.js';
import { systemClock } from './clock.js';
import { resolveOptions, type ServerOptions } from './config.js';
import { MemoryGroupStore } from './groups/group-store.js';
import { registerAdminRoutes } from './http/admin-routes.js';
import { registerPublicRoutes } from './http/public-routes.js';
import { createHttpApp } from './http/http-app.js';
import { createIceServerProvider } from './ice/ice-servers.js';
import { createLogger } from './log.js';
import { SfuBridge } from './sfu/sfu-bridge.js';
import { SfuRoomManager } from './sfu/sfu-room-manager.js';
import { registerMetricsRoute, ServerMetrics } from './metrics/metrics.js';
import { openRecords, registerRecordRoutes } from './records/index.js';
import { SessionRegistry } from './sessions/session-registry.js';
import { CloseCode, MessageRouter } from './transport/message-router.js';
import { WsGateway } from './transport/ws-gateway.js';
import { Ingress } from './transport/ingress.js';

/** How long shutdown waits for clients to complete the WebSocket close handshake before cutting them off. */
const SOCKET_CLOSE_WAIT_MS = 2000;

/** A running server. */
export interface RunningServer {
  /** Base URL, e.g. `http://127.0.0.1:8080`; the signaling WebSocket is at `/ws` under it. */
  url: string;
  port: number;
  /** Ends every call, closes every connection and stops listening. */
  close(): Promise<void>;
  /** Live counters, for tests and health checks. */
  stats(): { connections: number; users: number; calls: number };
}

/** Starts the signaling server: HTTP (`/healthz`) and the WebSocket endpoint `/ws` on one port. */
export async function startServer(options: ServerOptions): Promise<RunningServer> {
  const o = resolveOptions(options);
  const iceServers = createIceServerProvider({ iceServers: o.iceServers, turnSecret: o.turnSecret, turnTtl: o.turnTtl });
  const log = options.logger ?? createLogger(o.logLevel);
  const registry = new SessionRegistry();
  const metrics = o.metrics ? new ServerMetrics({ connections: (): number => gateway.connectionCount, users: () => registry.size }) : undefined;
  const groups = options.groups ?? new MemoryGroupStore();
  const engine = new CallEngine({
    delivery: metrics ? metrics.observeDelivery(registry) : registry,
    clock: options.clock ?? systemClock,
    log,
    maxInvitees: o.maxInvitees,
    groups,
    maxParticipants: o.meshMaxParticipants,
    participantsLimitHint: 'mesh limit OPENCALL_MESH_MAX; configure an SFU for larger calls',
    ...(o.janusUrl !== undefined && { sfuMaxParticipants: o.sfuMaxParticipants }),
  });
  const sfu = o.janusUrl
    ? new SfuBridge(
        new SfuRoomManager({ janus: o.janusUrl, ...(o.janusApiSecret !== undefined && { apiSecret: o.janusApiSecret }), logger: log }),
        engine,
        registry,
        log,
        o.sfuMaxParticipants,
      )
    : undefined;
  const records = await openRecords({ dataDir: o.dataDir, databaseUrl: o.databaseUrl, clock: options.clock ?? systemClock }, log);
  records.attach(engine);
  metrics?.attach(engine);
  const auth = new Authenticator(o.sdkAppId, o.secretKey);
  const router = new MessageRouter({
    registry,
    engine,
    records,
    ...(sfu && { sfu }),
    reconnectGraceMs: o.reconnectGraceMs,
    iceServers,
    log,
  });
  const gateway = new WsGateway(new Ingress(auth, router, log), log);
  if (metrics) gateway.onRefused = (code) => metrics.refused(code);
  const stats = () => ({ connections: gateway.connectionCount, users: registry.size, calls: engine.size });
  const app = createHttpApp({ connections: () => gateway.connectionCount, users: () => registry.size, calls: () => engine.size });
  registerAdminRoutes(app, { auth, sdkAppId: o.sdkAppId, adminUserID: o.adminUserID, groups });
  registerRecordRoutes(app, { auth, sdkAppId: o.sdkAppId, adminUserID: o.adminUserID, records });
  if (metrics) registerMetricsRoute(app, metrics);
  await registerPublicRoutes(app, { sdkAppId: o.sdkAppId, secretKey: o.secretKey, devUserSig: o.devUserSig, staticDir: o.staticDir });
  app.server.on('upgrade', gateway.handleUpgrade);
  await app.listen({ port: o.port, host: o.host });
  const port = (app.server.address() as AddressInfo).port;
  const host = o.host.includes(':') ? `[${o.host}]` : o.host;
  const url = `http://${host}:${port}`;
  log.info({ event: 'server.listening', url, sdkAppId: o.sdkAppId }, `OpenCall listening on ${url}`);

  let closing: Promise<void> | undefined;
  return {
    url,
    port,
    stats,
    close() {
      closing ??= (async () => {
        log.info({ event: 'server.stopping', calls: engine.size, connections: gateway.connectionCount }, 'OpenCall shutting down');
        // All in one synchronous step, so no login or call can slip in between: every call ends
        // (each participant gets its `ended`, each ringing invitee its `cancelled`), then every
        // socket is closed with 1001 behind those frames, new upgrades get 503 and the port closes.
        engine.endAll();
        gateway.close(CloseCode.SHUTDOWN, 'server shutting down');
        const httpClosed = app.close();
        // Clients answer the close handshake at once; whoever does not is cut off.
        const drained = async (ms: number) => {
          for (const until = Date.now() + ms; gateway.connectionCount > 0 && Date.now() < until; ) await new Promise((r) => setTimeout(r, 20));
        };
        await drained(SOCKET_CLOSE_WAIT_MS);
        gateway.terminateAll();
        await drained(1000);
        await httpClosed;
        await records.close();
        await sfu?.close();
        log.info({ event: 'server.closed' }, 'OpenCall stopped');
      })();
      return closing;
    },
  };
}
