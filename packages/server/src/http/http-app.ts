import Fastify, { type FastifyInstance } from 'fastify';
import { trustedProxyTest, type TrustProxy } from './client-address.js';

export interface HealthSource {
  connections(): number;
  users(): number;
  calls(): number;
}

/** The HTTP side: health now; REST APIs and the demo's static files mount here later. */
export function createHttpApp(health: HealthSource, trustProxy: TrustProxy = false): FastifyInstance {
  // req.ip follows OPENCALL_TRUST_PROXY, like the WebSocket upgrade's client address (client-address.ts).
  const app = Fastify({ logger: false, bodyLimit: 64 * 1024, trustProxy: trustedProxyTest(trustProxy) ?? false });
  app.get('/healthz', async () => ({
    status: 'ok',
    connections: health.connections(),
    users: health.users(),
    calls: health.calls(),
  }));
  return app;
}
