import { ErrorCode } from '@opencall/protocol';
import { ProtocolError } from '../errors.js';
import { TokenBuckets } from './token-buckets.js';

/**
 * What one user can make the call engine do, so nobody can ring a person all day, keep a phone
 * ringing for ever or pour frames through somebody's call (docs/configuration.md, "Abuse limits").
 */
export interface CallLimits {
  /** Invitations (invite and addInvitees requests) one user may send a minute, on average; 0 = no limit. */
  inviteRatePerMinute: number;
  /** How many of those may come at once (the bucket size). */
  inviteBurst: number;
  /** Times one user may ring the same other user a minute (also the burst); 0 = no limit. */
  ringRatePerMinute: number;
  /** Longest an invitation rings, in ms: larger `timeout`s, and `timeout: 0` ("never"), ring this long. */
  maxRingMs: number;
  /** Audio/video switches one call may have (each is a record row). */
  maxTypeSwitches: number;
  /** `ready` and `sdp` relays one member may send in one call. */
  maxRelays: number;
  /** ICE candidates one member may relay in one call. */
  maxIce: number;
}

export const DEFAULT_CALL_LIMITS: CallLimits = {
  inviteRatePerMinute: 20,
  inviteBurst: 10,
  ringRatePerMinute: 5,
  maxRingMs: 120_000,
  maxTypeSwitches: 50,
  maxRelays: 1000,
  maxIce: 5000,
};

/**
 * The invitation rates: one bucket per caller, one per caller→callee pair. A request is
 * checked whole before anything is taken, so a refused one costs nothing and rings nobody.
 * The state lives in this process only: a cluster node taking over the call core starts afresh.
 */
export class InvitationLimiter {
  private readonly byCaller: TokenBuckets | undefined;
  private readonly byPair: TokenBuckets | undefined;

  constructor(l: Pick<CallLimits, 'inviteRatePerMinute' | 'inviteBurst' | 'ringRatePerMinute'>) {
    if (l.inviteRatePerMinute > 0) this.byCaller = new TokenBuckets(l.inviteRatePerMinute, Math.max(1, l.inviteBurst));
    if (l.ringRatePerMinute > 0) this.byPair = new TokenBuckets(l.ringRatePerMinute, l.ringRatePerMinute);
  }

  /**
   * `caller` invites `callees` now: throws RATE_LIMITED (and takes nothing) if the caller sent
   * too many invitations lately or rang any of them too often; else counts it.
   */
  admit(caller: string, callees: readonly string[], now: number): void {
    const c = this.byCaller;
    if (c && c.available(caller, now) < 1) {
      const s = Math.ceil(c.waitMs(caller, now) / 1000);
      throw new ProtocolError(ErrorCode.RATE_LIMITED, `too many invitations: at most ${c.perMinute} a minute (bursts of ${c.burst}); try again in ${s} s`);
    }
    const p = this.byPair;
    if (p) {
      const over = callees.filter((id) => p.available(pairKey(caller, id), now) < 1);
      if (over.length > 0) {
        const s = Math.ceil(Math.max(...over.map((id) => p.waitMs(pairKey(caller, id), now))) / 1000);
        throw new ProtocolError(
          ErrorCode.RATE_LIMITED,
          `you rang ${over.join(', ')} too often (at most ${p.perMinute} times a minute); nobody was rung, try again in ${s} s`,
        );
      }
      for (const id of callees) p.take(pairKey(caller, id), now);
    }
    c?.take(caller, now);
  }

  /** Buckets held, for tests. */
  get size(): { callers: number; pairs: number } {
    return { callers: this.byCaller?.size ?? 0, pairs: this.byPair?.size ?? 0 };
  }
}

/** userIDs cannot hold a newline (USER_ID_PATTERN), so the pair key is unambiguous. */
const pairKey = (caller: string, callee: string): string => `${caller}\n${callee}`;

/** The ringing time of an invitation asking for `timeoutSeconds` (0: "never", i.e. the ceiling). */
export function ringMs(timeoutSeconds: number, maxRingMs: number): number {
  return timeoutSeconds === 0 ? maxRingMs : Math.min(timeoutSeconds * 1000, maxRingMs);
}
