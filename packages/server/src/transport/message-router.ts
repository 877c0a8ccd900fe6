import type { Logger } from 'pino';
import { ErrorCode, type ClientMessage, type ClientMessageOf, type IceServerConfig, type LoginResult } from '@opencall/protocol';
import type { CallEngine, GoneReason } from '../calls/call-engine.js';
import { TokenBuckets } from '../calls/token-buckets.js';
import { ProtocolError } from '../errors.js';
import type { Records } from '../records/index.js';
import type { Conn } from '../sessions/conn.js';
import type { SfuBridge } from '../sfu/sfu-bridge.js';
import type { SessionRegistry } from '../sessions/session-registry.js';

/** Close codes the client recognises (4000-4999 are the application's range; docs/protocol.md). */
export const CloseCode = {
  KICKED: 4001,
  SIG_EXPIRED: 4002,
  /** Before login the socket sent something other than `login` or `ping` (or a malformed frame). */
  LOGIN_REQUIRED: 4003,
  /** No successful login within OPENCALL_LOGIN_TIMEOUT_MS of opening. */
  LOGIN_TIMEOUT: 4004,
  /** Too many logins refused on this socket (bad UserSigs). */
  LOGIN_FAILED: 4005,
  /** The peer did not read: its unsent bytes passed OPENCALL_MAX_SEND_BUFFER_BYTES (the socket is cut, the frame rarely arrives). */
  SLOW_CONSUMER: 4006,
  /** The socket kept sending after being rate limited. */
  FLOODING: 4007,
  /** A frame larger than the socket may send (before login: 4 KiB); ws's own code, "message too big". */
  TOO_BIG: 1009,
  SHUTDOWN: 1001,
} as const;

/**
 * A message as the call core receives it: validated, and for login with the UserSig already
 * verified by the node that holds the socket (`expiresAt` is when that UserSig runs out).
 */
export type CoreMessage = Exclude<ClientMessage, { t: 'login' }> | (ClientMessageOf<'login'> & { expiresAt: number });

/** What the call core offers to the nodes that hold the sockets (in process, or through Redis). */
export interface CoreLink {
  handle(conn: Conn, msg: CoreMessage): void;
  /** The socket closed without logout. */
  disconnected(conn: Conn): void;
  /** The connection's UserSig ran out: its session ends like a logout. */
  sigExpired(conn: Conn): void;
}

export interface RouterDeps {
  /** `history` requests per user a minute after a burst of {@link HISTORY_BURST}; 0 = no limit. Default {@link HISTORY_PER_MINUTE}. */
  historyRatePerMinute?: number;
  registry: SessionRegistry;
  engine: CallEngine;
  /** Call records: answers `history`, hears audio/video switches. */
  records?: Pick<Records, 'answerHistory' | 'callTypeChanged'>;
  /** ICE servers for a user (TURN credentials are per user and short-lived). */
  iceServers: (userID: string) => IceServerConfig[];
  log: Logger;
  /** Media through Janus for group calls, when configured. */
  sfu?: Pick<SfuBridge, 'handle'>;
  /** How long a user whose connection dropped keeps their calls, waiting to reconnect. */
  reconnectGraceMs: number;
}

/** Turns one validated client message into session and call-engine operations. */
/**
 * `history` requests per user: a page costs a database read and up to ~25 KB of JSON, while the
 * request is 50 bytes, so the socket's frame rate (200/s) would let one user keep the event loop
 * busy serializing pages. 10 at once, then one a second: more than any history screen pages.
 */
export const HISTORY_BURST = 10;
/** Default of OPENCALL_HISTORY_RATE. */
export const HISTORY_PER_MINUTE = 60;

export class MessageRouter implements CoreLink {
  /** Undefined: no limit (OPENCALL_HISTORY_RATE=0). */
  private readonly historyRate: TokenBuckets | undefined;
  /**
   * Per connection, `history` answers still being read (SQLite's writer thread, PostgreSQL):
   * a `ping` is answered after them, so it stays a barrier for everything sent before it.
   */
  private readonly historyInFlight = new WeakMap<Conn, Promise<void>>();

