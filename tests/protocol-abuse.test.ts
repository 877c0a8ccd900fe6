/**
 * Protocol abuse: whatever a client sends, the server answers bad input with an error code,
 * keeps the connection usable, and changes nobody's call.
 *
 * Raw `ws` sockets play the attackers; alice and bob, where a live call is needed, are real SDK
 * clients with real WebRTC media so "the call is untouched" is checked on the media itself.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import type { RunningServer } from '@opencall/server';
import { CLIENT_MESSAGE_TYPES, ErrorCode, MAX_FRAME_BYTES } from '@opencall/protocol';
import { EVENT } from '@opencall/client/node';
import { cleanup, eventually, inbound, SDK_APP_ID, sig, sleep, startTestServer, TestClient } from './support/harness.js';
import { gatewayVerdict, Mutator, prng, type Mix } from './fuzz/mutator.js';

// ---------------------------------------------------------------------------------------------
// Raw socket helper
// ---------------------------------------------------------------------------------------------

type Frame = Record<string, any>;

/** A raw WebSocket client: sends whatever it is told and records every frame it receives. */
class Raw {
  readonly frames: Frame[] = [];
  closeInfo: { code: number; reason: string } | undefined;
  /** Rids of helper requests start high so they never collide with rids written into test frames. */
  private nextRid = 1_000_000;
  private wakers = new Set<() => void>();

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      const text = data.toString('utf8');
      let frame: Frame;
      try {
        frame = JSON.parse(text) as Frame;
      } catch {
        frame = { t: '__unparsable__', text, isBinary };
      }
      this.frames.push(frame);
      this.wake();
    });
    ws.on('close', (code: number, reason: Buffer) => {
      this.closeInfo = { code, reason: reason.toString() };
      this.wake();
    });
    ws.on('error', () => {});
  }

  static open(server: RunningServer): Promise<Raw> {
    const ws = new WebSocket(server.url.replace('http', 'ws') + '/ws');
    sockets.push(ws);
    return new Promise((resolve, reject) => {
      ws.once('open', () => resolve(new Raw(ws)));
      ws.once('error', reject);
    });
  }

  /** A connection that logged in (as `userID`) and out again: held to the router's rules (NOT_LOGGED_IN), not the pre-login ones. */
  static async loggedOut(server: RunningServer, userID: string): Promise<Raw> {
    const c = await Raw.open(server);
    await c.login(userID);
    expect(await c.request({ t: 'logout' }), `logout ${userID}`).toMatchObject({ ok: true });
    return c;
  }

  /** One connection per user, each logged in as that user. */
  static async loggedIn<const T extends readonly string[]>(server: RunningServer, ...userIDs: T): Promise<{ [K in keyof T]: Raw }> {
    const conns = await Promise.all(userIDs.map(async (userID) => {
      const c = await Raw.open(server);
      await c.login(userID);
      return c;
    }));
    return conns as { [K in keyof T]: Raw };
  }

  get isOpen(): boolean {
    return this.ws.readyState === WebSocket.OPEN && this.closeInfo === undefined;
  }

  send(msg: unknown): void {
    this.ws.send(JSON.stringify(msg));
  }

  sendText(text: string | Buffer): void {
    this.ws.send(text, { binary: false });
  }

  sendBinary(data: Buffer): void {
    this.ws.send(data, { binary: true });
  }

  private wake(): void {
    for (const w of [...this.wakers]) w();
  }

  /** Resolves once `check` returns something other than undefined (re-checked on every frame). */
  until<T>(check: () => T | undefined, what: string, timeoutMs = 5000): Promise<T> {
    const now = check();
    if (now !== undefined) return Promise.resolve(now);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.wakers.delete(waker);
        reject(new Error(`timed out waiting for ${what}; last frames: ${JSON.stringify(this.frames.slice(-5)).slice(0, 800)}`));
      }, timeoutMs);
      const waker = () => {
        const v = check();
        if (v === undefined) return;
        clearTimeout(timer);
        this.wakers.delete(waker);
        resolve(v);
      };
      this.wakers.add(waker);
    });
  }

  waitFrame(pred: (f: Frame) => boolean, what: string, from = 0, timeoutMs = 5000): Promise<Frame> {
    return this.until(() => this.frames.slice(from).find(pred), what, timeoutMs);
  }

  waitClose(timeoutMs = 5000): Promise<{ code: number; reason: string }> {
    return this.until(() => this.closeInfo, 'close', timeoutMs);
  }

  /** Sends `msg` with a fresh rid and resolves with the matching `res` frame. */
  request(msg: Record<string, unknown>, timeoutMs = 5000): Promise<Frame> {
    const rid = this.nextRid++;
    const from = this.frames.length;
    this.send({ ...msg, rid });
    return this.waitFrame((f) => f.t === 'res' && f.rid === rid, `res to ${String(msg.t)} rid ${rid}`, from, timeoutMs);
  }

  /** A ping that must succeed: proves the connection is open and served. */
  async ping(): Promise<number> {
    const started = performance.now();
    const res = await this.request({ t: 'ping' });
    expect(res, 'ping answered').toMatchObject({ t: 'res', ok: true });
    expect(typeof res.data?.serverTime).toBe('number');
    return performance.now() - started;
  }

  async login(userID: string, userSig = sig(userID)): Promise<void> {
    const res = await this.request({ t: 'login', sdkAppId: SDK_APP_ID, userID, userSig });
    expect(res, `login ${userID}`).toMatchObject({ ok: true, data: { userID } });
  }

  /**
   * Runs `send` (which sends anything), then a ping; returns the res/error frames the server sent
   * in between, i.e. its answers to what `send` sent (the server handles a connection's frames in
   * order). The ping answering also proves the connection is still open and usable.
   */
  async answersTo(send: () => void): Promise<Frame[]> {
    const from = this.frames.length;
    send();
    const rid = this.nextRid++;
    this.send({ t: 'ping', rid });
    const pong = await this.waitFrame((f) => f.t === 'res' && f.rid === rid, `ping after bad input`, from);
    expect(pong.ok, 'ping after bad input succeeds').toBe(true);
    const end = this.frames.indexOf(pong);
    return this.frames.slice(from, end).filter((f) => f.t === 'res' || f.t === 'error');
  }
}

let sockets: WebSocket[] = [];

/** What the server must answer to one refused frame. */
function refusal(code: number, rid?: number): Frame {
  return rid === undefined ? { t: 'error', code } : { t: 'res', rid, ok: false, code };
}

/** Sends one raw text frame and expects exactly one refusal with `code` (as a `res` when `rid` is given). */
async function expectRefusedText(raw: Raw, text: string | Buffer, code: number, rid?: number): Promise<void> {
  const answers = await raw.answersTo(() => raw.sendText(text));
  const shown = (typeof text === 'string' ? text : text.toString('utf8')).slice(0, 120);
  expect(answers, `answers to ${shown}`).toHaveLength(1);
  expect(answers[0], `answer to ${shown}`).toMatchObject(refusal(code, rid));
  expect(typeof answers[0]?.message, 'refusals carry a message').toBe('string');
  expect(raw.isOpen).toBe(true);
}

/** Sends `msg` (JSON) and expects exactly one refusal; the rid is echoed iff it is a non-negative integer. */
async function expectRefused(raw: Raw, msg: unknown, code: number): Promise<void> {
  const rid = (msg as { rid?: unknown } | null)?.rid;
  await expectRefusedText(raw, JSON.stringify(msg), code, Number.isInteger(rid) && (rid as number) >= 0 ? (rid as number) : undefined);
}

/** Makes a request (fresh rid) that must be refused with `code`, then checks the connection still serves a ping. */
async function expectRequestRefused(raw: Raw, msg: Record<string, unknown>, code: number): Promise<void> {
  const res = await raw.request(msg);
  expect(res, `${JSON.stringify(msg).slice(0, 160)} → ${code}`).toMatchObject({ t: 'res', ok: false, code });
  await raw.ping();
}

