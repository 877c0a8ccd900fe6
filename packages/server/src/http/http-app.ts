import Fastify, { type FastifyInstance } from 'fastify';

export interface HealthSource {
  connections(): number;
  users(): number;
  calls(): number;
}

/** The HTTP side: health now; REST APIs and the demo's static files mount here later. */
export function createHttpApp(health: HealthSource): FastifyInstance {
  const app = Fastify({ logger: false, bodyLimit: 64 * 1024 });
  app.get('/healthz', async () => ({
    status: 'ok',
    connections: health.connections(),
    users: health.users(),
    calls: health.calls(),
  }));
  return app;
}
