import type { Duplex } from 'node:stream';
import type { WebSocket } from 'ws';
import type { ServerFrame } from '@opencall/protocol';
import { ErrorCode } from '@opencall/protocol';
import { ProtocolError } from '../errors.js';
import { CloseCode } from '../transport/message-router.js';
import type { Conn } from './conn.js';

/** Most refusals a connection holds back waiting for the call core (cluster); beyond, they go out at once. */
const MAX_HELD = 512;
/** Token bucket: enough for ICE candidate bursts, too little for a flood to starve other users. */
const RATE_CAPACITY = 400;
const RATE_PER_SECOND = 200;

/** What the gateway bounds per socket, shared by all its sessions. */
export interface SessionLimits {
  /** Unsent bytes (ws `bufferedAmount`: ws's queue plus the TCP socket's writable buffer) beyond which the socket is cut. */
  maxSendBufferBytes: number;
  /** Called once when a socket passes it (after the session is closed): log and count. */
  onSlowConsumer(session: Session, bufferedBytes: number): void;
}

/**
 * One WebSocket connection. Before login it has no userID; after login, the identity is
 * the one proven by the UserSig and nothing the client sends later can change it.
 */
export class Session implements Conn {
  userID: string | null = null;
  device: string | null = null;
  /** Who this socket proved to be at login (kept by the node holding the socket, see Ingress). */
  signedInAs: string | null = null;
  /** Closed sessions ignore further frames (the socket may still deliver buffered ones). */
  closed = false;
  private tokens = RATE_CAPACITY;
  private lastRefill = performance.now();
  private expiryTimer: NodeJS.Timeout | undefined;
  /** Whether a UserSig was ever verified on this socket (only then has anything of it gone to the call core). */
  everSignedIn = false;
  /** Logins refused on this socket (bad UserSig): a few, then it is closed. */
  failedLogins = 0;
  /** Rate-limit refusals in the current window, and when that window started (flood detection). */
  refusals = 0;
  refusalWindowStart = 0;
  private loginTimer: NodeJS.Timeout | undefined;
  /** The frame size ws allowed before the login deadline lowered it. */
  private signedInMaxPayload: number | undefined;

  constructor(
    readonly id: number,
    private readonly socket: WebSocket,
    private readonly limits: SessionLimits,
  ) {}

  /** Until {@link markSignedIn}: `onTimeout` after `ms`, and frames over `maxFrameBytes` are cut by ws itself (1009). */
  startLoginDeadline(ms: number, maxFrameBytes: number, onTimeout: () => void): void {
    this.signedInMaxPayload = setMaxPayload(this.socket, maxFrameBytes);
    this.loginDeadline = { ms, onTimeout };
    this.armLoginTimer();
  }

  /** A UserSig was verified on this socket: the pre-login limits end. */
  markSignedIn(userID: string): void {
    this.signedInAs = userID;
    clearTimeout(this.loginTimer);
    this.loginTimer = undefined;
    if (!this.everSignedIn) {
      this.everSignedIn = true;
      if (this.signedInMaxPayload !== undefined) setMaxPayload(this.socket, this.signedInMaxPayload);
    }
  }

  /** Logged out, socket kept: it must log in again within the same deadline (or it holds a slot for nothing). */
  markSignedOut(): void {
    if (this.signedInAs === null) return; // not logged in: a logout does not extend the deadline
    this.signedInAs = null;
    if (!this.closed) this.armLoginTimer();
  }

  private loginDeadline: { ms: number; onTimeout: () => void } | undefined;

  private armLoginTimer(): void {
    if (!this.loginDeadline) return;
    clearTimeout(this.loginTimer);
    this.loginTimer = setTimeout(this.loginDeadline.onTimeout, this.loginDeadline.ms);
    this.loginTimer.unref();
  }

  /**
   * In a cluster, messages this node forwarded to the call core (elsewhere) and how many of
   * them the core has answered: frames this node sends itself (refusals) wait for the answers
   * to everything sent before them, so a client gets its answers in the order it asked.
   */
  private forwarded = 0;
  private acked = 0;
  private held: { after: number; json: string }[] = [];

  send(frame: ServerFrame): void {
    this.sendJson(JSON.stringify(frame));
  }

  sendJson(json: string): void {
    if (this.forwarded > this.acked && this.held.length < MAX_HELD) this.held.push({ after: this.forwarded, json });
    else this.writeJson(json); // in order, or (call core away for long, queue full) at least not hoarded
  }

  /** A message went to the call core on another node; returns its number. */
  markForwarded(): number {
    return ++this.forwarded;
  }

  /** The call core answered (or will never answer) every message up to `q`; it sends via {@link write}. */
  acknowledge(q: number): void {
    if (q <= this.acked) return;
    this.acked = q;
    while (this.held.length > 0 && this.held[0]!.after <= this.acked) this.writeJson(this.held.shift()!.json);
  }

  /**
   * Sends now (frames from the call core arrive in order by themselves). The TCP socket stays
   * corked until the end of this pass of the event loop: every frame this connection gets in the
   * pass leaves in one write (in the order sent) instead of one system call each.
   */
  write(frame: ServerFrame): void {
    this.writeJson(JSON.stringify(frame));
  }

  /** {@link write} for a frame already serialized. */
  writeJson(json: string): void {
    if (this.closed || this.socket.readyState !== 1) return;
    if (!this.corked) corkForThisPass(this);
    this.socket.send(json);
    // Every frame out passes here (answers, events, history pages, resume replays, frames from
    // the core in a cluster): a peer that stops reading cannot make the server hold more.
    const buffered = this.socket.bufferedAmount;
    if (buffered > this.limits.maxSendBufferBytes) this.cutSlowConsumer(buffered);
  }