const nest = (open: string, close: string, depth: number, inner = ''): string => open.repeat(depth) + inner + close.repeat(depth);

// ---------------------------------------------------------------------------------------------
// Shared fixture
// ---------------------------------------------------------------------------------------------

let server: RunningServer | undefined;
let clients: TestClient[] = [];

afterEach(async () => {
  for (const ws of sockets) ws.terminate();
  sockets = [];
  await cleanup(server, clients);
  server = undefined;
  clients = [];
});

/** alice calls bob with video, bob accepts; resolves once both see each other enter and video flows. */
async function startCall(s: RunningServer): Promise<{ alice: TestClient; bob: TestClient; inviteID: string; roomID: number }> {
  const alice = new TestClient('alice', s);
  const bob = new TestClient('bob', s);
  clients.push(alice, bob);
  await alice.login();
  await bob.login();
  await alice.sdk.call({ userID: 'bob', type: 2 });
  const invited = await bob.waitFor(EVENT.INVITED);
  await bob.sdk.accept();
  await alice.waitFor(EVENT.USER_ENTER, (p) => p.userID === 'bob');
  await bob.waitFor(EVENT.USER_ENTER, (p) => p.userID === 'alice');
  await eventually(async () => (await inbound(alice, 'bob')).videoBytes > 0 && (await inbound(bob, 'alice')).videoBytes > 0, 'video flowing both ways');
  return { alice, bob, inviteID: invited.inviteID as string, roomID: invited.inviteData.roomID as number };
}

/** The call is untouched: nobody left or ended, video still flows both ways; then a normal hangup ends it for both. */
async function expectCallUntouchedThenHangup(alice: TestClient, bob: TestClient): Promise<void> {
  for (const c of [alice, bob]) {
    expect(c.names([EVENT.CALL_END, EVENT.USER_LEAVE, EVENT.KICKED_OUT, EVENT.CALLING_CANCEL, EVENT.ERROR]), `${c.userID} saw nothing end or fail`).toEqual([]);
  }
  const [a1, b1] = await Promise.all([inbound(alice, 'bob'), inbound(bob, 'alice')]);
  await sleep(1000);
  const [a2, b2] = await Promise.all([inbound(alice, 'bob'), inbound(bob, 'alice')]);
  expect(a2.videoBytes, 'alice still receives video from bob').toBeGreaterThan(a1.videoBytes);
  expect(b2.videoBytes, 'bob still receives video from alice').toBeGreaterThan(b1.videoBytes);

  await alice.sdk.hangup();
  await alice.waitFor(EVENT.CALL_END);
  await bob.waitFor(EVENT.CALL_END);
  expect(alice.count(EVENT.CALL_END)).toBe(1);
  expect(bob.count(EVENT.CALL_END)).toBe(1);
}

// ---------------------------------------------------------------------------------------------
// Malformed input
// ---------------------------------------------------------------------------------------------

