import type { Logger } from 'pino';
import { ErrorCode, type ClientMessage } from '@opencall/protocol';
import type { Authenticator } from '../auth/authenticator.js';
import { ProtocolError } from '../errors.js';
import type { Session } from '../sessions/session.js';
import { CloseCode, type CoreLink } from './message-router.js';

/**
 * What the node holding a socket does with a validated message before the call core sees it:
 * verifies the UserSig at login (CPU work that stays on the node that received
 * it, whichever node runs the core), and ends the session when that UserSig runs out.
 */
export class Ingress {
  constructor(
    private readonly auth: Authenticator,
    private readonly core: CoreLink,
    private readonly log: Logger,
  ) {}

  handle(session: Session, msg: ClientMessage): void {
    switch (msg.t) {
      case 'login': {
        if (session.signedInAs !== null) throw new ProtocolError(ErrorCode.ALREADY_LOGGED_IN, `already logged in as ${session.signedInAs}`);
        const expiresAt = this.auth.authenticate(msg.sdkAppId, msg.userID, msg.userSig);
        session.signedInAs = msg.userID;
        session.armSigExpiry(expiresAt, () => {
          this.log.info({ event: 'session.sig_expired', userID: msg.userID, session: session.id }, 'UserSig expired');
          session.send({ t: 'sigExpired' });
          this.core.sigExpired(session);
          session.close(CloseCode.SIG_EXPIRED, 'UserSig expired');
        });
        return this.core.handle(session, { ...msg, expiresAt });
      }
      case 'logout':
        session.signedInAs = null;
        session.clearSigExpiry();
        return this.core.handle(session, msg);
      default:
        return this.core.handle(session, msg);
    }
  }

  /** The socket closed. */
  disconnected(session: Session): void {
    session.closed = true;
    session.clearSigExpiry();
    this.core.disconnected(session);
  }
}
