/**
 * Test helper: what Janus itself holds, read over its Admin API (start Janus with
 * `startJanus({ admin: true })`). Tests use it to check that the signaling server leaks no
 * plugin handles, whatever its own bookkeeping says.
 */
import { randomBytes } from 'node:crypto';
import { WebSocket } from 'ws';
import type { JanusInstance } from './janus.js';

/** One plugin handle as Janus lists it. */
export interface JanusHandleInfo {
  session: number;
  handle: number;
  plugin: string;
  /** The opaque id given at attach (`opencall:<inviteID>:<userID>:pub|sub`); null if none. */
  opaqueId: string | null;
}

/** Every plugin handle of every Janus session. */
export async function janusHandles(janus: JanusInstance): Promise<JanusHandleInfo[]> {
  const admin = janus.admin;
  if (!admin) throw new Error('Janus was started without the Admin API (startJanus({ admin: true }))');
  const ws = new WebSocket(admin.url, 'janus-admin-protocol');
  await new Promise<void>((resolve, reject) => ws.once('open', () => resolve()).once('error', reject));
  const pending = new Map<string, (reply: Record<string, any>) => void>();
  ws.on('message', (data) => {
    const reply = JSON.parse(String(data)) as Record<string, any>;
    pending.get(reply.transaction)?.(reply);
  });
  const ask = (body: Record<string, unknown>): Promise<Record<string, any>> =>
    new Promise((resolve, reject) => {
      const transaction = randomBytes(6).toString('hex');
      const timer = setTimeout(() => reject(new Error(`Janus admin ${String(body.janus)}: no reply`)), 5_000);
      pending.set(transaction, (reply) => {
        clearTimeout(timer);
        pending.delete(transaction);
        if (reply.janus === 'success') resolve(reply);
        else reject(new Error(`Janus admin ${String(body.janus)}: ${JSON.stringify(reply.error ?? reply)}`));
      });
      ws.send(JSON.stringify({ ...body, transaction, admin_secret: admin.secret }));
    });
  try {
    const out: JanusHandleInfo[] = [];
    for (const session of ((await ask({ janus: 'list_sessions' })).sessions ?? []) as number[]) {
      for (const handle of ((await ask({ janus: 'list_handles', session_id: session })).handles ?? []) as number[]) {
        // A handle detached between the two requests is simply gone.
        const info = (await ask({ janus: 'handle_info', session_id: session, handle_id: handle }).catch(() => null))?.info;
        if (info) out.push({ session, handle, plugin: String(info.plugin), opaqueId: info.opaque_id ?? null });
      }
    }
    return out;
  } finally {
    ws.close();
  }
}