describe('malformed frames get an error code and the connection stays usable', () => {
  // (Logged in: before login any refused frame closes the socket, see "before login" below.)
  it('text that is not JSON, and binary frames → MALFORMED_FRAME', async () => {
    server = await startTestServer();
    const [raw] = await Raw.loggedIn(server, 'mallory');
    for (const text of ['hello', '', ' ', '{', '{"t":"ping","rid":1', "{'t':'ping','rid':1}", '{"t":"ping","rid":1,}', 'undefined', 'NaN', '\u0000', '{"t":"ping"}garbage']) {
      await expectRefusedText(raw, text, ErrorCode.MALFORMED_FRAME);
    }
    // Binary is refused before parsing, even when it holds a perfectly valid request (so no rid is echoed).
    for (const data of [Buffer.from(JSON.stringify({ t: 'ping', rid: 2 })), Buffer.from([0, 1, 2, 0xff, 0xfe]), Buffer.alloc(0)]) {
      const answers = await raw.answersTo(() => raw.sendBinary(data));
      expect(answers).toEqual([expect.objectContaining(refusal(ErrorCode.MALFORMED_FRAME))]);
    }
    expect(raw.isOpen).toBe(true);
  });

  it('JSON that is not an object (array, number, null, string, boolean) → INVALID_MESSAGE', async () => {
    server = await startTestServer();
    const [raw] = await Raw.loggedIn(server, 'mallory');
    for (const text of ['[]', '[{"t":"ping","rid":3}]', '42', '-1', '1e999', 'null', '"ping"', 'true', 'false']) {
      await expectRefusedText(raw, text, ErrorCode.INVALID_MESSAGE);
    }
  });

  it('unknown or missing `t` → UNKNOWN_MESSAGE (rid echoed when present)', async () => {
    server = await startTestServer();
    const [raw] = await Raw.loggedIn(server, 'mallory');
    await expectRefused(raw, { t: 'pong', rid: 1 }, ErrorCode.UNKNOWN_MESSAGE);
    await expectRefused(raw, { t: 'PING', rid: 2 }, ErrorCode.UNKNOWN_MESSAGE);
    await expectRefused(raw, { t: 'ping ', rid: 3 }, ErrorCode.UNKNOWN_MESSAGE);
    await expectRefused(raw, { t: 'invited', rid: 4 }, ErrorCode.UNKNOWN_MESSAGE);
    await expectRefused(raw, { t: 'res', rid: 5, ok: true }, ErrorCode.UNKNOWN_MESSAGE);
    await expectRefused(raw, { t: 'x'.repeat(10_000), rid: 6 }, ErrorCode.UNKNOWN_MESSAGE);
    await expectRefused(raw, { t: 1, rid: 7 }, ErrorCode.UNKNOWN_MESSAGE);
    await expectRefused(raw, { t: ['ping'], rid: 8 }, ErrorCode.UNKNOWN_MESSAGE);
    await expectRefused(raw, { rid: 9 }, ErrorCode.UNKNOWN_MESSAGE);
    await expectRefused(raw, { t: null }, ErrorCode.UNKNOWN_MESSAGE);
    await expectRefused(raw, {}, ErrorCode.UNKNOWN_MESSAGE);
    // Names that live on Object.prototype must not be mistaken for known types.
    await expectRefusedText(raw, '{"t":"__proto__","rid":10}', ErrorCode.UNKNOWN_MESSAGE, 10);
    await expectRefusedText(raw, '{"t":"constructor","rid":11}', ErrorCode.UNKNOWN_MESSAGE, 11);
    await expectRefusedText(raw, '{"t":"toString","rid":12}', ErrorCode.UNKNOWN_MESSAGE, 12);
  });

  it('wrong field types, missing fields and extra fields → INVALID_MESSAGE (res with the rid when numeric, else an error frame)', async () => {
    server = await startTestServer();
    const fresh = await Raw.loggedOut(server, 'mallory2');
    const loggedIn = await Raw.open(server);
    await loggedIn.login('mallory');
    const cases: unknown[] = [
      // wrong types
      { t: 'ping', rid: '7' },
      { t: 'ping', rid: 1.5 },
      { t: 'ping', rid: -1 },
      { t: 'ping', rid: null },
      { t: 'ping', rid: true },
      { t: 'ping', rid: 2 ** 31 + 1 }, // an integer, so echoed, but out of range
      { t: 'login', rid: 8, sdkAppId: String(SDK_APP_ID), userID: 'mallory', userSig: sig('mallory') },
      { t: 'login', rid: 9, sdkAppId: SDK_APP_ID, userID: 42, userSig: sig('mallory') },
      { t: 'login', rid: 10, sdkAppId: SDK_APP_ID, userID: 'mallory', userSig: '' },
      { t: 'invite', rid: 11, invitees: 'bob', callType: 2, timeout: 30 },
      { t: 'invite', rid: 12, invitees: [42], callType: 2, timeout: 30 },
      { t: 'invite', rid: 13, invitees: ['bob'], callType: 2, timeout: 30, media: { audio: 1, video: 0 } },
      { t: 'invite', rid: 14, invitees: ['bob'], callType: 2, timeout: 30, groupID: 'has space' },
      { t: 'accept', rid: 15, inviteID: 123 },
      { t: 'accept', rid: 16, inviteID: '' },
      { t: 'accept', rid: 17, inviteID: 'x'.repeat(65) },
      { t: 'reject', rid: 18, inviteID: 'x', busy: 'true' },
      { t: 'hangup', rid: 19, inviteID: ['x'] },
      { t: 'media', rid: 20, inviteID: 'x', audio: 'yes', video: false },
      { t: 'relay', rid: 21, inviteID: 'x', to: 'bob', payload: 'sdp' },
      { t: 'relay', rid: 22, inviteID: 'x', to: 'bob', payload: { kind: 'sdp', type: 'pranswer', sdp: 'v=0' } },
      { t: 'relay', rid: 23, inviteID: 'x', to: 'bob', payload: { kind: 'sdp', type: 'offer', sdp: '' } },
      { t: 'relay', rid: 24, inviteID: 'x', to: 'bob', payload: { kind: 'ice', candidate: 'c', sdpMLineIndex: -1 } },
      { t: 'relay', rid: 25, inviteID: 'x', to: 'bob', payload: { kind: 'bogus' } },
      { t: 'relay', inviteID: 'x', to: 'bob', payload: { kind: 'ready' }, rid: 'x' },
      // missing fields
      { t: 'ping' },
      { t: 'logout' },
      { t: 'login', rid: 30 },
      { t: 'login', rid: 31, sdkAppId: SDK_APP_ID, userID: 'mallory' },
      { t: 'invite', rid: 32, invitees: ['bob'], callType: 2 },
      { t: 'invite', rid: 33, callType: 2, timeout: 30 },
      { t: 'accept', rid: 34 },
      { t: 'reject', rid: 35 },
      { t: 'hangup', rid: 36 },
      { t: 'relay', rid: 37, inviteID: 'x', to: 'bob' },
      { t: 'relay', inviteID: 'x', payload: { kind: 'ready' } },
      { t: 'relay', rid: 38, inviteID: 'x', to: 'bob', payload: { kind: 'sdp', type: 'offer' } },
      { t: 'relay', rid: 39, inviteID: 'x', to: 'bob', payload: {} },
      { t: 'media', rid: 40, inviteID: 'x', audio: true },
      // extra fields (every schema is strict)
      { t: 'ping', rid: 50, x: 1 },
      { t: 'logout', rid: 51, userID: 'alice' },
      { t: 'login', rid: 52, sdkAppId: SDK_APP_ID, userID: 'mallory', userSig: sig('mallory'), admin: true },
      { t: 'invite', rid: 53, invitees: ['bob'], callType: 2, timeout: 30, from: 'alice' },
      { t: 'invite', rid: 54, invitees: ['bob'], callType: 2, timeout: 30, offlinePushInfo: { title: 't', sound: 'x' } },
      { t: 'invite', rid: 55, invitees: ['bob'], callType: 2, timeout: 30, media: { audio: true, video: true, screen: true } },
      { t: 'accept', rid: 56, inviteID: 'x', userID: 'bob' },
      { t: 'hangup', rid: 57, inviteID: 'x', sponsor: 'alice' },
      { t: 'relay', inviteID: 'x', to: 'bob', from: 'alice', payload: { kind: 'ready' } },
      { t: 'relay', rid: 58, inviteID: 'x', to: 'bob', payload: { kind: 'ready', from: 'alice' } },
      { t: 'media', inviteID: 'x', audio: true, video: true, userID: 'alice' },
    ];
    for (const raw of [fresh, loggedIn]) {
      for (const msg of cases) await expectRefused(raw, msg, ErrorCode.INVALID_MESSAGE);
      // A key named __proto__ is an own property after JSON.parse and must count as an extra field.
      await expectRefusedText(raw, '{"t":"ping","rid":60,"__proto__":{"admin":true}}', ErrorCode.INVALID_MESSAGE, 60);
      // Duplicate keys: JSON.parse keeps the last one, which the schema then judges.
      await expectRefusedText(raw, '{"t":"ping","rid":61,"rid":"61"}', ErrorCode.INVALID_MESSAGE);
    }
    expect(server.stats()).toMatchObject({ users: 1, calls: 0 });
  });

  it('a frame over 64 KiB (fragmented or not) → FRAME_TOO_LARGE, the connection stays open; exactly 64 KiB is still parsed', async () => {
    server = await startTestServer();
    const [raw] = await Raw.loggedIn(server, 'mallory');
    const sized = (bytes: number, rid: number) => {
      const base = JSON.stringify({ t: 'ping', rid, pad: '' });
      const text = JSON.stringify({ t: 'ping', rid, pad: 'x'.repeat(bytes - base.length) });
      expect(Buffer.byteLength(text)).toBe(bytes);
      return text;
    };
    // At the limit the frame is parsed (and refused only for its extra field, with the rid echoed) ...
    await expectRefusedText(raw, sized(MAX_FRAME_BYTES, 1), ErrorCode.INVALID_MESSAGE, 1);
    // ... one byte over it is not parsed at all, so there is no rid to echo.
    await expectRefusedText(raw, sized(MAX_FRAME_BYTES + 1, 2), ErrorCode.FRAME_TOO_LARGE);
    await expectRefusedText(raw, sized(100_000, 3), ErrorCode.FRAME_TOO_LARGE);
    await expectRefusedText(raw, sized(1024 * 1024 - 64, 4), ErrorCode.FRAME_TOO_LARGE);
    // Multi-byte characters count as bytes, not as UTF-16 units.
    await expectRefusedText(raw, JSON.stringify({ t: 'ping', rid: 5, pad: '中'.repeat(22_000) }), ErrorCode.FRAME_TOO_LARGE);
    // A message in 3 fragments of 30 000 bytes is one 90 000-byte message.
    const answers = await raw.answersTo(() => {
      const chunk = Buffer.alloc(30_000, 'x');
      raw.ws.send(chunk, { binary: false, fin: false });
      raw.ws.send(chunk, { binary: false, fin: false });
      raw.ws.send(chunk, { binary: false, fin: true });
    });
    expect(answers).toEqual([expect.objectContaining(refusal(ErrorCode.FRAME_TOO_LARGE))]);
    // Small fragments making up a valid request are fine.
    const from = raw.frames.length;
    raw.ws.send('{"t":"pi', { binary: false, fin: false });
    raw.ws.send('ng","ri', { binary: false, fin: false });
    raw.ws.send('d":77}', { binary: false, fin: true });
    await raw.waitFrame((f) => f.t === 'res' && f.rid === 77 && f.ok === true, 'fragmented ping answered', from);
    expect(raw.isOpen).toBe(true);
  });

  it('a frame over 1 MiB: the server closes that connection with 1009 and still serves everyone else', async () => {
    // No reconnect grace, so the closed session's user is gone at once.
    server = await startTestServer({ reconnectGraceMs: 0 });
    const bystander = await Raw.open(server);
    await bystander.login('bystander');
    const big = await Raw.open(server);
    await big.login('bigsender');
    big.sendText('x'.repeat(1024 * 1024 + 16));
    const closed = await big.waitClose();
    expect(closed.code).toBe(1009);
    await bystander.ping();
    const newcomer = await Raw.open(server);
    await newcomer.login('newcomer');
    await newcomer.ping();
    // The closed session is gone; the others are still there.
    await eventually(() => server!.stats().users === 2 && server!.stats().connections === 2, 'closed session removed');
  });

  it('a text frame that is not valid UTF-8 is fatal for that connection only (RFC 6455: close 1007)', async () => {
    server = await startTestServer();
    const bystander = await Raw.open(server);
    const bad = await Raw.open(server);
    bad.sendText(Buffer.from([0x7b, 0x22, 0xc3, 0x28, 0x22, 0x7d])); // {"\xc3("}
    expect((await bad.waitClose()).code).toBe(1007);
    await bystander.ping();
  });

  it('deeply nested JSON is refused without hurting the server', async () => {
    server = await startTestServer();
    const [raw] = await Raw.loggedIn(server, 'mallory');
    const depth = 30_000; // 60 000 bytes of brackets: under the 64 KiB limit
    await expectRefusedText(raw, nest('[', ']', depth), ErrorCode.INVALID_MESSAGE);
    await expectRefusedText(raw, '{"t":"ping","rid":1,"x":' + nest('[', ']', depth) + '}', ErrorCode.INVALID_MESSAGE, 1);
    await expectRefusedText(raw, '{"t":"ping","rid":' + nest('[', ']', depth) + '}', ErrorCode.INVALID_MESSAGE);
    await expectRefusedText(raw, '{"t":"invite","rid":2,"invitees":' + nest('[', ']', depth) + ',"callType":2,"timeout":30}', ErrorCode.INVALID_MESSAGE, 2);
    await expectRefusedText(raw, '{"t":"relay","rid":3,"inviteID":"x","to":"bob","payload":' + nest('{"kind":', '}', 7000, '1') + '}', ErrorCode.INVALID_MESSAGE, 3);
    await expectRefusedText(raw, '{"t":"media","rid":4,"inviteID":"x","audio":' + nest('{"a":', '}', 9000, 'true') + ',"video":true}', ErrorCode.INVALID_MESSAGE, 4);
    // Deeper than the limit allows: refused for its size before any parsing.
    await expectRefusedText(raw, nest('[', ']', 100_000), ErrorCode.FRAME_TOO_LARGE);
    await expectRefusedText(raw, '{"t":"hangup","rid":5,"inviteID":' + nest('[', ']', depth) + '}', ErrorCode.INVALID_MESSAGE, 5);
  });

  // Kept separate because it currently FAILS (server bug, see report): a deeply nested `t` makes the
  // gateway's JSON.stringify(t) overflow the stack, which is answered as INTERNAL (50000) and logged
  // as a server bug, instead of UNKNOWN_MESSAGE.
  it('a deeply nested `t` is an unknown message type (UNKNOWN_MESSAGE), not an internal error', async () => {
    server = await startTestServer();
    const [raw] = await Raw.loggedIn(server, 'mallory');
    await expectRefusedText(raw, '{"t":' + nest('[', ']', 30_000) + ',"rid":1}', ErrorCode.UNKNOWN_MESSAGE, 1);
    await expectRefusedText(raw, '{"t":' + nest('{"a":', '}', 10_000, '1') + ',"rid":2}', ErrorCode.UNKNOWN_MESSAGE, 2);
  });

  it('huge or oversized invitee lists → INVALID_MESSAGE, and no call is created', async () => {
    server = await startTestServer({ maxInvitees: 4 });
    const raw = await Raw.open(server);
    const ids = (n: number) => Array.from({ length: n }, (_, i) => `u${i}`);
    const invite = (rid: number, invitees: unknown) => ({ t: 'invite', rid, invitees, callType: 2, timeout: 30 });
    // Schema limits hold when logged out too.
    const loggedOut = await Raw.loggedOut(server, 'mallory2');
    await expectRefused(loggedOut, invite(1, ids(257)), ErrorCode.INVALID_MESSAGE);
    await expectRefused(loggedOut, invite(2, []), ErrorCode.INVALID_MESSAGE);
    await raw.login('mallory');
    await expectRefused(raw, invite(3, ids(5)), ErrorCode.INVALID_MESSAGE); // over this server's maxInvitees (4)
    await expectRefused(raw, invite(4, ids(256)), ErrorCode.INVALID_MESSAGE);
    await expectRefused(raw, invite(5, ids(257)), ErrorCode.INVALID_MESSAGE);
    await expectRefused(raw, invite(6, ids(7000)), ErrorCode.INVALID_MESSAGE); // ~60 KB: parsed, then refused
    await expectRefused(raw, invite(7, []), ErrorCode.INVALID_MESSAGE);
    await expectRefusedText(raw, JSON.stringify(invite(8, ids(20_000))), ErrorCode.FRAME_TOO_LARGE);
    expect(server.stats().calls).toBe(0);
    // Control: duplicates collapse, and 2 invitees are fine.
    const ok = await raw.request({ t: 'invite', invitees: [...ids(2), ...ids(2), ...ids(2)], callType: 2, timeout: 30 });
    expect(ok).toMatchObject({ ok: true, data: { inviteID: expect.any(String) } });
    expect(server.stats().calls).toBe(1);
  });

  it('bad userIDs (spaces, unicode, 65 chars, empty, control characters) are refused everywhere', async () => {
    server = await startTestServer();
    const bad = ['has space', 'ünïcödé', '中文', '😀', 'a'.repeat(65), '', 'bob\n', 'bob\u0000', '../bob', 'bob@x', 'a.b'];
    // Logged out (a fresh socket would be closed after 3 failed logins, see "before login" below).
    const fresh = await Raw.loggedOut(server, 'mallory2');
    for (const [i, userID] of bad.entries()) {
      // In a login the userID is checked against the UserSig's rules: USERID_INVALID ...
      const res = await fresh.request({ t: 'login', sdkAppId: SDK_APP_ID, userID, userSig: sig('mallory') });
      expect(res, `login as ${JSON.stringify(userID)}`).toMatchObject({ ok: false, code: ErrorCode.USERID_INVALID });
      // ... everywhere else the schema refuses it: INVALID_MESSAGE.
      await expectRefused(fresh, { t: 'invite', rid: 100 + i, invitees: [userID], callType: 2, timeout: 30 }, ErrorCode.INVALID_MESSAGE);
    }
    // Longer than any userID may be: refused by the login schema itself.
    await expectRefused(fresh, { t: 'login', rid: 1, sdkAppId: SDK_APP_ID, userID: 'a'.repeat(257), userSig: sig('mallory') }, ErrorCode.INVALID_MESSAGE);
    await fresh.ping();
    expect(server.stats().users).toBe(0);

    const mallory = await Raw.open(server);
    await mallory.login('mallory');
    for (const [i, userID] of bad.entries()) {
      await expectRefused(mallory, { t: 'invite', rid: 200 + i, invitees: ['bob', userID], callType: 1, timeout: 30 }, ErrorCode.INVALID_MESSAGE);
      await expectRefused(mallory, { t: 'relay', rid: 300 + i, inviteID: 'x', to: userID, payload: { kind: 'ready' } }, ErrorCode.INVALID_MESSAGE);
    }
    expect(server.stats().calls).toBe(0);
    // Control: 64 characters is a valid userID.
    const ok = await mallory.request({ t: 'invite', invitees: ['a'.repeat(64)], callType: 1, timeout: 30 });
    expect(ok).toMatchObject({ ok: true });
  });

  it('bad callType and timeout → INVALID_MESSAGE', async () => {
    server = await startTestServer();
    const raw = await Raw.open(server);
    await raw.login('mallory');
    const invite = (rid: number, extra: Record<string, unknown>) => ({ t: 'invite', rid, invitees: ['bob'], callType: 2, timeout: 30, ...extra });
    const cases = [{ callType: 3 }, { callType: 0 }, { callType: -1 }, { callType: '2' }, { callType: 1.5 }, { callType: null }, { timeout: -1 }, { timeout: -0.5 }, { timeout: 1.5 }, { timeout: 24 * 3600 + 1 }, { timeout: '30' }, { timeout: null }];
    for (const [i, extra] of cases.entries()) await expectRefused(raw, invite(i + 1, extra), ErrorCode.INVALID_MESSAGE);
    expect(server.stats().calls).toBe(0);
  });
});

