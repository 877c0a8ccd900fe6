import type { ServerFrame } from '@opencall/protocol';
import type { ProtocolError } from '../errors.js';
import type { Conn } from '../sessions/conn.js';
import type { OutboxOp } from './keys.js';

/**
 * Frames the call core produced since its last commit, per node. They are published in the
 * same atomic step as the state that produced them, so a node that takes over never repeats a
 * frame that went out, nor loses one that did not.
 */
export class Outbox {
  private byNode = new Map<string, OutboxOp[]>();
  /** Called when the outbox goes from empty to not empty. */
  constructor(private readonly onFirst: () => void) {}

  push(node: string, op: OutboxOp): void {
    let ops = this.byNode.get(node);
    if (!ops) {
      if (this.byNode.size === 0) this.onFirst();
      ops = [];
      this.byNode.set(node, ops);
    }
    ops.push(op);
  }

  /** Everything queued, emptying the outbox. */
  take(): Map<string, OutboxOp[]> {
    const all = this.byNode;
    this.byNode = new Map();
    return all;
  }
}

/** A connection held by some node of the cluster (maybe this one), as the call core sees it. */
export class RemoteConn implements Conn {
  userID: string | null = null;
  device: string | null = null;
  /** Number of the last message of this connection the core handled (see OutboxOp `a`). */
  lastQ = 0;

  constructor(
    /** `node/connection`: unique in the cluster. */
    readonly id: string,
    readonly node: string,
    readonly connId: number,
    private readonly outbox: Outbox,
  ) {}

  static key(node: string, connId: number): string {
    return `${node}/${connId}`;
  }

  /** Parses a key made by {@link key}. */
  static parse(key: string): { node: string; connId: number } | undefined {
    const i = key.lastIndexOf('/');
    const connId = Number(key.slice(i + 1));
    return i > 0 && Number.isSafeInteger(connId) ? { node: key.slice(0, i), connId } : undefined;
  }

  send(frame: ServerFrame): void {
    this.outbox.push(this.node, { c: this.connId, f: frame });
  }

  sendJson(json: string): void {
    this.outbox.push(this.node, { c: this.connId, j: json });
  }

  reply(rid: number, data?: unknown): void {
    this.send(data === undefined ? { t: 'res', rid, ok: true } : { t: 'res', rid, ok: true, data });
  }

  fail(rid: number | undefined, error: ProtocolError): void {
    if (rid === undefined) this.send({ t: 'error', code: error.code, message: error.message });
    else this.send({ t: 'res', rid, ok: false, code: error.code, message: error.message });
  }

  close(code = 1000, reason = ''): void {
    this.outbox.push(this.node, { c: this.connId, x: [code, reason] });
  }

  /** Tells the node that every message up to {@link lastQ} has been answered. */
  acknowledge(): void {
    this.outbox.push(this.node, { c: this.connId, a: this.lastQ });
  }
}
