import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { EVENT, ErrorCode, TUICallEvent } from '@opencall/client/node';
import { connectCall, eventually, inbound, SDK_APP_ID, SECRET, sig, sleep, startTestServer, testBed, TestClient } from './support/harness.js';

const require = createRequire(import.meta.url);
const TLSSigAPIv2 = require('tls-sig-api-v2') as { Api: new (sdkAppId: number, key: string) => { genUserSig(id: string, expire: number): string } };

/** The TRTCCalling (not TUICallKit) events, for order assertions. */
const CALLING = [
  EVENT.INVITED, EVENT.USER_ACCEPT, EVENT.USER_ENTER, EVENT.USER_LEAVE, EVENT.REJECT, EVENT.NO_RESP, EVENT.LINE_BUSY,
  EVENT.CALLING_CANCEL, EVENT.CALLING_TIMEOUT, EVENT.CALL_END, EVENT.KICKED_OUT,
];

describe('1:1 call flows (the spec event table)', () => {
  const bed = testBed();
  const client = bed.client;

  const connect = connectCall;

  it('accept then callee hangs up: events in order on both sides', async () => {
    bed.server = await startTestServer();
    const alice = await client('alice');
    const bob = await client('bob');
    expect(alice.names()).toEqual([EVENT.SDK_READY]);
    await connect(alice, bob, 1);
    await bob.sdk.hangup();
    await alice.waitFor(EVENT.CALL_END);
    await bob.waitFor(EVENT.CALL_END);
    expect(alice.names(CALLING)).toEqual([EVENT.USER_ACCEPT, EVENT.USER_ENTER, EVENT.USER_LEAVE, EVENT.CALL_END]);
    expect(bob.names(CALLING)).toEqual([EVENT.INVITED, EVENT.USER_ENTER, EVENT.CALL_END]);
    expect(alice.names([TUICallEvent.onCallBegin, TUICallEvent.onUserJoin])).toEqual([TUICallEvent.onCallBegin, TUICallEvent.onUserJoin]);
    expect((await alice.waitFor(TUICallEvent.onCallBegin)).callMediaType).toBe(0);
    expect(await bob.waitFor(EVENT.INVITED)).toMatchObject({ inviteData: { version: 4, callType: 1 } });
    // audio call: no video transceiver, audio flows
    expect(bed.server!.stats().calls).toBe(0);
  });

  it('reject: caller gets REJECT, nobody gets CALL_END, both can call again', async () => {
    bed.server = await startTestServer();
    const alice = await client('alice');
    const bob = await client('bob');
    await alice.sdk.call({ userID: 'bob', type: 2 });
    await bob.waitFor(EVENT.INVITED);
    await bob.sdk.reject();
    expect(await alice.waitFor(EVENT.REJECT)).toMatchObject({ userID: 'bob' });
    await alice.waitFor(TUICallEvent.onCallCancelled, (p) => p.reason === 'rejected');
    expect(alice.names(CALLING)).toEqual([EVENT.REJECT]);
    expect(bob.names(CALLING)).toEqual([EVENT.INVITED]);
    await eventually(() => bed.server!.stats().calls === 0, 'call gone on the server');
    bob.clear();
    await connect(alice, bob);
  });

  it('no answer: caller gets NO_RESP with the list, callee CALLING_TIMEOUT (v0 timeout in seconds)', async () => {
    bed.server = await startTestServer();
    const alice = await client('alice');
    const bob = await client('bob');
    await alice.sdk.call({ userID: 'bob', type: 2, timeout: 1 });
    await bob.waitFor(EVENT.INVITED);
    expect(await alice.waitFor(EVENT.NO_RESP, undefined, 5000)).toMatchObject({ userID: 'bob', userIDList: ['bob'] });
    await bob.waitFor(EVENT.CALLING_TIMEOUT);
    expect(alice.names(CALLING)).toEqual([EVENT.NO_RESP]);
    expect(bob.names(CALLING)).toEqual([EVENT.INVITED, EVENT.CALLING_TIMEOUT]);
    // accepting after the timeout is refused with a code, and emitted as ERROR
    await expect(bob.sdk.accept()).rejects.toMatchObject({ code: ErrorCode.INVALID_STATE });
    expect((await bob.waitFor(EVENT.ERROR)).code).toBe(ErrorCode.INVALID_STATE);
  });

  it('timeout 0 does not time out like a short timeout (it rings until OPENCALL_MAX_RING_S, tests/abuse/invitations.test.ts)', async () => {
    bed.server = await startTestServer();
    const alice = await client('alice');
    const bob = await client('bob');
    await alice.sdk.call({ userID: 'bob', type: 1, timeout: 0 });
    expect((await bob.waitFor(EVENT.INVITED)).inviteID).toBeTruthy();
    await sleep(1500);
    expect(alice.count(EVENT.NO_RESP) + bob.count(EVENT.CALLING_TIMEOUT)).toBe(0);
    await bob.sdk.accept();
    await alice.waitFor(EVENT.USER_ENTER);
  });

  it('cancel: caller hangs up while ringing, callee gets CALLING_CANCEL', async () => {
    bed.server = await startTestServer();
    const alice = await client('alice');
    const bob = await client('bob');
    await alice.sdk.call({ userID: 'bob', type: 2 });
    await bob.waitFor(EVENT.INVITED);
    await alice.sdk.hangup();
    expect(await bob.waitFor(EVENT.CALLING_CANCEL)).toMatchObject({ userID: 'alice' });
    await alice.waitFor(TUICallEvent.onCallCancelled, (p) => p.callerId === 'alice');
    expect(alice.names(CALLING)).toEqual([]);
    expect(bob.names(CALLING)).toEqual([EVENT.INVITED, EVENT.CALLING_CANCEL]);
    await expect(bob.sdk.accept()).rejects.toMatchObject({ code: ErrorCode.INVALID_STATE });
    expect(bed.server!.stats().calls).toBe(0);
  });

  it('busy: a callee ringing or in a call answers LINE_BUSY and keeps its call', async () => {
    bed.server = await startTestServer();
    const alice = await client('alice');
    const bob = await client('bob');
    const carol = await client('carol');
    // bob is ringing (alice → bob): carol's call is busy
    await alice.sdk.call({ userID: 'bob', type: 2 });
    await bob.waitFor(EVENT.INVITED);
    await carol.sdk.call({ userID: 'bob', type: 2 });
    expect(await carol.waitFor(EVENT.LINE_BUSY)).toMatchObject({ userID: 'bob' });
    expect(bob.count(EVENT.INVITED)).toBe(1);
    // bob is still ringing for alice and can accept
    await bob.sdk.accept();
    await alice.waitFor(EVENT.USER_ENTER);
    await bob.waitFor(EVENT.USER_ENTER);
    // in a call: busy again, and the call is untouched
    await carol.sdk.call({ userID: 'alice', type: 1 });
    await eventually(() => carol.count(EVENT.LINE_BUSY) === 2, 'second LINE_BUSY');
    expect(alice.count(EVENT.INVITED)).toBe(0);
    const a = await inbound(alice, 'bob');
    await sleep(800);
    expect((await inbound(alice, 'bob')).videoBytes).toBeGreaterThan(a.videoBytes);
    expect(alice.count(EVENT.CALL_END) + bob.count(EVENT.CALL_END)).toBe(0);
    // the caller cannot start a second call while in one
    await expect(alice.sdk.call({ userID: 'carol', type: 1 })).rejects.toMatchObject({ code: ErrorCode.INVALID_STATE });
  });

  it('v0 reject({isBusy}) gives the caller LINE_BUSY', async () => {
    bed.server = await startTestServer();
    const alice = await client('alice');
    const bob = await client('bob');
    await alice.sdk.call({ userID: 'bob', type: 1, timeout: 30 });
    const inv = await bob.waitFor(EVENT.INVITED);
    await bob.sdk.reject({ inviteID: inv.inviteID, isBusy: true, callType: inv.inviteData.callType });
    expect(await alice.waitFor(EVENT.LINE_BUSY)).toMatchObject({ userID: 'bob' });
    expect(alice.count(EVENT.REJECT)).toBe(0);
  });

  it('v0 accept({inviteID, roomID, callType}) works; a wrong inviteID is refused', async () => {
    bed.server = await startTestServer();
    const alice = await client('alice');
    const bob = await client('bob');
    await alice.sdk.call({ userID: 'bob', type: 2, timeout: 10 });
    const { inviteID, inviteData } = await bob.waitFor(EVENT.INVITED);
    await expect(bob.sdk.accept({ inviteID: 'not-this-one', roomID: inviteData.roomID, callType: 2 })).rejects.toMatchObject({ code: ErrorCode.INVALID_STATE });
    await bob.sdk.accept({ inviteID, roomID: inviteData.roomID, callType: inviteData.callType });
    await alice.waitFor(EVENT.USER_ENTER);
    await bob.waitFor(EVENT.USER_ENTER);
  });

  it('kicked out: a second login of the same user kicks the first, whose call ends for the peer', async () => {
    bed.server = await startTestServer();
    const alice = await client('alice');
    const bob = await client('bob');
    await connect(alice, bob);
    const bob2 = await client('bob');
    await bob.waitFor(EVENT.KICKED_OUT);
    await bob.waitFor(TUICallEvent.onKickedOffline);
    await bob.waitFor(EVENT.CALL_END);
    await alice.waitFor(EVENT.USER_LEAVE, (p) => p.userID === 'bob');
    await alice.waitFor(EVENT.CALL_END);
    expect(bob.sdk.userID).toBeNull();
    // the new session works: alice can call it
    alice.clear();
    await connect(alice, bob2);
    expect(bob2.count(EVENT.KICKED_OUT)).toBe(0);
  });

  it('a callee offline at invite time who logs in before the timeout still rings', async () => {
    bed.server = await startTestServer();
    const alice = await client('alice');
    const result = await alice.sdk.call({ userID: 'dave', type: 2, timeout: 10 });
    await sleep(500);
    const dave = await client('dave');
    const inv = await dave.waitFor(EVENT.INVITED);
    expect(inv).toMatchObject({ inviteID: result.inviteID, sponsor: 'alice' });
    await dave.sdk.accept();
    await alice.waitFor(EVENT.USER_ENTER);
    await dave.waitFor(EVENT.USER_ENTER);
    await eventually(async () => (await inbound(dave, 'alice')).framesDecoded > 3, 'video from alice');
  });

  it('a callee who never comes online: NO_RESP', async () => {
    bed.server = await startTestServer();
    const alice = await client('alice');
    await alice.sdk.call({ userID: 'nobody', type: 1, timeout: 1 });
    expect(await alice.waitFor(EVENT.NO_RESP, undefined, 5000)).toMatchObject({ userID: 'nobody' });
  });

  it('logout mid-call ends the call for the peer and releases media', async () => {
    bed.server = await startTestServer();
    const alice = await client('alice');
    const bob = await client('bob');
    await connect(alice, bob);
    await bob.sdk.logout();
    await alice.waitFor(EVENT.USER_LEAVE, (p) => p.userID === 'bob');
    await alice.waitFor(EVENT.CALL_END);
    await bob.waitFor(EVENT.CALL_END);
    expect(bob.sdk.getLocalStream()).toBeNull();
    expect(alice.sdk.getLocalStream()).toBeNull();
    await expect(bob.sdk.call({ userID: 'alice', type: 1 })).rejects.toMatchObject({ code: ErrorCode.NOT_LOGGED_IN });
  });

  it('a connection lost for good (no reconnect) ends the call for the peer after the grace period', async () => {
    bed.server = await startTestServer({ reconnectGraceMs: 300 });
    const alice = await client('alice');
    const bob = await client('bob', { reconnect: false });
    await connect(alice, bob);
    // Simulate a crash of bob's page: close the raw socket under the SDK.
    (bob.sdk as any).signal.ws.close();
    await bob.waitFor(EVENT.ERROR, (e) => e.code === ErrorCode.CONNECTION_FAILED);
    await alice.waitFor(EVENT.USER_LEAVE, (p) => p.userID === 'bob');
    await alice.waitFor(EVENT.CALL_END);
    expect(alice.count(EVENT.KICKED_OUT)).toBe(0);
  });

  it('connects without preparing media while ringing (the default: no early media)', async () => {
    bed.server = await startTestServer();
    const alice = await client('alice');
    const bob = await client('bob');
    await alice.sdk.call({ userID: 'bob', type: 2 });
    await bob.waitFor(EVENT.INVITED);
    await sleep(300);
    expect(bob.sdk.getLocalStream()).toBeNull(); // nothing captured before accept
    await bob.sdk.accept();
    await alice.waitFor(EVENT.USER_ENTER);
    await bob.waitFor(EVENT.USER_ENTER);
    await eventually(async () => (await inbound(alice, 'bob')).framesDecoded > 3 && (await inbound(bob, 'alice')).framesDecoded > 3, 'video both ways');
  });

  it('misuse rejects with a code and emits ERROR', async () => {
    bed.server = await startTestServer();
    const lone = new TestClient('lone', bed.server!);
    bed.clients.push(lone);
    await expect(lone.sdk.call({ userID: 'x', type: 2 })).rejects.toMatchObject({ code: ErrorCode.NOT_LOGGED_IN });
    expect((await lone.waitFor(EVENT.ERROR)).code).toBe(ErrorCode.NOT_LOGGED_IN);
    await lone.login();
    await expect(lone.sdk.accept()).rejects.toMatchObject({ code: ErrorCode.INVALID_STATE });
    await expect(lone.sdk.reject()).rejects.toMatchObject({ code: ErrorCode.INVALID_STATE });
    await expect(lone.sdk.call({ userID: 'lone', type: 2 })).rejects.toMatchObject({ code: ErrorCode.INVALID_ARGUMENT });
    await expect(lone.sdk.call({ userID: 'bad id', type: 2 })).rejects.toMatchObject({ code: ErrorCode.INVALID_ARGUMENT });
    await expect(lone.sdk.call({ userID: 'x', type: 3 as any })).rejects.toMatchObject({ code: ErrorCode.INVALID_ARGUMENT });
    await expect(lone.sdk.login({ userID: 'lone', userSig: sig('lone') })).rejects.toMatchObject({ code: ErrorCode.INVALID_STATE });
    await lone.sdk.hangup(); // nothing to hang up: a no-op
    expect(lone.count(EVENT.ERROR)).toBe(7);
  });
});