// ---------------------------------------------------------------------------------------------
// Out of order
// ---------------------------------------------------------------------------------------------

describe('messages out of order', () => {
  // Issue 11: before its first login a socket may send `login` and `ping` only; anything else is
  // answered (NOT_LOGGED_IN, or the frame's error) and the socket is closed with 4003.
  it('before login everything but login and ping → NOT_LOGGED_IN, then the socket is closed (4003); logged out → NOT_LOGGED_IN only', async () => {
    server = await startTestServer();
    const inviteID = '00000000-0000-4000-8000-000000000000';
    const requests = [
      { t: 'invite', invitees: ['bob'], callType: 2, timeout: 30 },
      { t: 'accept', inviteID },
      { t: 'reject', inviteID },
      { t: 'hangup', inviteID },
      { t: 'relay', inviteID, to: 'bob', payload: { kind: 'ready' } },
      { t: 'media', inviteID, audio: true, video: true },
      { t: 'logout' },
      { t: 'history' },
    ];
    for (const msg of requests) {
      const raw = await Raw.open(server);
      await raw.ping(); // a ping is fine before login
      expect(await raw.request(msg), JSON.stringify(msg)).toMatchObject({ t: 'res', ok: false, code: ErrorCode.NOT_LOGGED_IN });
      expect(await raw.waitClose(), JSON.stringify(msg)).toEqual({ code: 4003, reason: 'log in first' });
    }
    // Without a rid the refusal comes as an error frame; malformed frames and unknown types close it too.
    for (const text of [JSON.stringify({ t: 'relay', inviteID, to: 'bob', payload: { kind: 'ready' } }), '{nope', '{"t":"pong","rid":1}', '[]']) {
      const raw = await Raw.open(server);
      raw.sendText(text);
      expect(await raw.waitClose(), text).toEqual({ code: 4003, reason: 'log in first' });
      expect(raw.frames.filter((f) => f.t === 'res' || f.t === 'error'), text).toHaveLength(1);
    }
    // A socket that logged in and out again gets the router's answer and stays open.
    const out = await Raw.loggedOut(server, 'carol');
    for (const msg of requests.slice(0, 7)) await expectRequestRefused(out, msg, ErrorCode.NOT_LOGGED_IN);
    expect(server.stats()).toMatchObject({ users: 0, calls: 0 });
  });

  it('a socket that does not log in within the deadline is closed (4004), also after a logout; logging in in time keeps it', async () => {
    server = await startTestServer({ loginTimeoutMs: 400 });
    const idle = await Raw.open(server);
    await idle.ping();
    expect(await idle.waitClose()).toEqual({ code: 4004, reason: 'no login in time' });
    const user = await Raw.open(server);
    await user.login('dave');
    await sleep(800);
    await user.ping();
    expect(await user.request({ t: 'logout' })).toMatchObject({ ok: true });
    expect(await user.waitClose()).toEqual({ code: 4004, reason: 'no login in time' });
  });

  it('before login: a frame over 4 KiB closes the socket (1009), 3 failed logins close it (4005), a login after failures still works', async () => {
    server = await startTestServer();
    const big = await Raw.open(server);
    big.sendText(JSON.stringify({ t: 'ping', rid: 1, pad: 'x'.repeat(4200) }));
    expect((await big.waitClose()).code).toBe(1009);
    expect(big.frames).toEqual([]);
    // 4 KiB is plenty for a login (a UserSig is a few hundred bytes), and the limit ends with it.
    const user = await Raw.open(server);
    await user.login('dave');
    await expectRefusedText(user, JSON.stringify({ t: 'ping', rid: 2, pad: 'x'.repeat(10_000) }), ErrorCode.INVALID_MESSAGE, 2);

    const guesser = await Raw.open(server);
    const bad = { t: 'login', sdkAppId: SDK_APP_ID, userID: 'alice', userSig: sig('mallory') };
    await expectRequestRefused(guesser, bad, ErrorCode.USERID_INVALID);
    await expectRequestRefused(guesser, bad, ErrorCode.USERID_INVALID);
    expect(await guesser.request(bad)).toMatchObject({ ok: false, code: ErrorCode.USERID_INVALID });
    expect(await guesser.waitClose()).toEqual({ code: 4005, reason: 'too many failed logins' });

    const retry = await Raw.open(server);
    await expectRequestRefused(retry, bad, ErrorCode.USERID_INVALID);
    await expectRequestRefused(retry, bad, ErrorCode.USERID_INVALID);
    await retry.login('erin');
    await retry.ping();
    expect(retry.isOpen).toBe(true);
  });

  it('SDP/ICE or mute changes a party sends just after its call ended are dropped quietly; others still get an error', async () => {
    server = await startTestServer();
    const [carol, dave, erin] = await Raw.loggedIn(server, 'carol', 'dave', 'erin');
    const invite = await carol.request({ t: 'invite', invitees: ['dave'], callType: 1, timeout: 30 });
    const inviteID = invite.data.inviteID as string;
    await dave.waitFrame((f) => f.t === 'invited', 'invited');
    expect(await dave.request({ t: 'accept', inviteID })).toMatchObject({ ok: true });
    expect(await carol.request({ t: 'hangup', inviteID })).toMatchObject({ ok: true, data: { ended: true } });
    // dave's candidates and mute change, sent before he heard of the end: no answer at all.
    for (const msg of [
      { t: 'relay', inviteID, to: 'carol', payload: { kind: 'ice', candidate: 'candidate:1 1 udp 1 127.0.0.1 9 typ host', sdpMid: '0', sdpMLineIndex: 0 } },
      { t: 'media', inviteID, audio: false, video: false },
    ]) {
      expect(await dave.answersTo(() => dave.send(msg)), JSON.stringify(msg)).toEqual([]);
    }
    // With a rid he still gets his answer; someone who was never in the call gets the error.
    await expectRequestRefused(dave, { t: 'relay', inviteID, to: 'carol', payload: { kind: 'ready' } }, ErrorCode.CALL_NOT_FOUND);
    await expectRefused(erin, { t: 'relay', inviteID, to: 'carol', payload: { kind: 'ready' } }, ErrorCode.CALL_NOT_FOUND);
  });

  it('login twice, accept/reject/hangup at the wrong time, calling yourself, calling while busy, relaying outside the call', async () => {
    server = await startTestServer();
    const [carol, dave, erin] = await Raw.loggedIn(server, 'carol', 'dave', 'erin');

    // One login per connection, whoever the second one is for; the first identity stays.
    await expectRequestRefused(carol, { t: 'login', sdkAppId: SDK_APP_ID, userID: 'carol', userSig: sig('carol') }, ErrorCode.ALREADY_LOGGED_IN);
    await expectRequestRefused(carol, { t: 'login', sdkAppId: SDK_APP_ID, userID: 'frank', userSig: sig('frank') }, ErrorCode.ALREADY_LOGGED_IN);
    expect(server.stats().users).toBe(3);

    // Nothing ringing / unknown inviteID.
    const unknown = '11111111-1111-4111-8111-111111111111';
    await expectRequestRefused(dave, { t: 'accept', inviteID: unknown }, ErrorCode.CALL_NOT_FOUND);
    await expectRequestRefused(dave, { t: 'reject', inviteID: unknown }, ErrorCode.CALL_NOT_FOUND);
    await expectRequestRefused(dave, { t: 'hangup', inviteID: unknown }, ErrorCode.CALL_NOT_FOUND);
    await expectRequestRefused(dave, { t: 'media', inviteID: unknown, audio: true, video: true }, ErrorCode.CALL_NOT_FOUND);
    await expectRequestRefused(dave, { t: 'relay', inviteID: unknown, to: 'carol', payload: { kind: 'ready' } }, ErrorCode.CALL_NOT_FOUND);

    // Calling yourself, alone or among others.
    await expectRequestRefused(carol, { t: 'invite', invitees: ['carol'], callType: 2, timeout: 30 }, ErrorCode.INVALID_MESSAGE);
    await expectRequestRefused(carol, { t: 'invite', invitees: ['dave', 'carol'], callType: 2, timeout: 30 }, ErrorCode.INVALID_MESSAGE);
    expect(server.stats().calls).toBe(0);
    expect(dave.frames.some((f) => f.t === 'invited')).toBe(false);

    // carol calls dave: the identity is the logged-in one.
    const inv = await carol.request({ t: 'invite', invitees: ['dave'], callType: 2, timeout: 30 });
    expect(inv.ok).toBe(true);
    const inviteID = inv.data.inviteID as string;
    const invited = await dave.waitFrame((f) => f.t === 'invited', 'dave invited');
    expect(invited).toMatchObject({ inviteID, sponsor: 'carol', userIDList: ['dave'] });

    // While ringing: the sponsor cannot call again, cannot accept/reject her own call.
    await expectRequestRefused(carol, { t: 'invite', invitees: ['erin'], callType: 2, timeout: 30 }, ErrorCode.SELF_BUSY);
    await expectRequestRefused(carol, { t: 'accept', inviteID }, ErrorCode.INVALID_STATE);
    await expectRequestRefused(carol, { t: 'reject', inviteID }, ErrorCode.INVALID_STATE);
    // A ringing invitee cannot start another call either.
    await expectRequestRefused(dave, { t: 'invite', invitees: ['erin'], callType: 2, timeout: 30 }, ErrorCode.SELF_BUSY);

    // Accept, then accept again / reject after accept.
    const acc = await dave.request({ t: 'accept', inviteID });
    expect(acc).toMatchObject({ ok: true, data: { inviteID, participants: [{ userID: 'carol' }] } });
    await carol.waitFrame((f) => f.t === 'accepted' && f.userID === 'dave', 'carol sees dave accept');
    await expectRequestRefused(dave, { t: 'accept', inviteID }, ErrorCode.INVALID_STATE);
    await expectRequestRefused(dave, { t: 'reject', inviteID }, ErrorCode.INVALID_STATE);
    await expectRequestRefused(dave, { t: 'reject', inviteID, busy: true }, ErrorCode.INVALID_STATE);

    // In a call: both are busy for new calls.
    await expectRequestRefused(carol, { t: 'invite', invitees: ['erin'], callType: 1, timeout: 30 }, ErrorCode.SELF_BUSY);
    await expectRequestRefused(dave, { t: 'invite', invitees: ['erin'], callType: 1, timeout: 0 }, ErrorCode.SELF_BUSY);

    // Relays only between parties of the call: not to outsiders (online or not), not to yourself, not from outsiders.
    await expectRequestRefused(carol, { t: 'relay', inviteID, to: 'erin', payload: { kind: 'ready' } }, ErrorCode.NOT_A_PARTICIPANT);
    await expectRequestRefused(carol, { t: 'relay', inviteID, to: 'nobody', payload: { kind: 'ready' } }, ErrorCode.NOT_A_PARTICIPANT);
    await expectRequestRefused(carol, { t: 'relay', inviteID, to: 'carol', payload: { kind: 'ready' } }, ErrorCode.NOT_A_PARTICIPANT);
    await expectRefused(carol, { t: 'relay', inviteID, to: 'erin', payload: { kind: 'ready' } }, ErrorCode.NOT_A_PARTICIPANT);
    // An outsider cannot tell the call from one that does not exist (issue 11: privacy).
    await expectRequestRefused(erin, { t: 'relay', inviteID, to: 'carol', payload: { kind: 'ready' } }, ErrorCode.CALL_NOT_FOUND);
    expect(erin.frames.filter((f) => f.t === 'relay')).toEqual([]);
    // Control: a relay between the parties arrives, stamped with the real sender.
    const relayed = await carol.request({ t: 'relay', inviteID, to: 'dave', payload: { kind: 'ready' } });
    expect(relayed.ok).toBe(true);
    expect(await dave.waitFrame((f) => f.t === 'relay', 'relay to dave')).toEqual({ t: 'relay', inviteID, from: 'carol', payload: { kind: 'ready' }, seq: expect.any(Number) });

    // Hang up, then everything about that call is gone.
    const hung = await carol.request({ t: 'hangup', inviteID });
    expect(hung).toMatchObject({ ok: true, data: { ended: true } });
    await dave.waitFrame((f) => f.t === 'ended' && f.inviteID === inviteID, 'dave sees the end');
    await expectRequestRefused(carol, { t: 'hangup', inviteID }, ErrorCode.CALL_NOT_FOUND);
    await expectRequestRefused(dave, { t: 'hangup', inviteID }, ErrorCode.CALL_NOT_FOUND);
    await expectRequestRefused(dave, { t: 'accept', inviteID }, ErrorCode.CALL_NOT_FOUND);
    expect(server.stats().calls).toBe(0);
    // And both are free again.
    expect((await carol.request({ t: 'invite', invitees: ['erin'], callType: 1, timeout: 30 })).ok).toBe(true);
  });
});

