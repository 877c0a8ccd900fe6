import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ErrorCode } from '@opencall/protocol';

/**
 * Whether `Authorization: Bearer <token>` carries `expected`. Both sides are hashed first, so
 * the comparison takes the same time whatever the length or content of what was sent.
 */
export function bearerMatches(req: FastifyRequest, expected: string): boolean {
  const h = req.headers.authorization;
  if (typeof h !== 'string' || !h.startsWith('Bearer ')) return false;
  const sent = createHash('sha256').update(h.slice(7).trim()).digest();
  return timingSafeEqual(sent, createHash('sha256').update(expected).digest());
}

/**
 * Guards a route by a token the operator configured (`OPENCALL_ADMIN_TOKEN`, `OPENCALL_METRICS_TOKEN`):
 * sends 403 saying how to turn it on when no token is configured, 401 when the token is missing
 * or wrong, and returns false; true when the request may go on. Never a query-string credential.
 */
export function checkBearer(req: FastifyRequest, reply: FastifyReply, expected: string | undefined, what: string, setting: string): boolean {
  reply.header('cache-control', 'no-store');
  if (expected === undefined) {
    void reply.status(403).send({ code: ErrorCode.ADMIN_UNAUTHORIZED, message: `${what} is off on this server: set ${setting} (a long random string) to turn it on` });
    return false;
  }
  if (!bearerMatches(req, expected)) {
    void reply.status(401).header('www-authenticate', 'Bearer').send({ code: ErrorCode.ADMIN_UNAUTHORIZED, message: `${what}: send "Authorization: Bearer <${setting}>"` });
    return false;
  }
  return true;
}
