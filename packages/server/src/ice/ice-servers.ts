import { createHmac } from 'node:crypto';
import type { IceServerConfig } from '@opencall/protocol';

/** Default lifetime of TURN credentials handed out at login (seconds). */
export const DEFAULT_TURN_TTL_SECONDS = 3600;
/** Bounds of OPENCALL_TURN_TTL: at least a minute, at most a week. */
export const MIN_TURN_TTL_SECONDS = 60;
export const MAX_TURN_TTL_SECONDS = 7 * 24 * 3600;

export interface IceOptions {
  iceServers: IceServerConfig[];
  /**
   * coturn's `static-auth-secret` (with `use-auth-secret`): every `turn:`/`turns:` server without
   * its own username gets per-user credentials made with it (the TURN REST API scheme).
   */
  turnSecret?: string | undefined;
  /** Lifetime of those credentials in seconds. Default {@link DEFAULT_TURN_TTL_SECONDS}. */
  turnTtl?: number | undefined;
  /** Time source in ms (tests). Default Date.now. */
  now?: () => number;
}

const SCHEME = /^(stuns?|turns?):/i;
const TURN_SCHEME = /^turns?:/i;

function urlsOf(s: IceServerConfig): string[] {
  return Array.isArray(s.urls) ? s.urls : [s.urls];
}

/** True if the entry lists a `turn:` or `turns:` URL. */
export function isTurnServer(s: IceServerConfig): boolean {
  return urlsOf(s).some((u) => TURN_SCHEME.test(u));
}

/**
 * Checks an ICE server list against the TURN settings. Returns problems worded for an operator
 * (empty when fine). A TURN entry without credentials and no secret to make them is an error:
 * browsers refuse such a configuration and no call could start.
 */
export function checkIceConfig(o: IceOptions): { errors: string[]; warnings: string[] } {
  const errors: string[] = [];
  const warnings: string[] = [];
  for (const s of o.iceServers) {
    const urls = urlsOf(s);
    if (urls.length === 0) errors.push('an entry has no URLs');
    for (const u of urls) {
      if (!SCHEME.test(u)) errors.push(`"${u}" is not a stun:, stuns:, turn: or turns: URL`);
    }
    if (isTurnServer(s) && s.username === undefined && !o.turnSecret) {
      errors.push(`${urls.join(', ')}: a TURN server needs credentials: set OPENCALL_TURN_SECRET (coturn's static-auth-secret) or give username and credential`);
    }
    if (isTurnServer(s) && (s.username === undefined) !== (s.credential === undefined)) {
      errors.push(`${urls.join(', ')}: give both username and credential, or neither`);
    }
  }
  if (o.turnTtl !== undefined && (!Number.isInteger(o.turnTtl) || o.turnTtl < MIN_TURN_TTL_SECONDS || o.turnTtl > MAX_TURN_TTL_SECONDS)) {
    errors.push(`TURN credential lifetime must be a whole number of seconds from ${MIN_TURN_TTL_SECONDS} to ${MAX_TURN_TTL_SECONDS}`);
  }
  if (o.turnSecret && !o.iceServers.some((s) => isTurnServer(s) && s.username === undefined)) {
    warnings.push('OPENCALL_TURN_SECRET is set but OPENCALL_ICE_SERVERS lists no turn:/turns: URL without its own credentials; the secret is unused.');
  }
  return { errors, warnings };
}

/**
 * TURN REST API credentials (draft-uberti-behave-turn-rest, coturn's `use-auth-secret`):
 * username `<unix expiry>:<userID>`, credential base64(HMAC-SHA1(secret, username)).
 */
export function turnCredentials(secret: string, userID: string, expiresAtSeconds: number): { username: string; credential: string } {
  const username = `${expiresAtSeconds}:${userID}`;
  const credential = createHmac('sha1', secret).update(username).digest('base64');
  return { username, credential };
}

/** What clients are handed: the ICE servers for a user, made afresh on every call. */
export interface IceServerProvider {
  (userID: string): IceServerConfig[];
  /** The same, with when the TURN credentials in it expire (ms since epoch); undefined when nothing in it expires. */
  issue(userID: string): { iceServers: IceServerConfig[]; expiresAt: number | undefined };
  /** Lifetime of the TURN credentials it makes, in seconds; undefined when it makes none (nothing to refresh). */
  readonly turnTtl: number | undefined;
}

/**
 * The ICE servers a user gets at login (and again before their TURN credentials expire, see
 * Ingress). With a TURN secret, every `turn:`/`turns:` entry that has no credentials of its own
 * gets fresh ones for this user, valid `turnTtl` seconds; STUN entries and entries with explicit
 * credentials are handed out as configured.
 * Throws when the configuration cannot work (see {@link checkIceConfig}).
 */
export function createIceServerProvider(o: IceOptions): IceServerProvider {
  const { errors } = checkIceConfig(o);
  if (errors.length > 0) throw new Error(`invalid ICE server configuration:\n  ${errors.join('\n  ')}`);
  const servers = o.iceServers.map((s) => ({ ...s }));
  const secret = o.turnSecret;
  if (!secret || !servers.some((s) => isTurnServer(s) && s.username === undefined)) {
    return Object.assign(() => servers, { issue: () => ({ iceServers: servers, expiresAt: undefined }), turnTtl: undefined });
  }
  const ttl = o.turnTtl ?? DEFAULT_TURN_TTL_SECONDS;
  const now = o.now ?? Date.now;
  const issue = (userID: string) => {
    const expiresAtSeconds = Math.floor(now() / 1000) + ttl;
    const creds = turnCredentials(secret, userID, expiresAtSeconds);
    return { iceServers: servers.map((s) => (isTurnServer(s) && s.username === undefined ? { ...s, ...creds } : s)), expiresAt: expiresAtSeconds * 1000 };
  };
  return Object.assign((userID: string) => issue(userID).iceServers, { issue, turnTtl: ttl });
}