// ---------------------------------------------------------------------------------------------
// Authorization against a live call with real media
// ---------------------------------------------------------------------------------------------

describe('an outsider cannot touch a call', () => {
  it('mallory is refused on every message about alice and bob’s call, and cannot pose as alice; the call goes on', async () => {
    server = await startTestServer();
    const { alice, bob, inviteID, roomID } = await startCall(server);
    const mallory = await Raw.open(server);
    await mallory.login('mallory');

    const sdp = 'v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n';
    const candidate = 'candidate:1 1 udp 2122260223 127.0.0.1 9 typ host';
    const asRequests: Record<string, unknown>[] = [
      { t: 'accept', inviteID },
      { t: 'accept', inviteID, media: { audio: true, video: true } },
      { t: 'reject', inviteID },
      { t: 'reject', inviteID, busy: true },
      { t: 'hangup', inviteID },
      { t: 'media', inviteID, audio: false, video: false },
      { t: 'relay', inviteID, to: 'alice', payload: { kind: 'ready' } },
      { t: 'relay', inviteID, to: 'alice', payload: { kind: 'sdp', type: 'offer', sdp } },
      { t: 'relay', inviteID, to: 'bob', payload: { kind: 'sdp', type: 'answer', sdp } },
      { t: 'relay', inviteID, to: 'bob', payload: { kind: 'ice', candidate, sdpMid: '0', sdpMLineIndex: 0 } },
      // A `to` outside the call changes nothing either.
      { t: 'relay', inviteID, to: 'nobody', payload: { kind: 'ready' } },
      { t: 'relay', inviteID, to: 'mallory', payload: { kind: 'ready' } },
    ];
    if (HAS_JOIN) {
      asRequests.push({ t: 'join', inviteID }, { t: 'join', inviteID, media: { audio: true, video: true } });
    }
    if (HAS_ADD_INVITEES) asRequests.push({ t: 'addInvitees', inviteID, invitees: ['mallory'] });
    // Refused as if the call did not exist: an outsider learns nothing of it (issue 11: privacy).
    for (const msg of asRequests) await expectRequestRefused(mallory, msg, ErrorCode.CALL_NOT_FOUND);
    // Joining by room number needs the call's group; this call has none.
    if (HAS_JOIN) await expectRequestRefused(mallory, { t: 'join', roomID, groupID: 'anygroup' }, ErrorCode.CALL_NOT_FOUND);
    // Fire-and-forget variants are refused with an error frame.
    for (const msg of [
      { t: 'media', inviteID, audio: false, video: false },
      { t: 'relay', inviteID, to: 'alice', payload: { kind: 'ice', candidate, sdpMid: '0', sdpMLineIndex: 0 } },
      { t: 'relay', inviteID, to: 'bob', payload: { kind: 'sdp', type: 'offer', sdp } },
    ]) {
      await expectRefused(mallory, msg, ErrorCode.CALL_NOT_FOUND);
    }

    // Claiming someone else's identity in a field is a schema violation, not a way in.
    const posing: unknown[] = [
      { t: 'relay', rid: 1, inviteID, to: 'bob', from: 'alice', payload: { kind: 'sdp', type: 'offer', sdp } },
      { t: 'relay', inviteID, to: 'bob', from: 'alice', payload: { kind: 'ready' } },
      { t: 'relay', rid: 2, inviteID, to: 'bob', payload: { kind: 'ready', from: 'alice' } },
      { t: 'hangup', rid: 3, inviteID, userID: 'alice' },
      { t: 'hangup', rid: 4, inviteID, from: 'bob' },
      { t: 'accept', rid: 5, inviteID, userID: 'bob' },
      { t: 'reject', rid: 6, inviteID, userID: 'bob' },
      { t: 'media', rid: 7, inviteID, audio: false, video: false, userID: 'alice' },
      { t: 'media', inviteID, audio: false, video: false, from: 'bob' },
      { t: 'invite', rid: 8, invitees: ['bob'], callType: 2, timeout: 30, sponsor: 'alice' },
      { t: 'logout', rid: 9, userID: 'alice' },
    ];
    for (const msg of posing) await expectRefused(mallory, msg, ErrorCode.INVALID_MESSAGE);

    // Logging in as alice needs alice's UserSig.
    const impostor = await Raw.open(server);
    await expectRequestRefused(impostor, { t: 'login', sdkAppId: SDK_APP_ID, userID: 'alice', userSig: sig('mallory') }, ErrorCode.USERID_INVALID);
    const forged = sig('alice').split('');
    const mid = Math.floor(forged.length / 2);
    forged[mid] = forged[mid] === 'A' ? 'B' : 'A';
    await expectRequestRefused(impostor, { t: 'login', sdkAppId: SDK_APP_ID, userID: 'alice', userSig: forged.join('') }, ErrorCode.USERSIG_INVALID);
    // The third failed login on one socket is answered, then the socket is closed (4005).
    expect(await impostor.request({ t: 'login', sdkAppId: SDK_APP_ID + 1, userID: 'alice', userSig: sig('alice') })).toMatchObject({ ok: false, code: ErrorCode.SDKAPPID_MISMATCH });
    expect((await impostor.waitClose()).code).toBe(4005);
    await expectRequestRefused(mallory, { t: 'login', sdkAppId: SDK_APP_ID, userID: 'alice', userSig: sig('mallory') }, ErrorCode.ALREADY_LOGGED_IN);
    // And an impostor's failed login leaves it logged out (and, before any login, closed).
    const impostor2 = await Raw.open(server);
    await expectRequestRefused(impostor2, { t: 'login', sdkAppId: SDK_APP_ID, userID: 'alice', userSig: sig('mallory') }, ErrorCode.USERID_INVALID);
    expect(await impostor2.request({ t: 'hangup', inviteID })).toMatchObject({ ok: false, code: ErrorCode.NOT_LOGGED_IN });
    expect((await impostor2.waitClose()).code).toBe(4003);

    // Nothing reached mallory, and nothing changed on the server.
    expect(mallory.frames.filter((f) => f.t !== 'res' && f.t !== 'error')).toEqual([]);
    await eventually(() => server!.stats().connections === 3, 'impostors gone');
    expect(server.stats()).toMatchObject({ users: 3, calls: 1 });
    await expectCallUntouchedThenHangup(alice, bob);
    await eventually(() => server!.stats().calls === 0, 'call gone on the server');
  });
});

