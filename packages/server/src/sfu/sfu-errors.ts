/**
 * Errors raised by {@link SfuRoomManager}: every failure, whether Janus reported it, the
 * connection broke or a request timed out, becomes one {@link SfuError} whose message says what
 * was attempted, for whom, and what Janus said, so a log line alone is enough to debug it.
 */
import { JanusError, JanusPluginError } from './janus-client.js';

/** Coarse classes of failure the signaling server may branch on. */
export type SfuErrorCode =
  /** No SFU room for this call id (never created, or already destroyed). */
  | 'NO_ROOM'
  /** The user has no publisher (for trickle/unpublish) or no subscriber (for start/unsubscribe). */
  | 'NOT_FOUND'
  /** The room is full (`maxPublishers` reached). */
  | 'ROOM_FULL'
  /** The client's SDP was rejected by Janus. */
  | 'BAD_SDP'
  /** The user or room was removed (leave/destroyRoom) while the operation was in flight. */
  | 'CANCELLED'
  /** Janus or the WebSocket to it did not answer in time, or a queued offer never came. */
  | 'TIMEOUT'
  /** The WebSocket to Janus is gone (or the Janus session was lost). */
  | 'JANUS_DOWN'
  /** The manager was closed with {@link SfuRoomManager.close}. */
  | 'CLOSED'
  /** Any other error Janus reported. */
  | 'JANUS';

/** A failed {@link SfuRoomManager} operation. */
export class SfuError extends Error {
  override name = 'SfuError';
  constructor(
    readonly code: SfuErrorCode,
    message: string,
    /** Janus API or VideoRoom error code when Janus reported the failure (see {@link describeJanusCode}). */
    readonly janusCode?: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** VideoRoom plugin error codes (janus_videoroom.c, Janus 1.1). */
const VIDEOROOM_CODES: Record<number, string> = {
  421: 'no message',
  422: 'invalid JSON',
  423: 'invalid request',
  424: 'join first',
  425: 'already joined',
  426: 'no such room',
  427: 'room exists',
  428: 'no such feed',
  429: 'missing element',
  430: 'invalid element',
  431: 'invalid SDP type',
  432: 'publishers full',
  433: 'unauthorized',
  434: 'already published',
  435: 'not published',
  436: 'id exists',
  437: 'invalid SDP',
  499: 'unknown error',
};

/** Janus core API error codes (apierror.h, Janus 1.1). */
const CORE_CODES: Record<number, string> = {
  403: 'unauthorized (wrong api_secret?)',
  405: 'unauthorized plugin',
  450: 'transport specific',
  452: 'missing request',
  453: 'unknown request',
  454: 'invalid JSON',
  455: 'invalid JSON object',
  456: 'missing mandatory element',
  457: 'invalid request path',
  458: 'session not found',
  459: 'handle not found',
  460: 'plugin not found',
  461: 'plugin attach failed',
  462: 'plugin message failed',
  463: 'plugin detach failed',
  464: 'unknown JSEP type',
  465: 'invalid SDP',
  466: 'invalid trickle stream',
  467: 'invalid element type',
  468: 'session conflict',
  469: 'unexpected answer',
  470: 'token not found',
  471: 'WebRTC state error',
  472: 'not accepting new sessions',
  490: 'unknown error',
};

/** Short name for a Janus error code, e.g. `432` → `publishers full`. */
export function describeJanusCode(code: number, plugin: boolean): string {
  return (plugin ? VIDEOROOM_CODES[code] : CORE_CODES[code]) ?? 'unknown code';
}

/** Core codes that mean our session or handle is gone: everything built on it is dead. */
export const SESSION_LOST_CODES = new Set([458]);

/**
 * Wraps anything thrown while talking to Janus into an {@link SfuError}.
 * `what` says what was attempted, e.g. `publish for "alice" in call "c1"`.
 */
export function toSfuError(err: unknown, what: string): SfuError {
  if (err instanceof SfuError) return err;
  if (err instanceof JanusPluginError) {
    const code = err.code;
    const reason = String(err.data.error ?? err.message);
    const sfuCode: SfuErrorCode =
      code === 426 ? 'NO_ROOM' : code === 432 ? 'ROOM_FULL' : code === 437 || code === 431 ? 'BAD_SDP' : 'JANUS';
    return new SfuError(
      sfuCode,
      `SFU ${what} failed: Janus VideoRoom error ${code} (${describeJanusCode(code, true)}): ${reason}`,
      code,
      { cause: err },
    );
  }
  if (err instanceof JanusError) {
    if (err.code === 0) {
      // Client-side: timeouts, closed socket, detached handle.
      const sfuCode: SfuErrorCode = /timed out/i.test(err.message)
        ? 'TIMEOUT'
        : /closed|not open|connect/i.test(err.message)
          ? 'JANUS_DOWN'
          : /detached/i.test(err.message)
            ? 'CANCELLED'
            : 'JANUS';
      return new SfuError(sfuCode, `SFU ${what} failed: ${err.message}`, undefined, { cause: err });
    }
    const sfuCode: SfuErrorCode = err.code === 465 ? 'BAD_SDP' : SESSION_LOST_CODES.has(err.code) ? 'JANUS_DOWN' : 'JANUS';
    return new SfuError(
      sfuCode,
      `SFU ${what} failed: Janus error ${err.code} (${describeJanusCode(err.code, false)}): ${err.message.replace(/^Janus error \d+: /, '')}`,
      err.code,
      { cause: err },
    );
  }
  const message = err instanceof Error ? err.message : String(err);
  return new SfuError('JANUS', `SFU ${what} failed: ${message}`, undefined, { cause: err });
}
