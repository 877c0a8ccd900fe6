import type { Logger } from 'pino';
import { ErrorCode, type ClientMessage, type IceServerConfig, type LoginResult } from '@opencall/protocol';
import type { Authenticator } from '../auth/authenticator.js';
import type { CallEngine, GoneReason } from '../calls/call-engine.js';
import { ProtocolError } from '../errors.js';
import type { Session } from '../sessions/session.js';
import type { SessionRegistry } from '../sessions/session-registry.js';

/** Close codes the client recognises (4000-4999 are the application's range). */
export const CloseCode = { KICKED: 4001, SIG_EXPIRED: 4002, SHUTDOWN: 1001 } as const;

export interface RouterDeps {
  auth: Authenticator;
  registry: SessionRegistry;
  engine: CallEngine;
  /** ICE servers for a user (TURN credentials are per user and short-lived). */
  iceServers: (userID: string) => IceServerConfig[];
  log: Logger;
}

/** Turns one validated client message into session and call-engine operations. */
export class MessageRouter {
  constructor(private readonly d: RouterDeps) {}

  handle(session: Session, msg: ClientMessage): void {
    if (msg.t === 'login') return this.login(session, msg.rid, msg.sdkAppId, msg.userID, msg.userSig);
    if (msg.t === 'ping') return session.reply(msg.rid, { serverTime: Date.now() });
    const userID = session.userID;
    if (userID === null) throw new ProtocolError(ErrorCode.NOT_LOGGED_IN, `log in before sending "${msg.t}"`);
    const { engine } = this.d;
    switch (msg.t) {
      case 'logout':
        this.endSession(session, 'logout');
        return session.reply(msg.rid);
      case 'invite':
        return engine.invite(userID, msg, (r) => session.reply(msg.rid, r));
      case 'accept':
        return session.reply(msg.rid, engine.accept(userID, msg));
      case 'reject':
        engine.reject(userID, msg);
        return session.reply(msg.rid);
      case 'hangup':
        return session.reply(msg.rid, engine.hangup(userID, msg.inviteID));
      case 'relay':
        engine.relay(userID, msg);
        if (msg.rid !== undefined) session.reply(msg.rid);
        return;
      case 'media':
        engine.media(userID, msg);
        if (msg.rid !== undefined) session.reply(msg.rid);
        return;
      case 'addInvitees':
        return session.reply(msg.rid, engine.addInvitees(userID, msg));
      case 'join':
        return session.reply(msg.rid, engine.join(userID, msg));
      case 'callType':
        engine.switchCallType(userID, msg);
        return session.reply(msg.rid);
    }
  }

  /** The socket closed: the user is gone unless a newer session already took over. */
  disconnected(session: Session): void {
    session.closed = true;
    session.clearSigExpiry();
    this.endSession(session, 'disconnected');
  }

  private login(session: Session, rid: number, sdkAppId: number, userID: string, userSig: string): void {
    if (session.userID !== null) throw new ProtocolError(ErrorCode.ALREADY_LOGGED_IN, `already logged in as ${session.userID}`);
    const expiresAt = this.d.auth.authenticate(sdkAppId, userID, userSig);
    const { registry, engine, log } = this.d;
    const previous = registry.get(userID);
    if (previous) {
      // One login per user (the spec's behaviour): the older one is told and closed,
      // and leaves its calls; invitations still ringing move to the new session.
      previous.send({ t: 'kicked', reason: 'login_elsewhere' });
      registry.unbind(previous);
      previous.userID = null;
      previous.close(CloseCode.KICKED, 'logged in elsewhere');
      engine.userGone(userID, 'kicked');
      log.info({ event: 'session.kicked', userID, session: previous.id }, 'older session kicked out');
    }
    registry.bind(session, userID);
    session.armSigExpiry(expiresAt, () => {
      session.send({ t: 'sigExpired' });
      this.endSession(session, 'logout');
      session.close(CloseCode.SIG_EXPIRED, 'UserSig expired');
    });
    const result: LoginResult = { userID, serverTime: Date.now(), sigExpiresAt: expiresAt, iceServers: this.d.iceServers(userID) };
    session.reply(rid, result);
    log.info({ event: 'session.login', userID, session: session.id }, 'logged in');
    engine.userOnline(userID);
  }

  private endSession(session: Session, reason: GoneReason): void {
    const userID = session.userID;
    if (userID === null) return;
    session.clearSigExpiry();
    if (!this.d.registry.unbind(session)) return;
    session.userID = null;
    this.d.engine.userGone(userID, reason);
    this.d.log.info({ event: 'session.end', userID, session: session.id, reason }, 'session ended');
  }
}