// ---------------------------------------------------------------------------------------------
// Flood
// ---------------------------------------------------------------------------------------------

describe('flood', () => {
  // 1 200, not more: past 1 000 refusals in 10 s the socket is closed as a flooder (next test).
  it('1 200 frames at once: the excess is RATE_LIMITED, others are served promptly, the flooder recovers after a pause', async () => {
    server = await startTestServer();
    const other = await Raw.open(server);
    await other.login('other');
    const flooder = await Raw.open(server);
    await flooder.login('flooder');
    const N = 1200;
    const from = flooder.frames.length;
    for (let rid = 1; rid <= N; rid++) flooder.send({ t: 'ping', rid });

    // Meanwhile another connection is answered promptly, again and again.
    const latencies: number[] = [];
    for (let i = 0; i < 5; i++) latencies.push(await other.ping());
    // A cluster carries every message through Redis to the node running the call core: a looser bound.
    const bound = Number(process.env.OPENCALL_TEST_CLUSTER ?? 0) > 0 ? 1500 : 500;
    expect(Math.max(...latencies), `ping latencies during the flood: ${latencies.map((l) => l.toFixed(1)).join(', ')} ms`).toBeLessThan(bound);

    // Every flood frame gets exactly one answer: a pong, or RATE_LIMITED.
    const answers = await flooder.until(() => {
      const a = flooder.frames.slice(from).filter((f) => f.t === 'res' || f.t === 'error');
      return a.length >= N ? a : undefined;
    }, `${N} answers to the flood`, 10_000);
    await sleep(100);
    expect(flooder.frames.slice(from).filter((f) => f.t === 'res' || f.t === 'error')).toHaveLength(N);
    const pongs = answers.filter((f) => f.t === 'res' && f.ok === true);
    const limited = answers.filter((f) => f.code === ErrorCode.RATE_LIMITED);
    expect(pongs.length + limited.length).toBe(N);
    expect(pongs.length, 'the burst allowance is served').toBeGreaterThanOrEqual(390);
    expect(limited.length, 'the excess is refused').toBeGreaterThan(N / 2);
    // Every rid is answered exactly once, limited ones too: a `res` with RATE_LIMITED, so a client's request fails fast.
    expect(new Set(answers.map((p) => p.rid)).size).toBe(N);
    expect(limited.every((f) => f.t === 'res' && f.ok === false && typeof f.rid === 'number')).toBe(true);
    console.log(`flood: ${pongs.length} pongs + ${limited.length} RATE_LIMITED; other connection's ping latencies ${latencies.map((l) => l.toFixed(1)).join(', ')} ms`);
    expect(flooder.isOpen).toBe(true);

    // After a pause the flooder is served again, and the bystander was never affected.
    await sleep(2000);
    await flooder.ping();
    for (let i = 0; i < 50; i++) expect((await flooder.request({ t: 'ping' })).ok).toBe(true);
    await other.ping();
    expect(other.frames.some((f) => f.code === ErrorCode.RATE_LIMITED)).toBe(false);
  });

  it('a socket that keeps on after 1 000 refusals is closed (4007); refused frames are not parsed but still answered by rid', async () => {
    server = await startTestServer();
    const [other, flooder] = await Raw.loggedIn(server, 'other', 'flooder');
    for (let rid = 1; rid <= 3000; rid++) flooder.send({ t: 'ping', rid });
    expect(await flooder.waitClose(10_000)).toEqual({ code: 4007, reason: 'too many messages after being rate limited' });
    const limited = flooder.frames.filter((f) => f.code === ErrorCode.RATE_LIMITED);
    expect(limited.length).toBe(1000);
    expect(limited.every((f) => f.t === 'res' && typeof f.rid === 'number')).toBe(true);
    await other.ping();
  });
});

