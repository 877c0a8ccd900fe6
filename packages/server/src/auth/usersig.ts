/**
 * UserSig tickets, byte-compatible with Tencent's `tls-sig-api-v2` (TLS.ver "2.0").
 *
 * A ticket is: JSON doc -> zlib deflate -> base64 with `+` -> `*`, `/` -> `-`, `=` -> `_`.
 * The doc carries an HMAC-SHA256 (keyed with the app's secret) over a fixed
 * newline-terminated text built from the doc's own fields, so verification
 * recomputes that text from what the ticket claims and compares.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { deflateSync, inflateSync } from 'node:zlib';

/** Why a UserSig was rejected; stable strings meant to be mapped to protocol error codes. */
export type UserSigFailure = 'malformed' | 'bad_signature' | 'expired' | 'wrong_app' | 'wrong_user' | 'bad_user_id';

/** Result of {@link verifyUserSig}; `expiresAt` lets callers schedule re-auth without re-parsing the ticket. */
export type UserSigVerification =
  | { ok: true; expiresAt: number }
  | { ok: false; reason: UserSigFailure; message: string };

/** Input of {@link verifyUserSig}; `now` (unix seconds) is injectable so expiry is testable. */
export interface VerifyUserSigInput {
  sdkAppId: number;
  secretKey: string;
  userID: string;
  userSig: string;
  now?: number;
}

// Real tickets are ~200-400 chars (a bit more with a userbuf); the caps only exist
// so hostile input is rejected before it can cost CPU or memory.
const MAX_USERSIG_CHARS = 2048;
const MAX_INFLATED_BYTES = 4096;

const USER_ID_RE = /^[A-Za-z0-9_-]{1,64}$/;
// Escaped-base64 alphabet; padding (`_`) only at the end. Checked up front because
// Buffer.from(..., 'base64') silently skips foreign characters instead of failing.
const USERSIG_RE = /^[A-Za-z0-9*-]+_{0,2}$/;

/**
 * The spec's UserID charset (a-z A-Z 0-9 `-` `_`, 1..64 chars). Stricter than "any
 * string" because the ID ends up in logs, room rosters and the signed text, where a
 * newline or colon could otherwise blur field boundaries.
 */
export function isValidUserID(userID: unknown): userID is string {
  return typeof userID === 'string' && USER_ID_RE.test(userID);
}

function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}

