import type { Logger } from 'pino';
import { ErrorCode, type ClientMessage } from '@opencall/protocol';
import type { Authenticator } from '../auth/authenticator.js';
import { ProtocolError } from '../errors.js';
import type { IceServerProvider } from '../ice/ice-servers.js';
import type { Session } from '../sessions/session.js';
import { CloseCode, type CoreLink } from './message-router.js';

/**
 * When fresh ICE servers are pushed, as a share of the TURN credential lifetime: at 3/4, so the
 * client always holds credentials with at least a quarter of their life left (15 s at the
 * shortest OPENCALL_TURN_TTL, 60 s), then again every 3/4 of it.
 */
export const ICE_REFRESH_AT = 0.75;

/**
 * What the node holding a socket does with a validated message before the call core sees it:
 * verifies the UserSig at login (CPU work that stays on the node that received
 * it, whichever node runs the core), ends the session when that UserSig runs out, and keeps
 * the client's TURN credentials fresh while it stays logged in.
 */
export class Ingress {
  /** Per logged-in socket: the timer of the next `iceServers` push (only with TURN credentials that expire). */
  private readonly iceTimers = new Map<Session, NodeJS.Timeout>();

  constructor(
    private readonly auth: Authenticator,
    private readonly core: CoreLink,
    private readonly log: Logger,
    private readonly ice?: IceServerProvider,
  ) {}

  handle(session: Session, msg: ClientMessage): void {
    switch (msg.t) {
      case 'login': {
        if (session.signedInAs !== null) throw new ProtocolError(ErrorCode.ALREADY_LOGGED_IN, `already logged in as ${session.signedInAs}`);
        const expiresAt = this.auth.authenticate(msg.sdkAppId, msg.userID, msg.userSig);
        session.markSignedIn(msg.userID);
        session.armSigExpiry(expiresAt, () => {
          this.log.info({ event: 'session.sig_expired', userID: msg.userID, session: session.id }, 'UserSig expired');
          this.stopIceRefresh(session);
          session.send({ t: 'sigExpired' });
          this.core.sigExpired(session);
          session.close(CloseCode.SIG_EXPIRED, 'UserSig expired');
        });
        this.armIceRefresh(session, msg.userID);
        return this.core.handle(session, { ...msg, expiresAt });
      }
      case 'logout':
        session.markSignedOut();
        session.clearSigExpiry();
        this.stopIceRefresh(session);
        return this.core.handle(session, msg);
      default:
        return this.core.handle(session, msg);
    }
  }

  /** The socket closed. */
  disconnected(session: Session): void {
    session.closed = true;
    session.clearSigExpiry();
    this.stopIceRefresh(session);
    // A socket that never logged in never sent anything to the call core (nor to Redis).
    if (session.everSignedIn) this.core.disconnected(session);
  }

  /**
   * coturn checks a TURN REST credential's expiry whenever it has to look the user up: every
   * new allocation (a new call's connections, an ICE restart repairing a broken path, a
   * reconnect to the TURN server). The login answer's credentials (made by the call core at the
   * same moment) would so stop working after OPENCALL_TURN_TTL for a user who stays logged in:
   * push new ones before they expire, for as long as this socket is logged in.
   */
  private armIceRefresh(session: Session, userID: string): void {
    const ttl = this.ice?.turnTtl;
    if (ttl === undefined) return;
    const every = ttl * 1000 * ICE_REFRESH_AT;
    const push = () => {
      if (session.closed || session.signedInAs !== userID) return this.stopIceRefresh(session);
      const { iceServers, expiresAt } = this.ice!.issue(userID);
      session.send({ t: 'iceServers', iceServers, ...(expiresAt !== undefined && { expiresAt }) });
      arm();
    };
    const arm = () => {
      const timer = setTimeout(push, every);
      timer.unref();
      this.iceTimers.set(session, timer);
    };
    this.stopIceRefresh(session);
    arm();
  }

  private stopIceRefresh(session: Session): void {
    clearTimeout(this.iceTimers.get(session));
    this.iceTimers.delete(session);
  }
}
