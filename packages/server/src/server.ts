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
import { openRecords } from './records/index.js';
import { SessionRegistry } from './sessions/session-registry.js';
import { CloseCode, MessageRouter } from './transport/message-router.js';
import { WsGateway } from './transport/ws-gateway.js';

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
  const log = options.logger ?? createLogger(o.logLevel);
  const registry = new SessionRegistry();
  const groups = options.groups ?? new MemoryGroupStore();
  const engine = new CallEngine({
    delivery: registry,
    clock: options.clock ?? systemClock,
    log,
    maxInvitees: o.maxInvitees,
    groups,
    maxParticipants: o.meshMaxParticipants,
    participantsLimitHint: 'mesh limit OPENCALL_MESH_MAX; configure an SFU for larger calls',
  });
  const records = await openRecords({}, log);
  records.attach(engine);
  const auth = new Authenticator(o.sdkAppId, o.secretKey);
  const router = new MessageRouter({
    auth,
    registry,
    engine,
    reconnectGraceMs: o.reconnectGraceMs,
    iceServers: createIceServerProvider({ iceServers: o.iceServers }),
    log,
  });
  const gateway = new WsGateway(router, log);
  const stats = () => ({ connections: gateway.connectionCount, users: registry.size, calls: engine.size });
  const app = createHttpApp({ connections: () => gateway.connectionCount, users: () => registry.size, calls: () => engine.size });
  registerAdminRoutes(app, { auth, sdkAppId: o.sdkAppId, adminUserID: o.adminUserID, groups });
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
        engine.endAll();
        gateway.close(CloseCode.SHUTDOWN, 'server shutting down');
        await app.close();
        await records.close();
        log.info({ event: 'server.closed' }, 'OpenCall stopped');
      })();
      return closing;
    },
  };
}
