import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import { CLIENT_MESSAGE_TYPES, clientMessageSchema, ErrorCode, MAX_FRAME_BYTES, SIGNALING_PATH } from '@opencall/protocol';
import { ProtocolError } from '../errors.js';
import { rateLimited, Session, type SessionLimits } from '../sessions/session.js';
import type { Ingress } from './ingress.js';
import { CloseCode } from './message-router.js';

/** Beyond this the ws library closes the socket (1009) without reading the frame at all. */
const HARD_MAX_PAYLOAD = 1024 * 1024;
const KNOWN_TYPES = new Set<string>(CLIENT_MESSAGE_TYPES);
/** A frame costs one rate-limit token plus one per this many bytes. */
const BYTES_PER_TOKEN = 16 * 1024;
/** Largest frame before login (a login with a UserSig is well under 1 KiB); larger: ws closes with 1009 unread. */
export const PRE_LOGIN_MAX_FRAME_BYTES = 4 * 1024;
/** Logins refused on one socket before it is closed (4005). */
export const MAX_FAILED_LOGINS = 3;
/** Rate-limit refusals within {@link FLOOD_WINDOW_MS} after which the socket is closed (4007). */
export const FLOOD_REFUSALS = 1000;
const FLOOD_WINDOW_MS = 10_000;
/** A refused frame's rid, read from its first bytes without parsing it (`{"t":"x","rid":12,...}`). */
const RID_PREFIX = /"rid"\s*:\s*(\d{1,15})[,}\s]/;

/** Why the gateway closed a socket or refused an upgrade (metric labels; bounded). */
export type PolicyClose = 'login_required' | 'login_timeout' | 'login_failed' | 'frame_too_large' | 'flooding' | 'slow_consumer' | 'no_pong';
export type UpgradeRefusal = 'per_address' | 'total';

export interface GatewayOptions {
  /** The client address of an upgrade request (OPENCALL_TRUST_PROXY's rule, http/client-address.ts). */
  clientAddress: (req: IncomingMessage) => string;
  maxSendBufferBytes: number;
  loginTimeoutMs: number;
  /** 0: no cap. */
  maxConnectionsPerAddress: number;
  /** 0: no cap. */
  maxConnections: number;
  heartbeatMs: number;
}

/**
 * The WebSocket endpoint: admits connections within the caps, rate limits and then parses and
 * validates every frame, then hands it to the router. Bad frames are answered with an error
 * code and dropped; nothing a client sends can throw out of here or touch another user's state.
 * Before login a socket may only log in (or ping), within a deadline and a small frame size.
 */
export class WsGateway {
  private readonly wss = new WebSocketServer({ noServer: true, maxPayload: HARD_MAX_PAYLOAD, perMessageDeflate: false });
  private readonly sessions = new Map<number, Session>();
  private nextSessionId = 1;
  private readonly heartbeat: NodeJS.Timeout;
  /** The payload of the last heartbeat ping: only a pong echoing it proves the peer alive. */
  private pingNonce = randomBytes(8);
  /** Open sockets (counted from the upgrade until the TCP socket closes), in total and per client address. */
  private open = 0;
  private readonly perAddress = new Map<string, number>();
  private readonly limits: SessionLimits;
  /** Hears the code of every frame refused with an error (metrics). Must be cheap and not throw. */
  onRefused: ((code: number) => void) | undefined;
  /** Hears every socket closed by a limit, and every upgrade refused by a cap (metrics). */
  onPolicyClose: ((reason: PolicyClose) => void) | undefined;
  onUpgradeRefused: ((reason: UpgradeRefusal) => void) | undefined;

  constructor(
    private readonly router: Ingress,
    private readonly log: Logger,
    private readonly o: GatewayOptions,
  ) {
    this.heartbeat = setInterval(() => this.sweep(), o.heartbeatMs);
    this.heartbeat.unref();
    this.limits = {
      maxSendBufferBytes: o.maxSendBufferBytes,
      onSlowConsumer: (session, bytes) => {
        this.log.warn({ event: 'session.slow_consumer', userID: session.userID ?? session.signedInAs, session: session.id, bytes, limit: o.maxSendBufferBytes }, 'socket not reading: closed');
        this.onPolicyClose?.('slow_consumer');
      },
    };
  }

