import type { Logger } from 'pino';
import type { Redis } from 'ioredis';
import type { ServerFrame } from '@opencall/protocol';
import type { Conn } from '../sessions/conn.js';
import type { Session } from '../sessions/session.js';
import type { CoreLink, CoreMessage } from '../transport/message-router.js';
import type { ClusterKeys, InboxEntry, OutboxOp } from './keys.js';

/**
 * The call core as the sockets of this node see it in a cluster: messages go into the shared
 * inbox (whichever node runs the core reads them, in order), and what the core sends to this
 * node's connections comes back on this node's channel.
 */
export class GatewayLink implements CoreLink {
  constructor(
    private readonly redis: Redis,
    private readonly keys: ClusterKeys,
    private readonly nodeId: string,
    private readonly log: Logger,
  ) {}

  handle(conn: Conn, msg: CoreMessage): void {
    const session = conn as Session;
    const q = session.markForwarded();
    const loggedIn = session.signedInAs !== null && msg.t !== 'login';
    this.push({ k: 'm', n: this.nodeId, c: session.id, q, ...(loggedIn && { s: 1 as const }), m: msg }, () => session.acknowledge(q));
  }

  disconnected(conn: Conn): void {
    this.push({ k: 'd', n: this.nodeId, c: conn.id as number });
  }

  sigExpired(conn: Conn): void {
    this.push({ k: 'x', n: this.nodeId, c: conn.id as number });
  }

  private push(entry: InboxEntry, onLost?: () => void): void {
    // One connection, so entries keep the order they were sent in (ioredis pipelines them).
    this.redis.xadd(this.keys.inbox, '*', 'e', JSON.stringify(entry)).catch((err) => {
      this.log.error({ err, kind: entry.k }, 'cluster: could not reach Redis; message dropped');
      onLost?.(); // the client's request times out; nothing waits for its answer any more
    });
  }

  /** Delivers what the core published for this node's connections. */
  static deliver(message: string, sessionById: (id: number) => Session | undefined, log: Logger): void {
    let ops: OutboxOp[];
    try {
      ops = JSON.parse(message) as OutboxOp[];
    } catch {
      log.error('cluster: unreadable frames from the call core');
      return;
    }
    for (const op of ops) {
      const session = sessionById(op.c);
      if (!session) continue;
      if ('f' in op) session.write(op.f as ServerFrame);
      else if ('j' in op) session.writeJson(op.j);
      else if ('a' in op) session.acknowledge(op.a);
      else session.close(op.x[0], op.x[1]);
    }
  }
}