function escapeBase64(b64: string): string {
  return b64.replace(/\+/g, '*').replace(/\//g, '-').replace(/=/g, '_');
}

function unescapeBase64(s: string): string {
  return s.replace(/\*/g, '+').replace(/-/g, '/').replace(/_/g, '=');
}

// Field order and the trailing "\n" on every line are load-bearing: they must match
// the reference implementation byte for byte or no ticket would ever verify.
function hmacBase64(
  secretKey: string,
  identifier: string,
  sdkAppId: number,
  time: number,
  expire: number,
  userbuf: string | undefined,
): string {
  let text = `TLS.identifier:${identifier}\nTLS.sdkappid:${sdkAppId}\nTLS.time:${time}\nTLS.expire:${expire}\n`;
  if (userbuf !== undefined) text += `TLS.userbuf:${userbuf}\n`;
  return createHmac('sha256', secretKey).update(text).digest('base64');
}

/**
 * Issues a UserSig identical to `new Api(sdkAppId, secretKey).genUserSig(userID, expireSeconds)`
 * from `tls-sig-api-v2` when issued in the same second, so clients built on Tencent's
 * SDKs and our server accept each other's tickets.
 *
 * Throws on an invalid userID or non-integer numbers: such a ticket could never pass
 * {@link verifyUserSig}, so failing at issue time surfaces the bug where it is made.
 */
export function genUserSig(
  sdkAppId: number,
  secretKey: string,
  userID: string,
  expireSeconds: number,
  now: number = nowSeconds(),
): string {
  if (!isValidUserID(userID)) throw new RangeError('genUserSig: userID must match [A-Za-z0-9_-]{1,64}');
  if (!Number.isSafeInteger(sdkAppId) || sdkAppId <= 0) throw new RangeError('genUserSig: sdkAppId must be a positive integer');
  if (typeof secretKey !== 'string' || secretKey.length === 0) throw new TypeError('genUserSig: secretKey must be a non-empty string');
  if (!Number.isSafeInteger(expireSeconds) || expireSeconds <= 0) throw new RangeError('genUserSig: expireSeconds must be a positive integer');
  if (!Number.isSafeInteger(now) || now < 0) throw new RangeError('genUserSig: now must be a non-negative integer (unix seconds)');

  // Key insertion order defines JSON.stringify's output, and hence the deflated bytes.
  const doc = {
    'TLS.ver': '2.0',
    'TLS.identifier': userID,
    'TLS.sdkappid': sdkAppId,
    'TLS.time': now,
    'TLS.expire': expireSeconds,
    'TLS.sig': hmacBase64(secretKey, userID, sdkAppId, now, expireSeconds, undefined),
  };
  return escapeBase64(deflateSync(Buffer.from(JSON.stringify(doc))).toString('base64'));
}

function fail(reason: UserSigFailure, message: string): UserSigVerification {
  return { ok: false, reason, message };
}

function isUnsignedInt(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

/**
 * Checks a UserSig issued by {@link genUserSig} or any official `tls-sig-api-v2` SDK
 * (including PrivateMapKey-style tickets carrying `TLS.userbuf`).
 *
 * Never throws: it sits on the unauthenticated connection path, so every input, however
 * hostile, must map to a result. Claims that need no secret (app, user) are checked
 * before the HMAC so a client holding a ticket for the wrong app or user gets a useful
 * reason; expiry is checked after it so `expired` only ever describes a genuine ticket.
 */
export function verifyUserSig(input: VerifyUserSigInput): UserSigVerification {
  try {
    return verifyUnsafe(input);
  } catch {
    // Belt and braces: every known failure is handled below; this only guards the contract.
    return fail('malformed', 'UserSig could not be processed');
  }
}

function verifyUnsafe(input: VerifyUserSigInput): UserSigVerification {
  if (typeof input !== 'object' || input === null) return fail('malformed', 'verifyUserSig: input must be an object');
  const { sdkAppId, secretKey, userID, userSig } = input;
  const now = input.now ?? nowSeconds();

  // Misconfiguration is reported rather than thrown so one bad deployment value cannot crash the socket handler.
  if (!Number.isSafeInteger(sdkAppId) || typeof secretKey !== 'string' || secretKey.length === 0 || typeof now !== 'number' || !Number.isFinite(now)) {
    return fail('malformed', 'verifier misconfigured: sdkAppId, secretKey or now is invalid');
  }
  if (!isValidUserID(userID)) return fail('bad_user_id', 'userID must be 1-64 chars of a-z A-Z 0-9 - _');

  if (typeof userSig !== 'string' || userSig.length === 0) return fail('malformed', 'UserSig must be a non-empty string');
  if (userSig.length > MAX_USERSIG_CHARS) return fail('malformed', `UserSig longer than ${MAX_USERSIG_CHARS} chars`);
  if (!USERSIG_RE.test(userSig)) return fail('malformed', 'UserSig is not escaped base64');

  let inflated: Buffer;
  try {
    // maxOutputLength makes zlib abort as soon as the output would exceed the cap, so a zip bomb is cut off early.
    inflated = inflateSync(Buffer.from(unescapeBase64(userSig), 'base64'), { maxOutputLength: MAX_INFLATED_BYTES });
  } catch {
    return fail('malformed', 'UserSig is not a valid zlib stream (or inflates too large)');
  }

  let doc: unknown;
  try {
    doc = JSON.parse(inflated.toString('utf8'));
  } catch {
    return fail('malformed', 'UserSig payload is not JSON');
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) return fail('malformed', 'UserSig payload is not a JSON object');
  const d = doc as Record<string, unknown>;

  const ver = d['TLS.ver'];
  const identifier = d['TLS.identifier'];
  const docAppId = d['TLS.sdkappid'];
  const time = d['TLS.time'];
  const expire = d['TLS.expire'];
  const sig = d['TLS.sig'];
  const userbuf = d['TLS.userbuf'];
  // Strict types, no coercion: the signed text is built from String(value), and accepting
  // "123" for 123 would make distinct docs share one signature input.
  if (ver !== '2.0') return fail('malformed', 'UserSig TLS.ver is not "2.0"');
  if (typeof identifier !== 'string') return fail('malformed', 'UserSig TLS.identifier is missing or not a string');
  if (!isUnsignedInt(docAppId)) return fail('malformed', 'UserSig TLS.sdkappid is missing or not an integer');
  if (!isUnsignedInt(time)) return fail('malformed', 'UserSig TLS.time is missing or not an integer');
  if (!isUnsignedInt(expire)) return fail('malformed', 'UserSig TLS.expire is missing or not an integer');
  if (typeof sig !== 'string') return fail('malformed', 'UserSig TLS.sig is missing or not a string');
  if (userbuf !== undefined && typeof userbuf !== 'string') return fail('malformed', 'UserSig TLS.userbuf is not a string');

  if (docAppId !== sdkAppId) return fail('wrong_app', `UserSig was issued for SDKAppID ${docAppId}, not ${sdkAppId}`);
  if (identifier !== userID) return fail('wrong_user', 'UserSig was issued for a different userID');

  const expected = Buffer.from(hmacBase64(secretKey, identifier, docAppId, time, expire, userbuf));
  const given = Buffer.from(sig);
  // The expected length is public (always 44 chars), so the early length check leaks nothing.
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    return fail('bad_signature', 'UserSig signature does not match');
  }

  const expiresAt = time + expire;
  if (expiresAt <= now) return fail('expired', 'UserSig has expired');
  return { ok: true, expiresAt };
}