// ---------------------------------------------------------------------------------------------
// Seeded fuzz
// ---------------------------------------------------------------------------------------------

const FUZZ_SEED = Number(process.env.OPENCALL_FUZZ_SEED ?? 0x0c411);
const FUZZ_FRAMES = 3000;
const FUZZ_SOCKETS = 10; // 300 frames each stays inside the per-connection burst allowance (400)
const KNOWN: readonly string[] = CLIENT_MESSAGE_TYPES;
/** Message types still being added to the protocol; covered when present. */
const HAS_JOIN = KNOWN.includes('join');
const HAS_ADD_INVITEES = KNOWN.includes('addInvitees');
/**
 * The wire fuzz's generator (fuzz/mutator.ts) with a mix of its own: more mutated frames and fewer
 * valid ones, as every frame here is sent at once, not paced, and over half must be refused.
 */
const ABUSE_MIX: Mix = [
  [0.5, 'mutated'],
  [0.6, 'duplicate-keys'],
  [0.72, 'truncated'],
  [0.78, 'binary-garbage'],
  [0.84, 'text-garbage'],
  [0.92, 'nested'],
  [0.98, 'out-of-order'],
  [1, 'oversized'],
];

type Expected = { kind: 'res' | 'error'; rid?: number; code?: number; valid: boolean; shown: string };

