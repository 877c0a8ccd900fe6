import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { ErrorCode, groupIdSchema, userIdSchema } from '@opencall/protocol';
import { ProtocolError } from '../errors.js';
import type { GroupAdmin } from '../groups/group-store.js';
import { checkBearer } from './bearer-token.js';
import { sendRateLimited } from './rate-limit.js';

export interface AdminDeps {
  /** `OPENCALL_ADMIN_TOKEN`; undefined turns the admin API off (403 saying how to turn it on). */
  adminToken: string | undefined;
  groups: GroupAdmin;
}

/** Route option that lets only holders of the admin token through (admin groups and admin history). */
export function adminOnly(adminToken: string | undefined) {
  return {
    onRequest: async (req: FastifyRequest, reply: FastifyReply) => {
      if (!checkBearer(req, reply, adminToken, 'the admin API', 'OPENCALL_ADMIN_TOKEN')) return reply;
    },
  };
}

const membersBody = z.object({ members: z.array(userIdSchema).max(10_000) }).strict();
const patchBody = z.object({ add: z.array(userIdSchema).max(10_000).optional(), remove: z.array(userIdSchema).max(10_000).optional() }).strict();
const groupParams = z.object({ groupID: groupIdSchema });

/**
 * Admin REST API, authenticated by its own token (`OPENCALL_ADMIN_TOKEN`) as
 * `Authorization: Bearer <token>`: never by a UserSig (anyone's backend that can sign UserSigs
 * could sign one for the admin identity) and never in the query string (it ends up in logs).
 */
export function registerAdminRoutes(app: FastifyInstance, d: AdminDeps): void {
  const guard = adminOnly(d.adminToken);
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
    if (sendRateLimited(err as { statusCode?: number }, reply)) return reply;
    const status = (err as { statusCode?: number }).statusCode ?? 500;
    return reply.status(status).send({ code: status === 500 ? ErrorCode.INTERNAL : ErrorCode.INVALID_MESSAGE, message: status === 500 ? 'internal error' : (err as Error).message });
  });

  /** Create a group or replace its members. */
  app.put('/v1/admin/groups/:groupID', guard, async (req) => {
    const { groupID } = parse(groupParams, req.params);
    const { members } = parse(membersBody, req.body);
    return { groupID, members: await d.groups.put(groupID, [...new Set(members)]) };
  });

  /** Add and/or remove members. */
  app.patch('/v1/admin/groups/:groupID', guard, async (req) => {
    const { groupID } = parse(groupParams, req.params);
    const body = parse(patchBody, req.body);
    const members = await d.groups.update(groupID, body.add ?? [], body.remove ?? []);
    if (!members) throw new ProtocolError(ErrorCode.GROUP_NOT_FOUND, `no group ${groupID}`);
    return { groupID, members };
  });

  app.get('/v1/admin/groups/:groupID', guard, async (req) => {
    const { groupID } = parse(groupParams, req.params);
    const members = await d.groups.get(groupID);
    if (!members) throw new ProtocolError(ErrorCode.GROUP_NOT_FOUND, `no group ${groupID}`);
    return { groupID, members };
  });

  app.delete('/v1/admin/groups/:groupID', guard, async (req) => {
    const { groupID } = parse(groupParams, req.params);
    if (!(await d.groups.delete(groupID))) throw new ProtocolError(ErrorCode.GROUP_NOT_FOUND, `no group ${groupID}`);
    return { groupID, deleted: true };
  });
}