  constructor(private readonly d: RouterDeps) {
    const perMinute = d.historyRatePerMinute ?? HISTORY_PER_MINUTE;
    this.historyRate = perMinute > 0 ? new TokenBuckets(perMinute, HISTORY_BURST) : undefined;
  }

  /** Like {@link handle}, but a refusal is answered on the connection instead of thrown. */
  dispatch(session: Conn, msg: CoreMessage): void {
    try {
      this.handle(session, msg);
    } catch (err) {
      const rid = (msg as { rid?: number }).rid;
      if (err instanceof ProtocolError) return session.fail(rid, err);
      this.d.log.error({ err, session: session.id, userID: session.userID }, 'bug while handling a message');
      session.fail(rid, new ProtocolError(ErrorCode.INTERNAL, 'internal server error'));
    }
  }

  handle(session: Conn, msg: CoreMessage): void {
    if (msg.t === 'login') return this.login(session, msg.rid, msg);
    // Answered by the core, not the node holding the socket, so a ping's answer comes after the
    // answers to everything sent before it (clients and tests use it as a barrier).
    if (msg.t === 'ping') {
      const reads = this.historyInFlight.get(session);
      if (reads) return void reads.then(() => session.reply(msg.rid, { serverTime: Date.now() }));
      return session.reply(msg.rid, { serverTime: Date.now() });
    }
    const userID = session.userID;
    if (userID === null) throw new ProtocolError(ErrorCode.NOT_LOGGED_IN, `log in before sending "${msg.t}"`);
    const { engine } = this.d;
    // The device this connection is: a call answered on one device is refused on the others.
    const device = session.device ?? undefined;
    switch (msg.t) {
      case 'logout':
        this.endSession(session, 'logout');
        return session.reply(msg.rid);
      case 'invite':
        return engine.invite(userID, msg, (r) => session.reply(msg.rid, r), device);
      case 'accept':
        return session.reply(msg.rid, engine.accept(userID, msg, device));
      case 'reject':
        engine.reject(userID, msg, device);
        return session.reply(msg.rid);
      case 'hangup':
        return session.reply(msg.rid, engine.hangup(userID, msg.inviteID, device));
      case 'relay':
        // SDP/ICE a party sent before it heard the call ended: expected, not worth an error.
        if (msg.rid === undefined && engine.wasIn(msg.inviteID, userID)) return;
        engine.relay(userID, msg, device);
        if (msg.rid !== undefined) session.reply(msg.rid);
        return;
      case 'media':
        if (msg.rid === undefined && engine.wasIn(msg.inviteID, userID)) return;
        engine.media(userID, msg, device);
        if (msg.rid !== undefined) session.reply(msg.rid);
        return;
      case 'addInvitees':
        return session.reply(msg.rid, engine.addInvitees(userID, msg, device));
      case 'join':
        return session.reply(msg.rid, engine.join(userID, msg, device));
      case 'callType':
        engine.switchCallType(userID, msg, device);
        this.d.records?.callTypeChanged(msg.inviteID, userID, msg.callType);
        return session.reply(msg.rid);
      case 'history': {
        if (!this.d.records) throw new ProtocolError(ErrorCode.UNKNOWN_MESSAGE, 'call records are off on this server');
        const rate = this.historyRate;
        const now = Date.now();
        if (rate && rate.available(userID, now) < 1) {
          throw new ProtocolError(ErrorCode.RATE_LIMITED, `too many history requests: at most ${rate.perMinute} a minute (bursts of ${HISTORY_BURST}); try again in ${Math.ceil(rate.waitMs(userID, now) / 1000)} s`);
        }
        rate?.take(userID, now);
        return this.historyAnswered(session, this.d.records.answerHistory(session, msg.rid, userID, msg));
      }
      case 'sfu': {
        const sfu = this.d.sfu;
        if (!sfu) throw new ProtocolError(ErrorCode.INVALID_STATE, 'this server has no SFU');
        const rid = msg.rid;
        sfu.handle(userID, msg).then(
          (data) => rid !== undefined && session.reply(rid, data),
          (err) => session.fail(rid, err instanceof ProtocolError ? err : new ProtocolError(ErrorCode.SFU_ERROR, String((err as Error)?.message ?? err))),
        );
        return;
      }
    }
  }

