import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { ErrorCode, groupIdSchema, userIdSchema } from '@opencall/protocol';
import type { Authenticator } from '../auth/authenticator.js';
import { ProtocolError } from '../errors.js';
import type { GroupAdmin } from '../groups/group-store.js';

export interface AdminDeps {
  auth: Authenticator;
  sdkAppId: number;
  /** The identifier whose UserSig grants admin rights (Tencent's REST API uses "administrator"). */
  adminUserID: string;
  groups: GroupAdmin;
}

const membersBody = z.object({ members: z.array(userIdSchema).max(10_000) }).strict();
const patchBody = z.object({ add: z.array(userIdSchema).max(10_000).optional(), remove: z.array(userIdSchema).max(10_000).optional() }).strict();
const groupParams = z.object({ groupID: groupIdSchema });

/**
 * Admin REST API, authenticated like Tencent's server APIs: a UserSig of the admin identifier,
 * signed with the server secret, as `Authorization: Bearer <usersig>` (or `?identifier=&usersig=`).
 */
export function registerAdminRoutes(app: FastifyInstance, d: AdminDeps): void {
  const authorize = (req: FastifyRequest) => {
    const q = req.query as { identifier?: string; usersig?: string };
    const header = req.headers.authorization;
    const sig = header?.startsWith('Bearer ') ? header.slice(7).trim() : q.usersig;
    const id = header?.startsWith('Bearer ') ? d.adminUserID : q.identifier;
    if (!sig || id !== d.adminUserID) throw new ProtocolError(ErrorCode.ADMIN_UNAUTHORIZED, `admin API: send "Authorization: Bearer <UserSig of ${d.adminUserID}>"`);
    try {
      d.auth.authenticate(d.sdkAppId, d.adminUserID, sig);
    } catch (err) {
      throw new ProtocolError(ErrorCode.ADMIN_UNAUTHORIZED, `admin API: ${(err as Error).message}`);
    }
  };
  const parse = <T>(schema: z.ZodType<T>, value: unknown): T => {
    const r = schema.safeParse(value);
    if (!r.success) {
      const i = r.error.issues[0];
      throw new ProtocolError(ErrorCode.INVALID_MESSAGE, `${i?.path.join('.') || 'body'}: ${i?.message}`);
    }
    return r.data;
  };

  app.setErrorHandler((err, _req, reply: FastifyReply) => {
    if (err instanceof ProtocolError) {
      const status = err.code === ErrorCode.ADMIN_UNAUTHORIZED ? 401 : err.code === ErrorCode.GROUP_NOT_FOUND ? 404 : 400;
      return reply.status(status).send({ code: err.code, message: err.message });
    }
    const status = (err as { statusCode?: number }).statusCode ?? 500;
    return reply.status(status).send({ code: status === 500 ? ErrorCode.INTERNAL : ErrorCode.INVALID_MESSAGE, message: status === 500 ? 'internal error' : (err as Error).message });
  });

  /** Create a group or replace its members. */
  app.put('/v1/admin/groups/:groupID', async (req) => {
    authorize(req);
    const { groupID } = parse(groupParams, req.params);
    const { members } = parse(membersBody, req.body);
    return { groupID, members: await d.groups.put(groupID, [...new Set(members)]) };
  });

  /** Add and/or remove members. */
  app.patch('/v1/admin/groups/:groupID', async (req) => {
    authorize(req);
    const { groupID } = parse(groupParams, req.params);
    const body = parse(patchBody, req.body);
    const members = await d.groups.update(groupID, body.add ?? [], body.remove ?? []);
    if (!members) throw new ProtocolError(ErrorCode.GROUP_NOT_FOUND, `no group ${groupID}`);
    return { groupID, members };
  });

  app.get('/v1/admin/groups/:groupID', async (req) => {
    authorize(req);
    const { groupID } = parse(groupParams, req.params);
    const members = await d.groups.get(groupID);
    if (!members) throw new ProtocolError(ErrorCode.GROUP_NOT_FOUND, `no group ${groupID}`);
    return { groupID, members };
  });

  app.delete('/v1/admin/groups/:groupID', async (req) => {
    authorize(req);
    const { groupID } = parse(groupParams, req.params);
    if (!(await d.groups.delete(groupID))) throw new ProtocolError(ErrorCode.GROUP_NOT_FOUND, `no group ${groupID}`);
    return { groupID, deleted: true };
  });
}
