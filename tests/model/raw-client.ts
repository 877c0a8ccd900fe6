/**
 * A raw protocol client over a real `ws` WebSocket (no SDK, no media): sends whatever it is told
 * and records every frame it receives. Adapted from tests/protocol-abuse.test.ts.
 */
import { WebSocket } from 'ws';

export type Frame = Record<string, any>;

/** Rids of the helper's own pings: far above any rid a test writes into a frame. */
export const PING_RID_BASE = 1_500_000_000;

export class RawClient {
  readonly frames: Frame[] = [];
  closeInfo: { code: number; reason: string } | undefined;
  /** Called on every received frame (after it is recorded). */
  onFrame: ((f: Frame) => void) | undefined;
  private nextPingRid = PING_RID_BASE;
  private readonly wakers = new Set<() => void>();

  private constructor(readonly ws: WebSocket, readonly label: string) {
    ws.on('message', (data: Buffer) => {
      let frame: Frame;
      try {
        frame = JSON.parse(data.toString('utf8')) as Frame;
      } catch {
        frame = { t: '__unparsable__', text: data.toString('utf8').slice(0, 200) };
      }
      this.frames.push(frame);
      this.onFrame?.(frame);
      this.wake();
    });
    ws.on('close', (code: number, reason: Buffer) => {
      this.closeInfo = { code, reason: reason.toString() };
      this.wake();
    });
    ws.on('error', () => {});
  }

  static open(baseUrl: string, label = 'raw'): Promise<RawClient> {
    const ws = new WebSocket(baseUrl.replace(/^http/, 'ws') + '/ws', { perMessageDeflate: false });
    return new Promise((resolve, reject) => {
      ws.once('open', () => resolve(new RawClient(ws, label)));
      ws.once('error', reject);
    });
  }

  get isOpen(): boolean {
    return this.ws.readyState === WebSocket.OPEN && this.closeInfo === undefined;
  }

  send(msg: unknown): void {
    this.ws.send(JSON.stringify(msg));
  }

  sendRaw(data: string | Buffer, binary = false): void {
    this.ws.send(data, { binary });
  }

  private wake(): void {
    for (const w of [...this.wakers]) w();
  }

  /** Resolves once `check` returns something other than undefined (re-checked on every frame and on close). */
  until<T>(check: () => T | undefined, what: string, timeoutMs = 5000): Promise<T> {
    try {
      const now = check();
      if (now !== undefined) return Promise.resolve(now);
    } catch (err) {
      return Promise.reject(err);
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.wakers.delete(waker);
        reject(new Error(`${this.label}: timed out waiting for ${what}; last frames: ${JSON.stringify(this.frames.slice(-5)).slice(0, 800)}`));
      }, timeoutMs);
      const waker = () => {
        let v: T | undefined;
        try {
          v = check();
        } catch (err) {
          clearTimeout(timer);
          this.wakers.delete(waker);
          reject(err);
          return;
        }
        if (v === undefined) return;
        clearTimeout(timer);
        this.wakers.delete(waker);
        resolve(v);
      };
      this.wakers.add(waker);
    });
  }

  /** The `res` frame with this rid received at or after index `from`. */
  waitRes(rid: number, from = 0, timeoutMs = 5000): Promise<Frame> {
    return this.until(() => {
      for (let i = from; i < this.frames.length; i++) {
        const f = this.frames[i]!;
        if (f.t === 'res' && f.rid === rid) return f;
      }
      if (this.closeInfo) throw new Error(`${this.label}: closed (${this.closeInfo.code}) before res ${rid}`);
      return undefined;
    }, `res ${rid}`, timeoutMs);
  }

  waitClose(timeoutMs = 5000): Promise<{ code: number; reason: string }> {
    return this.until(() => this.closeInfo, 'close', timeoutMs);
  }

  /** A ping round trip: everything the server sent this socket before answering it has arrived. */
  async ping(timeoutMs = 5000): Promise<void> {
    const rid = this.nextPingRid++;
    const from = this.frames.length;
    this.send({ t: 'ping', rid });
    const res = await this.waitRes(rid, from, timeoutMs);
    if (res.ok !== true) throw new Error(`${this.label}: ping refused: ${JSON.stringify(res)}`);
  }

  close(): void {
    this.ws.close();
  }

  terminate(): void {
    this.ws.terminate();
  }
}