  /** Keeps a connection's history answers in flight, for {@link handle}'s ping. */
  private historyAnswered(session: Conn, answered: Promise<void> | undefined): void {
    if (!answered) return;
    const prev = this.historyInFlight.get(session);
    const all = prev ? Promise.all([prev, answered]).then(() => {}) : answered;
    this.historyInFlight.set(session, all);
    void all.then(() => {
      if (this.historyInFlight.get(session) === all) this.historyInFlight.delete(session);
    });
  }

  /** The socket closed: the user may come back within the grace period, else they are gone. */
  disconnected(session: Conn): void {
    const userID = session.userID;
    if (userID === null) return;
    const { registry, log, reconnectGraceMs } = this.d;
    const held = registry.detach(session, reconnectGraceMs, this.graceExpired);
    if (held) log.info({ event: 'session.detached', userID, session: session.id, graceMs: reconnectGraceMs }, 'connection lost; waiting for a reconnect');
  }

  /** A device whose connection dropped did not come back within the grace period. */
  readonly graceExpired = (userID: string, device: string): void => {
    this.d.log.info({ event: 'session.end', userID, device, reason: 'disconnected' }, 'session ended (no reconnect in time)');
    this.d.engine.userGone(userID, 'disconnected', device);
  };

  sigExpired(session: Conn): void {
    this.endSession(session, 'logout');
  }

  private login(session: Conn, rid: number, m: ClientMessageOf<'login'> & { expiresAt: number }): void {
    if (session.userID !== null) throw new ProtocolError(ErrorCode.ALREADY_LOGGED_IN, `already logged in as ${session.userID}`);
    const { userID, expiresAt } = m;
    const { registry, engine, log } = this.d;
    if (m.resume) {
      const r = registry.resume(session, userID, m.resume.token, m.resume.lastSeq);
      if (r.ok) {
        const result: LoginResult = { userID, serverTime: Date.now(), sigExpiresAt: expiresAt, iceServers: this.d.iceServers(userID), resumeToken: r.token, resumed: true };
        session.reply(rid, result);
        for (const json of r.replay) session.sendJson(json);
        log.info({ event: 'session.resumed', userID, session: session.id, replayed: r.replay.length }, 'session resumed');
        return;
      }
    }
    const { token, device, previous } = registry.bind(session, userID);
    for (const p of previous) {
      // One login per user (the spec's behaviour, OPENCALL_MULTI_DEVICE=kick): the older one is
      // told and closed, and leaves its calls; invitations still ringing move to the new session.
      const old = p.conn;
      if (old && old !== session) {
        old.send({ t: 'kicked', reason: 'login_elsewhere' });
        old.userID = null;
        old.device = null;
        old.close(CloseCode.KICKED, 'logged in elsewhere');
      }
      engine.userGone(userID, 'kicked', p.device);
      log.info({ event: 'session.kicked', userID, session: old?.id }, 'older session replaced');
    }
    const result: LoginResult = { userID, serverTime: Date.now(), sigExpiresAt: expiresAt, iceServers: this.d.iceServers(userID), resumeToken: token, resumed: false };
    session.reply(rid, result);
    log.info({ event: 'session.login', userID, device, session: session.id }, 'logged in');
    engine.userOnline(userID, device);
  }

  private endSession(session: Conn, reason: GoneReason): void {
    const userID = session.userID;
    if (userID === null) return;
    const device = this.d.registry.unbind(session);
    if (device === undefined) return;
    session.userID = null;
    session.device = null;
    this.d.engine.userGone(userID, reason, device);
    this.d.log.info({ event: 'session.end', userID, session: session.id, reason }, 'session ended');
  }
}
