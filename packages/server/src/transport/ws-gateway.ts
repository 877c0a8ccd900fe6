import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import { CLIENT_MESSAGE_TYPES, clientMessageSchema, ErrorCode, MAX_FRAME_BYTES, SIGNALING_PATH } from '@opencall/protocol';
import { ProtocolError } from '../errors.js';
import { rateLimited, Session } from '../sessions/session.js';
import type { Ingress } from './ingress.js';

/** Beyond this the ws library closes the socket (1009) without reading the frame at all. */
const HARD_MAX_PAYLOAD = 1024 * 1024;
const HEARTBEAT_MS = 30_000;
const KNOWN_TYPES = new Set<string>(CLIENT_MESSAGE_TYPES);
/** A frame costs one rate-limit token plus one per this many bytes. */
const BYTES_PER_TOKEN = 16 * 1024;

/**
 * The WebSocket endpoint: parses and validates every frame, then hands it to the router.
 * Bad frames are answered with an error code and dropped; nothing a client sends can throw
 * out of here or touch another user's state.
 */
export class WsGateway {
  private readonly wss = new WebSocketServer({ noServer: true, maxPayload: HARD_MAX_PAYLOAD, perMessageDeflate: false });
  private readonly sessions = new Map<number, Session>();
  private nextSessionId = 1;
  private readonly heartbeat: NodeJS.Timeout;
  /** Hears the code of every frame refused with an error (metrics). Must be cheap and not throw. */
  onRefused: ((code: number) => void) | undefined;

  constructor(
    private readonly router: Ingress,
    private readonly log: Logger,
  ) {
    this.heartbeat = setInterval(() => this.sweep(), HEARTBEAT_MS);
    this.heartbeat.unref();
  }

  /** Attach to an HTTP server's 'upgrade' event. */
  handleUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    const path = (req.url ?? '').split('?')[0];
    if (path !== SIGNALING_PATH) {
      socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\n\r\n');
      return;
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => this.accept(ws));
  };

  /** A live connection of this node by its id (frames for it may come from another node). */
  session(id: number): Session | undefined {
    return this.sessions.get(id);
  }

  get connectionCount(): number {
    return this.sessions.size;
  }

  /** Closes every connection (their calls end as disconnects) and stops the heartbeat; new upgrades get 503. */
  close(code: number, reason: string): void {
    clearInterval(this.heartbeat);
    for (const s of this.sessions.values()) s.close(code, reason);
    this.wss.close();
  }

  /** Drops the connections still open without waiting for their close handshake (shutdown). */
  terminateAll(): void {
    for (const ws of this.wss.clients) ws.terminate();
  }

  private accept(ws: WebSocket): void {
    const session = new Session(this.nextSessionId++, ws);
    const alive = { value: true };
    aliveOf.set(ws, alive);
    this.sessions.set(session.id, session);
    ws.on('pong', () => (alive.value = true));
    ws.on('message', (data, isBinary) => this.onFrame(session, data, isBinary));
    ws.on('error', (err) => this.log.debug({ err, session: session.id }, 'socket error'));
    ws.on('close', () => {
      this.sessions.delete(session.id);
      this.router.disconnected(session);
    });
  }

  private onFrame(session: Session, data: RawData, isBinary: boolean): void {
    if (session.closed) return;
    let rid: number | undefined;
    try {
      const size = Array.isArray(data) ? data.reduce((n, b) => n + b.length, 0) : data.byteLength;
      // Big frames cost more tokens: the limit is on work, not just on frame count.
      const admitted = session.admit(1 + Math.floor(size / BYTES_PER_TOKEN));
      if (size > MAX_FRAME_BYTES) throw new ProtocolError(ErrorCode.FRAME_TOO_LARGE, `frame of ${size} bytes exceeds ${MAX_FRAME_BYTES}`);
      if (isBinary) throw new ProtocolError(ErrorCode.MALFORMED_FRAME, 'binary frames are not accepted; send JSON text');
      let json: unknown;
      try {
        json = JSON.parse(Array.isArray(data) ? Buffer.concat(data).toString('utf8') : data.toString());
      } catch {
        throw new ProtocolError(ErrorCode.MALFORMED_FRAME, 'frame is not valid JSON');
      }
      if (typeof json !== 'object' || json === null || Array.isArray(json)) {
        throw new ProtocolError(ErrorCode.INVALID_MESSAGE, 'a message is a JSON object with a "t" field');
      }
      const maybeRid = (json as { rid?: unknown }).rid;
      if (Number.isInteger(maybeRid) && (maybeRid as number) >= 0) rid = maybeRid as number;
      // Refused after parsing (bounded by MAX_FRAME_BYTES) so a limited request still gets its `res`.
      if (!admitted) throw rateLimited();
      const t = (json as { t?: unknown }).t;
      if (typeof t !== 'string' || !KNOWN_TYPES.has(t)) {
        const shown = typeof t === 'string' ? JSON.stringify(t.slice(0, 40)) : `of type ${Array.isArray(t) ? 'array' : typeof t}`;
        throw new ProtocolError(ErrorCode.UNKNOWN_MESSAGE, `unknown message type ${shown}`);
      }
      const parsed = clientMessageSchema.safeParse(json);
      if (!parsed.success) {
        const issue = parsed.error.issues[0];
        throw new ProtocolError(ErrorCode.INVALID_MESSAGE, `invalid "${t}": ${issue?.path.join('.') || '(root)'}: ${issue?.message}`);
      }
      this.router.handle(session, parsed.data);
    } catch (err) {
      this.onRefused?.(err instanceof ProtocolError ? err.code : ErrorCode.INTERNAL);
      if (err instanceof ProtocolError) return session.fail(rid, err);
      this.log.error({ err, session: session.id, userID: session.userID }, 'bug while handling a frame');
      session.fail(rid, new ProtocolError(ErrorCode.INTERNAL, 'internal server error'));
    }
  }

  /** Drops connections that did not answer the last ping (half-open TCP, sleeping laptops). */
  private sweep(): void {
    for (const ws of this.wss.clients) {
      const alive = aliveOf.get(ws);
      if (!alive) continue;
      if (!alive.value) {
        ws.terminate();
        continue;
      }
      alive.value = false;
      ws.ping();
    }
  }
}

const aliveOf = new WeakMap<WebSocket, { value: boolean }>();
