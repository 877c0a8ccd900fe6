import rateLimit from '@fastify/rate-limit';
import type { FastifyError, FastifyInstance, FastifyReply } from 'fastify';
import { ErrorCode } from '@opencall/protocol';

export interface HttpRateLimit {
  /** Most requests per client address per window; 0 turns the limit off. */
  max: number;
  windowMs: number;
}

/**
 * Limits every HTTP route registered after this call (dev UserSigs, history, admin, metrics,
 * config, static files) per client address: `req.ip`, which follows OPENCALL_TRUST_PROXY like
 * the WebSocket upgrade. Over the limit: 429 `{code: 42901, message}` with Retry-After
 * (@fastify/rate-limit counts in memory, per node). Routes declared before it (`/healthz`) are not limited.
 */
export async function limitHttpRate(app: FastifyInstance, l: HttpRateLimit): Promise<void> {
  if (l.max <= 0) return;
  await app.register(rateLimit, {
    global: true,
    max: l.max,
    timeWindow: l.windowMs,
    // Thrown to the error handler, which answers it with sendRateLimited().
    errorResponseBuilder: (_req, ctx) => ({ statusCode: 429, message: `too many requests from your address: at most ${ctx.max} per ${ctx.after}` }),
  });
}

/** For error handlers: answers a rate-limit refusal as `{code: 42901, message}`; false for any other error. */
export function sendRateLimited(err: FastifyError | { statusCode?: number; message?: string }, reply: FastifyReply): boolean {
  if (err.statusCode !== 429) return false;
  void reply.status(429).send({ code: ErrorCode.RATE_LIMITED, message: err.message });
  return true;
}

/** The rate limit as a route option, for handlers the global hook does not reach (the not-found handler). */
export function rateLimitHook(app: FastifyInstance): { preHandler?: ReturnType<FastifyInstance['rateLimit']> } {
  // Undefined when the limit is off (the plugin was not registered).
  return typeof app.rateLimit === 'function' ? { preHandler: app.rateLimit() } : {};
}
