import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { ErrorCode } from '@opencall/protocol';
import { createHttpApp, type HealthSource } from '../http/http-app.js';
import type { TrustProxy } from '../http/client-address.js';
import { limitHttpRate, sendRateLimited, type HttpRateLimit } from '../http/rate-limit.js';
import { registerMetricsRoute, type ServerMetrics } from './metrics.js';

export interface MetricsListenerOptions {
  host: string;
  /** 0 picks a free port. */
  port: number;
  /** OPENCALL_METRICS_TOKEN, if any. */
  token: string | undefined;
  trustProxy: TrustProxy;
  rate: HttpRateLimit;
}

/**
 * `/metrics` (and `/healthz`) on a listener of their own (OPENCALL_METRICS_PORT), so the public
 * port need not serve them: bind it to an address only Prometheus reaches.
 */
export async function startMetricsListener(health: HealthSource, metrics: ServerMetrics, o: MetricsListenerOptions): Promise<{ app: FastifyInstance; url: string }> {
  const app = createHttpApp(health, o.trustProxy);
  await limitHttpRate(app, o.rate);
  app.setErrorHandler((err, _req, reply) => {
    if (!sendRateLimited(err as { statusCode?: number }, reply)) void reply.status(500).send({ code: ErrorCode.INTERNAL, message: 'internal error' });
  });
  registerMetricsRoute(app, metrics, o.token);
  await app.listen({ port: o.port, host: o.host });
  const host = o.host.includes(':') ? `[${o.host}]` : o.host;
  return { app, url: `http://${host}:${(app.server.address() as AddressInfo).port}` };
}