  /** Attach to an HTTP server's 'upgrade' event. */
  handleUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    const path = (req.url ?? '').split('?')[0];
    if (path !== SIGNALING_PATH) return refuseUpgrade(socket, 404, 'Not Found');
    const o = this.o;
    if (o.maxConnections > 0 && this.open >= o.maxConnections) {
      this.onUpgradeRefused?.('total');
      return refuseUpgrade(socket, 503, 'Service Unavailable', 'server at its connection limit (OPENCALL_MAX_CONNECTIONS)');
    }
    const address = normalizeAddress(o.clientAddress(req));
    const fromAddress = this.perAddress.get(address) ?? 0;
    if (o.maxConnectionsPerAddress > 0 && fromAddress >= o.maxConnectionsPerAddress) {
      this.onUpgradeRefused?.('per_address');
      return refuseUpgrade(socket, 429, 'Too Many Requests', 'too many connections from this address (OPENCALL_MAX_CONNECTIONS_PER_IP)');
    }
    // Counted until the TCP socket closes, whatever happens to the handshake.
    this.open++;
    this.perAddress.set(address, fromAddress + 1);
    socket.once('close', () => {
      this.open--;
      const n = (this.perAddress.get(address) ?? 1) - 1;
      if (n > 0) this.perAddress.set(address, n);
      else this.perAddress.delete(address);
    });
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
    const session = new Session(this.nextSessionId++, ws, this.limits);
    const alive = { value: true };
    aliveOf.set(ws, alive);
    this.sessions.set(session.id, session);
    session.startLoginDeadline(this.o.loginTimeoutMs, PRE_LOGIN_MAX_FRAME_BYTES, () => this.policyClose(session, 'login_timeout', CloseCode.LOGIN_TIMEOUT, 'no login in time'));
    // Only the echo of our own ping counts: unsolicited pongs prove nothing.
    ws.on('pong', (data) => {
      if (data.equals(this.pingNonce)) alive.value = true;
    });
    ws.on('message', (data, isBinary) => this.onFrame(session, data, isBinary));
    ws.on('error', (err) => {
      // ws closes the socket itself (1009) for a frame over the size this socket may send.
      if ((err as { code?: string }).code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') this.policyClose(session, 'frame_too_large', CloseCode.TOO_BIG, 'frame too large');
      else this.log.debug({ err, session: session.id }, 'socket error');
    });
    ws.on('close', () => {
      this.sessions.delete(session.id);
      this.router.disconnected(session);
    });
  }

  /** Closes a socket for breaking a limit, and counts it. */
  private policyClose(session: Session, reason: PolicyClose, code: number, text: string): void {
    if (session.closed) return;
    session.closeNow(code, text, { stopReading: reason === 'frame_too_large' || reason === 'flooding' });
    this.log.debug({ event: 'session.policy_close', reason, session: session.id, userID: session.signedInAs }, 'socket closed by a limit');
    this.onPolicyClose?.(reason);
  }

