import { ErrorCode } from '@opencall/protocol';
import { ProtocolError } from '../errors.js';
import { verifyUserSig, type UserSigFailure } from './usersig.js';

const CODE_OF: Record<UserSigFailure, (typeof ErrorCode)[keyof typeof ErrorCode]> = {
  malformed: ErrorCode.USERSIG_INVALID,
  bad_signature: ErrorCode.USERSIG_INVALID,
  expired: ErrorCode.USERSIG_EXPIRED,
  wrong_app: ErrorCode.SDKAPPID_MISMATCH,
  wrong_user: ErrorCode.USERID_INVALID,
  bad_user_id: ErrorCode.USERID_INVALID,
};

/** Checks a login against this server's SDKAppID and secret; the only way an identity is established. */
export class Authenticator {
  constructor(
    private readonly sdkAppId: number,
    private readonly secretKey: string,
    /** Identities nobody may log in as, whatever their UserSig (the admin identifier). */
    private readonly reserved: ReadonlySet<string> = new Set(),
  ) {}

  /** Returns when the UserSig expires (ms since epoch), or throws a ProtocolError saying why it was refused. */
  authenticate(sdkAppId: number, userID: string, userSig: string): number {
    if (sdkAppId !== this.sdkAppId) {
      throw new ProtocolError(ErrorCode.SDKAPPID_MISMATCH, `this server serves SDKAppID ${this.sdkAppId}, not ${sdkAppId}`);
    }
    if (this.reserved.has(userID)) throw new ProtocolError(ErrorCode.USERID_INVALID, `${userID} is a reserved identity and cannot log in`);
    const r = verifyUserSig({ sdkAppId: this.sdkAppId, secretKey: this.secretKey, userID, userSig });
    if (!r.ok) throw new ProtocolError(CODE_OF[r.reason], r.message);
    return r.expiresAt * 1000;
  }
}