/** What the server must answer to one frame, computed independently of the server's gateway code. */
function expectedAnswer(data: Buffer, binary: boolean): Expected {
  const shown = data.toString('utf8').slice(0, 160);
  const v = gatewayVerdict(data, binary);
  if (v.refused) return { kind: v.rid === undefined ? 'error' : 'res', code: v.code, rid: v.rid, valid: false, shown };
  const validRid = v.msg.rid as number | undefined;
  // A valid message with a rid gets exactly one res (ok or not). Without a rid (relay/media), the fuzzers
  // are never parties of a call they know the inviteID of, so it always fails: exactly one error frame.
  return { kind: validRid === undefined ? 'error' : 'res', rid: validRid, valid: true, shown };
}

function templates(userID: string, inviteID: string): Record<string, unknown>[] {
  const sdp = 'v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n';
  return [
    { t: 'ping' },
    { t: 'login', sdkAppId: SDK_APP_ID, userID, userSig: sig(userID) },
    { t: 'login', sdkAppId: SDK_APP_ID, userID: 'alice', userSig: sig(userID) },
    { t: 'logout' },
    { t: 'invite', invitees: ['alice'], callType: 2, timeout: 30 },
    // (no groupID: group calls are a separate feature with its own tests)
    { t: 'invite', invitees: ['bob', 'nobody'], callType: 1, timeout: 0, userData: 'x', offlinePushInfo: { title: 't' }, media: { audio: true, video: true } },
    { t: 'accept', inviteID, media: { audio: true, video: false } },
    { t: 'reject', inviteID, busy: true },
    { t: 'hangup', inviteID },
    { t: 'relay', inviteID, to: 'alice', payload: { kind: 'ready' } },
    { t: 'relay', inviteID, to: 'bob', payload: { kind: 'sdp', type: 'offer', sdp } },
    { t: 'relay', inviteID, to: 'alice', payload: { kind: 'ice', candidate: 'candidate:1 1 udp 1 127.0.0.1 9 typ host', sdpMid: '0', sdpMLineIndex: 0, usernameFragment: null } },
    { t: 'media', inviteID, audio: false, video: false },
    ...(HAS_JOIN ? [{ t: 'join', inviteID }, { t: 'join', inviteID, media: { audio: true, video: true } }] : []),
    ...(HAS_ADD_INVITEES ? [{ t: 'addInvitees', inviteID, invitees: [userID] }] : []),
  ];
}

describe('seeded fuzz', () => {
  it(`${FUZZ_FRAMES} mutated frames during a live call: each invalid one gets exactly one coded answer, the call is untouched`, async () => {
    server = await startTestServer();
    const { alice, bob, inviteID } = await startCall(server);
    const m = new Mutator(prng(FUZZ_SEED));
    // Half the fuzzers are logged in (as themselves), half logged in and out again (before a first login
    // any refused frame closes the socket: tested above); none is ever a party of alice and bob's call.
    const fuzzers = await Promise.all(Array.from({ length: FUZZ_SOCKETS }, (_, i) => (i % 2 === 0 ? Raw.open(server!) : Raw.loggedOut(server!, `fz${i}`))));
    for (const [i, f] of fuzzers.entries()) if (i % 2 === 0) await f.login(`fz${i}`);

    const plans = fuzzers.map((f, i) => {
      const tpl = templates(`fz${i}`, inviteID);
      const sent: { data: Buffer; binary: boolean }[] = [];
      for (let n = 0; n < FUZZ_FRAMES / FUZZ_SOCKETS; n++) {
        const base: Record<string, unknown> = { ...m.pick(tpl), rid: i * 10_000 + n };
        if ((base.t === 'relay' || base.t === 'media') && m.chance(0.5)) delete base.rid;
        sent.push(m.frame(base, ABUSE_MIX));
      }
      return { f, sent, expected: sent.map((s) => expectedAnswer(s.data, s.binary)), from: f.frames.length, syncRid: 2_000_000_000 + i };
    });

    // Send everything from all sockets at once, then a ping per socket to know when it has all been handled.
    for (const p of plans) {
      for (const s of p.sent) p.f.ws.send(s.data, { binary: s.binary });
      p.f.send({ t: 'ping', rid: p.syncRid });
    }

    let invalid = 0;
    let valid = 0;
    const codes = new Map<number, number>();
    const problems: string[] = [];
    for (const p of plans) {
      const sync = await p.f.waitFrame((f) => f.t === 'res' && f.rid === p.syncRid && f.ok === true, 'sync ping', p.from, 15_000);
      const answers = p.f.frames.slice(p.from, p.f.frames.indexOf(sync)).filter((f) => f.t === 'res' || f.t === 'error');
      if (answers.length !== p.expected.length) problems.push(`socket ${p.syncRid}: ${answers.length} answers to ${p.expected.length} frames`);
      for (const [k, exp] of p.expected.entries()) {
        const got = answers[k];
        if (exp.valid) valid++;
        else invalid++;
        if (got && typeof got.code === 'number') codes.set(got.code, (codes.get(got.code) ?? 0) + 1);
        const ok =
          got !== undefined &&
          got.t === exp.kind &&
          (exp.kind === 'error' || got.rid === exp.rid) &&
          (exp.code === undefined ? got.t === 'res' || (typeof got.code === 'number' && got.code !== ErrorCode.INTERNAL) : got.ok !== true && got.code === exp.code) &&
          got.code !== ErrorCode.INTERNAL;
        if (!ok && problems.length < 10) problems.push(`frame ${k} ${exp.shown}: expected ${JSON.stringify({ ...exp, shown: undefined })}, got ${JSON.stringify(got)?.slice(0, 200)}`);
      }
      expect(p.f.isOpen).toBe(true);
    }
    console.log(`fuzz seed ${FUZZ_SEED}: ${invalid} invalid + ${valid} valid frames; answer codes ${JSON.stringify(Object.fromEntries([...codes].sort((a, b) => a[0] - b[0])))}`);
    expect(problems).toEqual([]);
    expect(invalid).toBeGreaterThan(FUZZ_FRAMES / 2);
    expect(codes.get(ErrorCode.INTERNAL)).toBeUndefined();

    // The server is alive and serving new connections and HTTP.
    const health = await fetch(`${server.url}/healthz`);
    expect(health.status).toBe(200);
    const late = await Raw.open(server);
    await late.login('latecomer');
    await late.ping();

    // alice and bob heard nothing of it.
    for (const c of [alice, bob]) expect(c.names([EVENT.INVITED, EVENT.ERROR, EVENT.REJECT, EVENT.LINE_BUSY]), c.userID).toEqual(c.userID === 'bob' ? [EVENT.INVITED] : []);
    await expectCallUntouchedThenHangup(alice, bob);
  });
});
