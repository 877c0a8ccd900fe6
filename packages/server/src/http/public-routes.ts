import { existsSync } from 'node:fs';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { ErrorCode, userIdSchema } from '@opencall/protocol';
import { genUserSig } from '../auth/usersig.js';
import { ProtocolError } from '../errors.js';
import { rateLimitHook } from './rate-limit.js';

export interface PublicRouteOptions {
  sdkAppId: number;
  secretKey: string;
  /** Issue UserSigs to anyone who asks: development only (the demo's login). */
  devUserSig: boolean;
  /** Identities never minted (the admin identifier): they cannot log in either. */
  reservedUserIDs: ReadonlySet<string>;
  /** A built web app to serve at `/` (the demo), if any. */
  staticDir: string | undefined;
}

const devSigBody = z.object({ userID: userIdSchema, expire: z.number().int().min(60).max(7 * 24 * 3600).optional() }).strict();

/** What a browser page needs to know about this server, and the demo's static files. */
export async function registerPublicRoutes(app: FastifyInstance, o: PublicRouteOptions): Promise<void> {
  app.get('/v1/config', async () => ({ sdkAppId: o.sdkAppId, devUserSig: o.devUserSig }));

  /** Development helper: a UserSig for any userID. Off unless enabled; never in production. */
  app.post('/v1/dev/usersig', async (req, reply) => {
    if (!o.devUserSig) return reply.status(404).send({ code: ErrorCode.UNKNOWN_MESSAGE, message: 'dev UserSigs are off on this server' });
    const r = devSigBody.safeParse(req.body);
    if (!r.success) throw new ProtocolError(ErrorCode.INVALID_MESSAGE, `userID: ${r.error.issues[0]?.message}`);
    if (o.reservedUserIDs.has(r.data.userID)) return reply.status(403).send({ code: ErrorCode.USERID_INVALID, message: `${r.data.userID} is a reserved identity: no UserSig for it` });
    return { userID: r.data.userID, sdkAppId: o.sdkAppId, userSig: genUserSig(o.sdkAppId, o.secretKey, r.data.userID, r.data.expire ?? 24 * 3600) };
  });

  const spa = o.staticDir !== undefined && existsSync(o.staticDir);
  if (spa) await app.register(fastifyStatic, { root: o.staticDir!, index: ['index.html'], wildcard: false });
  // Rate limited too, so unknown URLs cannot be probed or the SPA fallback read without limit.
  app.setNotFoundHandler(rateLimitHook(app), (req, reply) => {
    // Single-page app: unknown GETs outside the API fall back to index.html.
    if (spa && req.method === 'GET' && !req.url.startsWith('/v1/') && !req.url.startsWith('/ws')) return reply.sendFile('index.html');
    return reply.status(404).send({ code: ErrorCode.UNKNOWN_MESSAGE, message: `no route ${req.method} ${req.url}` });
  });
}
