import { EventEmitter } from 'eventemitter3';
import { ErrorCode, SIGNALING_PATH } from '@opencall/protocol/lite';
import type { ClientMessage, ResponseFrame, ServerEventFrame, ServerFrame } from '@opencall/protocol/lite';
import { CallingError } from '../errors.js';

/** The WebSocket constructor to use: the browser's, or `ws` in Node. */
export type WebSocketCtor = new (url: string) => WebSocketLike;
export interface WebSocketLike {
  readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((ev: unknown) => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
}

/** A client message minus the request number, which the signal client assigns. */
export type Request = ClientMessage extends infer M ? (M extends { rid?: number } ? Omit<M, 'rid'> : never) : never;

const REQUEST_TIMEOUT_MS = 10_000;

interface Pending {
  resolve(data: unknown): void;
  reject(err: CallingError): void;
  timer: ReturnType<typeof setTimeout>;
}

export interface SignalEvents {
  frame: [ServerEventFrame];
  /** Unsolicited error frame from the server. */
  error: [CallingError];
  close: [{ code: number; reason: string }];
}

/** `http(s)://host` or `ws(s)://host` → the signaling WebSocket URL. */
export function signalingUrl(serverUrl: string): string {
  const u = new URL(serverUrl);
  if (u.protocol === 'http:') u.protocol = 'ws:';
  else if (u.protocol === 'https:') u.protocol = 'wss:';
  else if (u.protocol !== 'ws:' && u.protocol !== 'wss:') throw new Error(`serverUrl must be http(s):// or ws(s)://, got ${serverUrl}`);
  if (!u.pathname.endsWith(SIGNALING_PATH)) u.pathname = u.pathname.replace(/\/$/, '') + SIGNALING_PATH;
  return u.toString();
}

/**
 * The connection to the OpenCall server: requests with answers (matched by rid) and a stream of
 * server events. Knows nothing about calls.
 */
export class SignalClient extends EventEmitter<SignalEvents> {
  private nextRid = 1;
  private readonly pending = new Map<number, Pending>();
  private closed = false;

  private constructor(private readonly ws: WebSocketLike) {
    super();
    ws.onmessage = (ev) => this.onMessage(ev.data);
    ws.onclose = (ev) => this.onClose(ev.code, ev.reason);
    ws.onerror = () => {};
  }

  /** Opens the socket; rejects with CONNECTION_FAILED if it cannot. */
  static connect(url: string, WebSocketImpl: WebSocketCtor, timeoutMs = 10_000): Promise<SignalClient> {
    return new Promise((resolve, reject) => {
      let ws: WebSocketLike;
      try {
        ws = new WebSocketImpl(url);
      } catch (err) {
        reject(new CallingError(ErrorCode.CONNECTION_FAILED, `cannot connect to ${url}: ${(err as Error).message}`));
        return;
      }
      const fail = (why: string) => {
        clearTimeout(timer);
        ws.onopen = ws.onclose = ws.onerror = null;
        try {
          ws.close();
        } catch {
          /* already closed */
        }
        reject(new CallingError(ErrorCode.CONNECTION_FAILED, `cannot connect to ${url}: ${why}`));
      };
      const timer = setTimeout(() => fail('timed out'), timeoutMs);
      ws.onerror = () => fail('connection error');
      ws.onclose = (ev) => fail(`closed (${ev.code})`);
      ws.onopen = () => {
        clearTimeout(timer);
        resolve(new SignalClient(ws));
      };
    });
  }

  get isOpen(): boolean {
    return !this.closed && this.ws.readyState === 1;
  }

  /**
   * Sends a request and resolves with the server's `data`, or rejects with its error code.
   * `onResult` runs synchronously when the answer arrives, before any later frame is
   * dispatched: state that later frames depend on (a new inviteID) must be set there, since a
   * promise continuation may run only after frames that came in the same network read.
   */
  request<T = unknown>(msg: Request, onResult?: (data: T) => void, timeoutMs = REQUEST_TIMEOUT_MS): Promise<T> {
    if (!this.isOpen) return Promise.reject(new CallingError(ErrorCode.CONNECTION_FAILED, 'not connected to the server'));
    const rid = this.nextRid++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(rid);
        reject(new CallingError(ErrorCode.REQUEST_TIMEOUT, `no answer to "${msg.t}" within ${timeoutMs} ms`));
      }, timeoutMs);
      const settle = (data: unknown) => {
        try {
          onResult?.(data as T);
        } catch (err) {
          reject(err as CallingError);
          return;
        }
        resolve(data as T);
      };
      this.pending.set(rid, { resolve: settle, reject, timer });
      this.ws.send(JSON.stringify({ ...msg, rid }));
    });
  }

  /** Fire-and-forget; failures come back as `error` events. */
  send(msg: Request): void {
    if (this.isOpen) this.ws.send(JSON.stringify(msg));
  }

  close(): void {
    if (this.closed) return;
    this.ws.close(1000, 'bye');
    this.onClose(1000, 'closed by client');
  }

  private onMessage(data: unknown): void {
    let frame: ServerFrame;
    try {
      frame = JSON.parse(String(data)) as ServerFrame;
    } catch {
      return;
    }
    if (frame.t === 'res') return this.settle(frame);
    if (frame.t === 'error') {
      this.emit('error', new CallingError(frame.code, frame.message));
      return;
    }
    this.emit('frame', frame);
  }

  private settle(frame: ResponseFrame): void {
    const p = this.pending.get(frame.rid);
    if (!p) return;
    this.pending.delete(frame.rid);
    clearTimeout(p.timer);
    if (frame.ok) p.resolve(frame.data);
    else p.reject(new CallingError(frame.code, frame.message));
  }

  private onClose(code: number, reason: string): void {
    if (this.closed) return;
    this.closed = true;
    this.ws.onmessage = this.ws.onclose = null;
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      // The server's application codes say why (docs/protocol.md, "Close codes"), e.g. 4004 "no login in time".
      const why = code >= 4000 && code < 5000 ? ` (${code} ${reason})` : '';
      p.reject(new CallingError(ErrorCode.CONNECTION_FAILED, `connection to the server closed${why}`));
    }
    this.pending.clear();
    this.emit('close', { code, reason });
  }
}
