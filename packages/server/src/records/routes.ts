import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ErrorCode, USER_ID_PATTERN } from '@opencall/protocol';
import type { Authenticator } from '../auth/authenticator.js';
import { ProtocolError } from '../errors.js';
import { adminOnly } from '../http/admin-routes.js';
import type { Records } from './index.js';
import { HISTORY_MAX_LIMIT, type HistoryQuery } from './types.js';

export interface RecordRoutesDeps {
  auth: Authenticator;
  sdkAppId: number;
  /** `OPENCALL_ADMIN_TOKEN` (as for the admin API); undefined turns the admin history route off. */
  adminToken: string | undefined;
  records: Records;
}

/** The header naming the user a UserSig is for (alternatively `?userID=`). */
export const USER_HEADER = 'x-opencall-user';

/**
 * Call history over HTTP (docs/records.md):
 * - `GET /v1/history?cursor=&limit=`: your own calls. `Authorization: Bearer <your UserSig>`
 *   and your userID in `X-OpenCall-User` (or `?userID=`).
 * - `GET /v1/admin/history/:userID?cursor=&limit=`: anyone's, with the admin token as
 *   `Authorization: Bearer <OPENCALL_ADMIN_TOKEN>`, like the other admin routes.
 * Errors are `{code, message}`: 401 for credentials, 400 for bad parameters.
 */
export function registerRecordRoutes(app: FastifyInstance, d: RecordRoutesDeps): void {
  app.get('/v1/history', (req, reply) =>
    answer(reply, () => {
      const q = req.query as Record<string, unknown>;
      const sig = bearer(req);
      const fromHeader = req.headers[USER_HEADER];
      if (Array.isArray(fromHeader)) throw new ProtocolError(ErrorCode.INVALID_MESSAGE, 'one X-OpenCall-User header, please');
      const fromQuery = single(q.userID, 'userID');
      if (fromHeader !== undefined && fromQuery !== undefined && fromHeader !== fromQuery) {
        throw new ProtocolError(ErrorCode.INVALID_MESSAGE, 'X-OpenCall-User and ?userID= name different users');
      }
      const userID = fromHeader ?? fromQuery;
      if (!sig || !userID) {
        throw new ProtocolError(ErrorCode.NOT_LOGGED_IN, 'send "Authorization: Bearer <UserSig>" and your userID in the X-OpenCall-User header (or ?userID=)');
      }
      d.auth.authenticate(d.sdkAppId, userID, sig);
      return d.records.history(userID, pageQuery(q));
    }),
  );

  app.get('/v1/admin/history/:userID', adminOnly(d.adminToken), (req, reply) =>
    answer(reply, () => {
      const q = req.query as Record<string, unknown>;
      const { userID } = req.params as { userID: string };
      if (!USER_ID_PATTERN.test(userID)) throw new ProtocolError(ErrorCode.INVALID_MESSAGE, 'userID may contain only letters, digits, "-" and "_" (1-64 characters)');
      return d.records.history(userID, pageQuery(q));
    }),
  );
}

const CREDENTIAL_CODES = new Set<number>([
  ErrorCode.NOT_LOGGED_IN,
  ErrorCode.USERSIG_INVALID,
  ErrorCode.USERSIG_EXPIRED,
  ErrorCode.SDKAPPID_MISMATCH,
  ErrorCode.USERID_INVALID,
  ErrorCode.ADMIN_UNAUTHORIZED,
]);

/** Runs a handler and sends its result, or `{code, message}` with 401/400 (500 for bugs). */
async function answer(reply: FastifyReply, fn: () => unknown): Promise<FastifyReply> {
  reply.header('cache-control', 'no-store');
  try {
    return reply.send(await fn());
  } catch (err) {
    if (err instanceof ProtocolError) {
      const status = CREDENTIAL_CODES.has(err.code) ? 401 : 400;
      if (status === 401) reply.header('www-authenticate', 'Bearer');
      return reply.status(status).send({ code: err.code, message: err.message });
    }
    reply.log?.error?.({ err }, 'history route failed');
    return reply.status(500).send({ code: ErrorCode.INTERNAL, message: 'call records are unavailable right now' });
  }
}

function bearer(req: FastifyRequest): string | undefined {
  const h = req.headers.authorization;
  return h?.startsWith('Bearer ') ? h.slice(7).trim() || undefined : undefined;
}

function single(v: unknown, name: string): string | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'string') throw new ProtocolError(ErrorCode.INVALID_MESSAGE, `give ${name} once`);
  return v;
}

/** `?cursor=&limit=`: limit 1.. (more than 100 gives 100), cursor as returned in nextCursor. */
function pageQuery(q: Record<string, unknown>): HistoryQuery {
  const cursor = single(q.cursor, 'cursor');
  const limitText = single(q.limit, 'limit');
  const out: HistoryQuery = {};
  if (cursor !== undefined && cursor !== '') out.cursor = cursor;
  if (limitText !== undefined && limitText !== '') {
    if (!/^\d{1,9}$/.test(limitText) || Number(limitText) < 1) throw new ProtocolError(ErrorCode.INVALID_MESSAGE, `limit must be a whole number from 1 to ${HISTORY_MAX_LIMIT}`);
    out.limit = Math.min(HISTORY_MAX_LIMIT, Number(limitText));
  }
  return out;
}