  private onFrame(session: Session, data: RawData, isBinary: boolean): void {
    if (session.closed) return;
    const size = Array.isArray(data) ? data.reduce((n, b) => n + b.length, 0) : data.byteLength;
    // Rate limit first, before any parsing. Big frames cost more tokens: the limit is on work, not just on frame count.
    if (!session.admit(1 + Math.floor(size / BYTES_PER_TOKEN))) return this.refuseRate(session, data);
    // Before the first login (a socket that logged out again is held to the router's rules, NOT_LOGGED_IN).
    const anonymous = !session.everSignedIn;
    // ws already cuts bigger frames before login (startLoginDeadline); this holds if it ever stops doing so.
    if (anonymous && size > PRE_LOGIN_MAX_FRAME_BYTES) return this.policyClose(session, 'frame_too_large', CloseCode.TOO_BIG, 'frame too large before login');
    let rid: number | undefined;
    let t: unknown;
    try {
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
      t = (json as { t?: unknown }).t;
      if (typeof t !== 'string' || !KNOWN_TYPES.has(t)) {
        const shown = typeof t === 'string' ? JSON.stringify(t.slice(0, 40)) : `of type ${Array.isArray(t) ? 'array' : typeof t}`;
        throw new ProtocolError(ErrorCode.UNKNOWN_MESSAGE, `unknown message type ${shown}`);
      }
      if (anonymous && t !== 'login' && t !== 'ping') throw new ProtocolError(ErrorCode.NOT_LOGGED_IN, `log in before sending "${t}"`);
      const parsed = clientMessageSchema.safeParse(json);
      if (!parsed.success) {
        const issue = parsed.error.issues[0];
        throw new ProtocolError(ErrorCode.INVALID_MESSAGE, `invalid "${t}": ${issue?.path.join('.') || '(root)'}: ${issue?.message}`);
      }
      // Not logged in: answered here, so nothing of an anonymous socket reaches the call core (Redis in a cluster).
      if (anonymous && parsed.data.t === 'ping') return session.reply(parsed.data.rid, { serverTime: Date.now() });
      this.router.handle(session, parsed.data);
    } catch (err) {
      this.onRefused?.(err instanceof ProtocolError ? err.code : ErrorCode.INTERNAL);
      if (err instanceof ProtocolError) session.fail(rid, err);
      else {
        this.log.error({ err, session: session.id, userID: session.userID }, 'bug while handling a frame');
        session.fail(rid, new ProtocolError(ErrorCode.INTERNAL, 'internal server error'));
      }
      // Before login, a refused frame ends the socket: a refused login after a few, anything else at once.
      if (!anonymous || session.everSignedIn || session.closed) return;
      if (t !== 'login') return this.policyClose(session, 'login_required', CloseCode.LOGIN_REQUIRED, 'log in first');
      if (++session.failedLogins >= MAX_FAILED_LOGINS) this.policyClose(session, 'login_failed', CloseCode.LOGIN_FAILED, 'too many failed logins');
    }
  }

  /** A frame over the rate limit: refused unparsed; a socket that keeps on is closed. */
  private refuseRate(session: Session, data: RawData): void {
    this.onRefused?.(ErrorCode.RATE_LIMITED);
    const now = performance.now();
    if (now - session.refusalWindowStart > FLOOD_WINDOW_MS) {
      session.refusalWindowStart = now;
      session.refusals = 0;
    }
    if (++session.refusals > FLOOD_REFUSALS) return this.policyClose(session, 'flooding', CloseCode.FLOODING, 'too many messages after being rate limited');
    const first = Array.isArray(data) ? data[0] : Buffer.isBuffer(data) ? data : Buffer.from(data);
    const m = first ? RID_PREFIX.exec(first.toString('latin1', 0, Math.min(first.length, 64))) : null;
    session.fail(m ? Number(m[1]) : undefined, rateLimited());
  }

  /** Drops connections that did not answer the last ping (half-open TCP, sleeping laptops, peers ignoring pings). */
  private sweep(): void {
    this.pingNonce = randomBytes(8);
    for (const ws of this.wss.clients) {
      const alive = aliveOf.get(ws);
      if (!alive) continue;
      if (!alive.value) {
        this.onPolicyClose?.('no_pong');
        ws.terminate();
        continue;
      }
      alive.value = false;
      ws.ping(this.pingNonce);
    }
  }
}

const aliveOf = new WeakMap<WebSocket, { value: boolean }>();

/** The error code in a refused upgrade's body, as the HTTP routes answer the same statuses. */
const UPGRADE_REFUSAL_CODE: Record<number, number> = { 429: ErrorCode.RATE_LIMITED, 503: ErrorCode.CONNECTION_FAILED };

/** Answers a refused upgrade with an HTTP status and a `{code, message}` body, before any WebSocket exists. */
function refuseUpgrade(socket: Duplex, status: number, text: string, message?: string): void {
  const body = message === undefined ? '' : JSON.stringify({ code: UPGRADE_REFUSAL_CODE[status] ?? status, message });
  socket.end(
    `HTTP/1.1 ${status} ${text}\r\nConnection: close\r\n` +
      (body ? `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` : '') +
      (status === 503 || status === 429 ? 'Retry-After: 10\r\n' : '') +
      `\r\n${body}`,
  );
}

/** One key per client: IPv4-mapped IPv6 (`::ffff:1.2.3.4`) counts as the IPv4 address. */
export function normalizeAddress(address: string): string {
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address.toLowerCase();
}