describe('UserSig login', () => {
  const bed = testBed();
  const made = bed.clients;

  it('accepts a UserSig made by the tls-sig-api-v2 package', async () => {
    bed.server = await startTestServer();
    const c = new TestClient('tencent_user-1', bed.server!);
    made.push(c);
    const userSig = new TLSSigAPIv2.Api(SDK_APP_ID, SECRET).genUserSig('tencent_user-1', 600);
    await expect(c.login(userSig)).resolves.toEqual({ userID: 'tencent_user-1' });
    await c.waitFor(EVENT.SDK_READY);
  });

  it('refuses forged, expired, other-app and other-user sigs with clear codes', async () => {
    bed.server = await startTestServer();
    const cases: [string, string, number][] = [
      ['forged', new TLSSigAPIv2.Api(SDK_APP_ID, 'not-the-secret').genUserSig('eve', 600), ErrorCode.USERSIG_INVALID],
      ['garbage', 'eJyrVkrOz0vOTMlMTVWyUqpWSs7PS0nNS1dKBQBhNAhq', ErrorCode.USERSIG_INVALID],
      ['other app', new TLSSigAPIv2.Api(SDK_APP_ID + 1, SECRET).genUserSig('eve', 600), ErrorCode.SDKAPPID_MISMATCH],
      ['other user', sig('mallory'), ErrorCode.USERID_INVALID],
    ];
    for (const [what, userSig, code] of cases) {
      const c = new TestClient('eve', bed.server!);
      made.push(c);
      await expect(c.login(userSig), what).rejects.toMatchObject({ code });
      expect(c.sdk.userID).toBeNull();
      const err = await c.waitFor(EVENT.ERROR);
      expect(err.message.length).toBeGreaterThan(5);
    }
    // expired: signed with a 1 s lifetime, used 2 s later
    const old = sig('eve', 1);
    await sleep(2100);
    const c = new TestClient('eve', bed.server!);
    made.push(c);
    await expect(c.login(old)).rejects.toMatchObject({ code: ErrorCode.USERSIG_EXPIRED });
    expect(bed.server!.stats().users).toBe(0);
  });

  it('a UserSig that expires while online ends the session with onUserSigExpired', async () => {
    bed.server = await startTestServer();
    const c = new TestClient('shortlived', bed.server!);
    made.push(c);
    await c.login(sig('shortlived', 2));
    await c.waitFor(TUICallEvent.onUserSigExpired, undefined, 5000);
    expect(c.sdk.userID).toBeNull();
    await eventually(() => bed.server!.stats().users === 0, 'session gone on the server');
  });
});
