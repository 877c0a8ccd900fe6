import { describe, it, expect, vi, afterEach } from 'vitest';
import { createRequire } from 'node:module';
import { deflateSync, inflateSync } from 'node:zlib';
import { genUserSig, verifyUserSig, isValidUserID, type UserSigFailure } from '../src/auth/usersig.js';

// The reference package is untyped CommonJS; describe just the surface we use.
interface RefApi {
  genUserSig(userid: string, expire: number): string;
  genPrivateMapKey(userid: string, expire: number, roomid: number, privilegeMap: number): string;
  genPrivateMapKeyWithStringRoomID(userid: string, expire: number, roomstr: string, privilegeMap: number): string;
}
const require = createRequire(import.meta.url);
const TLSSigAPIv2 = require('tls-sig-api-v2') as { Api: new (sdkappid: number, key: string) => RefApi };

// Key and app id from the package's own TLSSigAPITest.js.
const APP = 1400000000;
const KEY = '5bd2850fff3ecb11d7c805251c51ee463a25727bddc2385f3fa8bfee1bb93b5e';
const USER = 'xiaojun';
const ref = new TLSSigAPIv2.Api(APP, KEY);
const nowS = () => Math.floor(Date.now() / 1000);

function decode(sig: string): Record<string, unknown> {
  const b64 = sig.replace(/\*/g, '+').replace(/-/g, '/').replace(/_/g, '=');
  return JSON.parse(inflateSync(Buffer.from(b64, 'base64')).toString('utf8')) as Record<string, unknown>;
}
function encodeRaw(payload: string | Buffer): string {
  return deflateSync(Buffer.from(payload)).toString('base64').replace(/\+/g, '*').replace(/\//g, '-').replace(/=/g, '_');
}
const encode = (doc: unknown) => encodeRaw(JSON.stringify(doc));

function verify(userSig: string, over: Partial<Parameters<typeof verifyUserSig>[0]> = {}) {
  return verifyUserSig({ sdkAppId: APP, secretKey: KEY, userID: USER, userSig, ...over });
}
function expectFailure(result: ReturnType<typeof verifyUserSig>, reason: UserSigFailure) {
  expect(result.ok).toBe(false);
  if (!result.ok) {
    expect(result.reason).toBe(reason);
    expect(typeof result.message).toBe('string');
  }
}

// Deterministic PRNG so a fuzz failure is reproducible.
function mulberry32(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe('isValidUserID', () => {
  it('accepts the spec charset within 1..64 chars', () => {
    for (const id of ['a', 'Z', '0', '-', '_', 'user_01-A', 'x'.repeat(64)]) expect(isValidUserID(id)).toBe(true);
  });
  it('rejects everything else', () => {
    for (const id of ['', 'x'.repeat(65), 'a b', 'a.b', 'a@b', 'é', 'a\n', '\na', 'a:b', '用户', 'a\u0000']) {
      expect(isValidUserID(id)).toBe(false);
    }
    for (const v of [undefined, null, 1, {}, ['a'], true]) expect(isValidUserID(v)).toBe(false);
  });
});

describe('compatibility with tls-sig-api-v2', () => {
  it('verifies a UserSig from the reference package', () => {
    const before = nowS();
    const r = verify(ref.genUserSig(USER, 86400));
    expect(r.ok).toBe(true);
    if (r.ok) {
      expect(r.expiresAt).toBeGreaterThanOrEqual(before + 86400);
      expect(r.expiresAt).toBeLessThanOrEqual(nowS() + 86400);
    }
  });

  it('produces byte-identical output for a frozen clock', () => {
    const frozenMs = 1_700_000_000_123;
    vi.spyOn(Date, 'now').mockReturnValue(frozenMs);
    for (const [app, key, user, expire] of [
      [APP, KEY, USER, 86400 * 180],
      [20000001, 'another-secret', 'u_1-X', 1],
      [1400123456, 'k', 'x'.repeat(64), 3600],
    ] as const) {
      const expected = new TLSSigAPIv2.Api(app, key).genUserSig(user, expire);
      expect(genUserSig(app, key, user, expire)).toBe(expected); // default `now` reads the (mocked) clock
      expect(genUserSig(app, key, user, expire, Math.floor(frozenMs / 1000))).toBe(expected);
    }
  });

  it('produces byte-identical output on the real clock (retrying if the second rolls over)', () => {
    for (let attempt = 0; attempt < 5; attempt++) {
      const t0 = nowS();
      const theirs = ref.genUserSig(USER, 600);
      const ours = genUserSig(APP, KEY, USER, 600);
      if (nowS() !== t0) continue;
      expect(ours).toBe(theirs);
      return;
    }
    throw new Error('clock kept rolling over');
  });

  it('emits the documented doc layout', () => {
    const doc = decode(genUserSig(APP, KEY, USER, 300, 1_700_000_000));
    expect(Object.keys(doc)).toEqual(['TLS.ver', 'TLS.identifier', 'TLS.sdkappid', 'TLS.time', 'TLS.expire', 'TLS.sig']);
    expect(doc).toMatchObject({ 'TLS.ver': '2.0', 'TLS.identifier': USER, 'TLS.sdkappid': APP, 'TLS.time': 1_700_000_000, 'TLS.expire': 300 });
  });

  it('verifies PrivateMapKey tickets carrying TLS.userbuf', () => {
    for (const sig of [ref.genPrivateMapKey(USER, 300, 10000, 255), ref.genPrivateMapKeyWithStringRoomID(USER, 300, 'room-1', 42)]) {
      expect(typeof decode(sig)['TLS.userbuf']).toBe('string');
      expect(verify(sig).ok).toBe(true);
    }
  });

  it('rejects a userbuf ticket whose userbuf was swapped', () => {
    const a = decode(ref.genPrivateMapKey(USER, 300, 10000, 255));
    const b = decode(ref.genPrivateMapKey(USER, 300, 10001, 255));
    expectFailure(verify(encode({ ...a, 'TLS.userbuf': b['TLS.userbuf'] })), 'bad_signature');
    const { 'TLS.userbuf': _dropped, ...withoutUserbuf } = a;
    expectFailure(verify(encode(withoutUserbuf)), 'bad_signature');
  });

  it('round-trips its own tickets', () => {
    const now = 1_700_000_000;
    const r = verify(genUserSig(APP, KEY, USER, 60, now), { now: now + 30 });
    expect(r).toEqual({ ok: true, expiresAt: now + 60 });
  });
});

describe('rejections', () => {
  it('flags a changed HMAC character as bad_signature', () => {
    const doc = decode(ref.genUserSig(USER, 3600));
    const sig = doc['TLS.sig'] as string;
    for (const i of [0, 10, sig.length - 2]) {
      const c = sig[i] === 'A' ? 'B' : 'A';
      expectFailure(verify(encode({ ...doc, 'TLS.sig': sig.slice(0, i) + c + sig.slice(i + 1) })), 'bad_signature');
    }
    expectFailure(verify(encode({ ...doc, 'TLS.sig': sig.slice(0, -1) })), 'bad_signature');
    expectFailure(verify(encode({ ...doc, 'TLS.sig': '' })), 'bad_signature');
  });

  it('flags a re-signed-looking doc (new identifier/time/expire, old sig) as bad_signature', () => {
    const doc = decode(ref.genUserSig(USER, 3600));
    expectFailure(verify(encode({ ...doc, 'TLS.identifier': 'mallory' }), { userID: 'mallory' }), 'bad_signature');
    expectFailure(verify(encode({ ...doc, 'TLS.expire': 999999999 })), 'bad_signature');
    expectFailure(verify(encode({ ...doc, 'TLS.time': (doc['TLS.time'] as number) + 1 })), 'bad_signature');
    expectFailure(verify(encode({ ...doc, 'TLS.userbuf': 'AAAA' })), 'bad_signature');
  });

  it('flags expiry at and after TLS.time + TLS.expire', () => {
    expectFailure(verify(ref.genUserSig(USER, 1), { now: nowS() + 1_000_000 }), 'expired');
    const t = 1_700_000_000;
    const sig = genUserSig(APP, KEY, USER, 100, t);
    expect(verify(sig, { now: t + 99 }).ok).toBe(true);
    expectFailure(verify(sig, { now: t + 100 }), 'expired');
  });

  it('reports a bad signature rather than expiry for a forged, stale ticket', () => {
    const t = 1_700_000_000;
    const sig = genUserSig(APP, 'not-the-key', USER, 100, t);
    expectFailure(verify(sig, { now: t + 1000 }), 'bad_signature');
  });

  it('flags another app, another user and another secret', () => {
    expectFailure(verify(new TLSSigAPIv2.Api(APP + 1, KEY).genUserSig(USER, 3600)), 'wrong_app');
    expectFailure(verify(new TLSSigAPIv2.Api(APP + 1, 'other').genUserSig(USER, 3600)), 'wrong_app');
    expectFailure(verify(ref.genUserSig('someone_else', 3600)), 'wrong_user');
    expectFailure(verify(new TLSSigAPIv2.Api(APP, KEY + 'x').genUserSig(USER, 3600)), 'bad_signature');
    expectFailure(verify(ref.genUserSig(USER, 3600), { secretKey: 'other' }), 'bad_signature');
  });

  it('flags an invalid userID before looking at the ticket', () => {
    for (const userID of ['', 'a b', 'x'.repeat(65), 'a\n']) expectFailure(verify(ref.genUserSig(USER, 3600), { userID }), 'bad_user_id');
    expectFailure(verify('garbage', { userID: '' }), 'bad_user_id');
  });
});

describe('garbage never throws and is malformed', () => {
  const good = decode(ref.genUserSig(USER, 3600));
  const cases: Array<[string, unknown]> = [
    ['empty', ''],
    ['not base64', 'hello world!'],
    ['foreign chars', '%%%%'],
    ['padding in the middle', 'ab_cd'],
    ['base64 of non-zlib', Buffer.from('definitely not zlib').toString('base64')],
    ['zlib of non-JSON', encodeRaw('not json at all')],
    ['zlib of invalid utf-8', encodeRaw(Buffer.from([0xff, 0xfe, 0x7b]))],
    ['JSON array', encode([good])],
    ['JSON null', encode(null)],
    ['JSON number', encode(42)],
    ['JSON string', encode('TLS.sig')],
    ['empty object', encode({})],
    ['100 KB string', 'A'.repeat(100_000)],
    ['just over the length cap', 'A'.repeat(2049)],
    ['zip bomb under the input cap', encodeRaw(Buffer.alloc(1_000_000, 0x20))],
    ['JSON over the inflate cap', encode({ ...good, pad: 'x'.repeat(5000) })],
    ['sdkappid as string', encode({ ...good, 'TLS.sdkappid': String(APP) })],
    ['time as string', encode({ ...good, 'TLS.time': String(good['TLS.time']) })],
    ['expire as string', encode({ ...good, 'TLS.expire': String(good['TLS.expire']) })],
    ['expire negative', encode({ ...good, 'TLS.expire': -1 })],
    ['time fractional', encode({ ...good, 'TLS.time': 1.5 })],
    ['identifier as number', encode({ ...good, 'TLS.identifier': 7 })],
    ['sig as number', encode({ ...good, 'TLS.sig': 1 })],
    ['sig missing', encode({ ...good, 'TLS.sig': undefined })],
    ['userbuf as object', encode({ ...good, 'TLS.userbuf': {} })],
    ['userbuf null', encode({ ...good, 'TLS.userbuf': null })],
    ['wrong version', encode({ ...good, 'TLS.ver': '1.0' })],
    ['version as number', encode({ ...good, 'TLS.ver': 2 })],
    ['non-string userSig: number', 12345],
    ['non-string userSig: null', null],
    ['non-string userSig: undefined', undefined],
    ['non-string userSig: object', { toString: () => 'x' }],
  ];
  for (const [name, userSig] of cases) {
    it(name, () => {
      let r: ReturnType<typeof verifyUserSig> | undefined;
      expect(() => {
        r = verify(userSig as string);
      }).not.toThrow();
      expectFailure(r!, 'malformed');
    });
  }

  it('survives a non-object input and misconfiguration', () => {
    const sig = ref.genUserSig(USER, 3600);
    for (const input of [undefined, null, 'x', 1]) {
      expectFailure(verifyUserSig(input as never), 'malformed');
    }
    expectFailure(verify(sig, { secretKey: '' }), 'malformed');
    expectFailure(verify(sig, { secretKey: undefined as never }), 'malformed');
    expectFailure(verify(sig, { sdkAppId: '1400000000' as never }), 'malformed');
    expectFailure(verify(sig, { now: Number.NaN }), 'malformed');
  });

  it('handles seeded random strings and mutations of a valid ticket without throwing', () => {
    const rand = mulberry32(0xc0ffee);
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789*-_';
    const valid = ref.genUserSig(USER, 3600);
    const pick = (s: string) => s[Math.floor(rand() * s.length)]!;
    for (let n = 0; n < 2000; n++) {
      let s: string;
      switch (n % 4) {
        case 0: // escaped-base64 alphabet: reaches the zlib step
          s = Array.from({ length: Math.floor(rand() * 400) }, () => pick(alphabet)).join('');
          break;
        case 1: // arbitrary UTF-16 code units, including lone surrogates
          s = String.fromCharCode(...Array.from({ length: Math.floor(rand() * 200) }, () => Math.floor(rand() * 0x10000)));
          break;
        case 2: // valid zlib header prefix + random tail
          s = valid.slice(0, 4 + Math.floor(rand() * (valid.length - 4))) + Array.from({ length: Math.floor(rand() * 20) }, () => pick(alphabet)).join('');
          break;
        default: {
          // One-char mutation away from the tail, where base64's unused low bits could make a no-op edit.
          const i = Math.floor(rand() * (valid.length - 4));
          const c = pick(alphabet);
          s = valid.slice(0, i) + (c === valid[i] ? (c === 'A' ? 'B' : 'A') : c) + valid.slice(i + 1);
        }
      }
      let r: ReturnType<typeof verifyUserSig> | undefined;
      expect(() => {
        r = verify(s);
      }).not.toThrow();
      // A mutation can be a no-op for the content (unused base64 bits, zlib header level bits):
      // then it is the same ticket and may verify. Anything that decodes differently must not.
      if (r!.ok && decodeDoc(s) === decodeDoc(valid)) continue;
      expect(r!.ok, `input #${n}: ${JSON.stringify(s).slice(0, 80)}`).toBe(false);
    }
  });
});

describe('genUserSig input checks', () => {
  it('throws on values that could never verify', () => {
    expect(() => genUserSig(APP, KEY, 'bad id', 60)).toThrow(RangeError);
    expect(() => genUserSig(APP, KEY, USER, 0)).toThrow(RangeError);
    expect(() => genUserSig(APP, KEY, USER, 1.5)).toThrow(RangeError);
    expect(() => genUserSig(0, KEY, USER, 60)).toThrow(RangeError);
    expect(() => genUserSig(APP, '', USER, 60)).toThrow(TypeError);
    expect(() => genUserSig(APP, KEY, USER, 60, -1)).toThrow(RangeError);
  });
});

/** The JSON document inside a ticket, or null if it does not decode. */
function decodeDoc(sig: string): string | null {
  try {
    const b64 = sig.replace(/\*/g, '+').replace(/-/g, '/').replace(/_/g, '=');
    return inflateSync(Buffer.from(b64, 'base64')).toString('utf8');
  } catch {
    return null;
  }
}