  /**
   * The peer does not read what we send. The close frame is queued behind the bytes it does not
   * read, so the socket is destroyed at once after starting the close (freeing what it holds).
   */
  private cutSlowConsumer(buffered: number): void {
    this.held = [];
    this.closed = true;
    this.clearSigExpiry();
    clearTimeout(this.loginTimer);
    this.socket.close(CloseCode.SLOW_CONSUMER, 'slow consumer: too many unsent bytes');
    this.socket.terminate();
    this.limits.onSlowConsumer(this, buffered);
  }

  /** Corked by {@link corkForThisPass} until the end of the current event-loop pass. */
  private corked = false;

  /** @internal */
  static uncork(s: Session): void {
    s.corked = false;
    const raw = rawSocket(s.socket);
    if (raw && !raw.destroyed && raw.writableCorked > 0) raw.uncork();
  }

  /** @internal */
  static cork(s: Session): boolean {
    const raw = rawSocket(s.socket);
    if (!raw || raw.destroyed) return false;
    raw.cork();
    s.corked = true;
    return true;
  }

  reply(rid: number, data?: unknown): void {
    this.send(data === undefined ? { t: 'res', rid, ok: true } : { t: 'res', rid, ok: true, data });
  }

  /** Answers a failed request, or sends an unsolicited error frame when there was no rid. */
  fail(rid: number | undefined, error: ProtocolError): void {
    if (rid === undefined) this.send({ t: 'error', code: error.code, message: error.message });
    else this.send({ t: 'res', rid, ok: false, code: error.code, message: error.message });
  }

  /** Takes `cost` tokens; false when the client sends faster than the bucket refills. */
  admit(cost = 1): boolean {
    const now = performance.now();
    this.tokens = Math.min(RATE_CAPACITY, this.tokens + ((now - this.lastRefill) * RATE_PER_SECOND) / 1000);
    this.lastRefill = now;
    if (this.tokens < cost) return false;
    this.tokens -= cost;
    return true;
  }

  /** Calls `onExpire` when the UserSig runs out, like IM does ("票据过期"). */
  armSigExpiry(expiresAtMs: number, onExpire: () => void): void {
    this.clearSigExpiry();
    const arm = () => {
      const left = expiresAtMs - Date.now();
      if (left <= 0) return onExpire();
      this.expiryTimer = setTimeout(arm, Math.min(left, 2 ** 31 - 1));
      this.expiryTimer.unref();
    };
    arm();
  }

  clearSigExpiry(): void {
    if (this.expiryTimer) clearTimeout(this.expiryTimer);
    this.expiryTimer = undefined;
  }

  /** Closes the socket after flushing what was queued (the kicked/sigExpired frame in particular). */
  close(code = 1000, reason = ''): void {
    if (this.closed) return;
    for (const h of this.held.splice(0)) this.writeJson(h.json);
    this.closed = true;
    this.clearSigExpiry();
    clearTimeout(this.loginTimer);
    this.socket.close(code, reason);
  }

  /**
   * Closes by policy (limits): sends the close frame and cuts the socket if the close is not done
   * within `graceMs`. With `stopReading` (a flooder) it reads nothing more meanwhile: ws, once it
   * has refused a frame, reads and discards whatever comes (at loopback speed, 300 junk streams
   * took a core for that second), and a flooder's frames would still be parsed; paused, TCP flow
   * control stops them. Without it the peer's close reply is read and the close ends at once.
   */
  closeNow(code: number, reason: string, { graceMs = 1000, stopReading = false }: { graceMs?: number; stopReading?: boolean } = {}): void {
    this.close(code, reason);
    const socket = this.socket;
    const raw = stopReading ? rawSocket(socket) : undefined;
    // After ws's own resume of a refused socket (a nextTick in its receiver's error path).
    if (raw) setImmediate(() => raw.pause());
    setTimeout(() => socket.terminate(), graceMs).unref();
  }
}

/**
 * Sets the largest frame ws reads on this socket before closing it with 1009 (ws keeps it in
 * `_receiver._maxPayload`); returns the previous value (undefined if ws ever stops keeping it there:
 * the gateway's own size check still holds then).
 */
function setMaxPayload(ws: WebSocket, bytes: number): number | undefined {
  const receiver = (ws as unknown as { _receiver?: { _maxPayload?: number } })._receiver;
  if (!receiver || typeof receiver._maxPayload !== 'number') return undefined;
  const previous = receiver._maxPayload;
  receiver._maxPayload = bytes;
  return previous;
}

/** The TCP socket under a ws WebSocket (ws keeps it in `_socket`; undefined if that ever changes). */
function rawSocket(ws: WebSocket): Duplex | undefined {
  const raw = (ws as unknown as { _socket?: Duplex })._socket;
  return raw && typeof raw.cork === 'function' ? raw : undefined;
}

/** Sessions corked in this pass of the event loop; uncorked together right after it (setImmediate). */
let corkedNow: Session[] = [];

function corkForThisPass(s: Session): void {
  if (!Session.cork(s)) return;
  corkedNow.push(s);
  if (corkedNow.length === 1) setImmediate(uncorkAll);
}

function uncorkAll(): void {
  const list = corkedNow;
  corkedNow = [];
  for (const s of list) Session.uncork(s);
}

export const rateLimited = () => new ProtocolError(ErrorCode.RATE_LIMITED, 'too many messages; slow down');
