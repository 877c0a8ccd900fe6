/**
 * Abuse of invitations and of a running call (issue 11, items 3 and 6), against the built server
 * process (tests/support/server-binary.ts) over real sockets: ringing someone in a loop, ringing
 * many people, invitations that never stop ringing, floods of relays and type switches inside a
 * call, and strangers probing calls and groups through error messages.
 *
 * The server runs with a small ringing ceiling (OPENCALL_MAX_RING_S=2) and small per-call caps so
 * the tests reach them quickly; the invitation rates are the defaults (3 rings per caller→callee
 * pair a minute, 20 invitations per caller a minute in bursts of 10). Each test uses its own users.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode, EVENT } from '@opencall/client/node';
import { MemoryGroupStore, type RunningServer } from '@opencall/server';
import { TokenBuckets } from '../../packages/server/src/calls/token-buckets.js';
import { RawClient, type Frame } from '../model/raw-client.js';
import { expectMediaFlowing, sig, SDK_APP_ID, startTestServer, TestClient } from '../support/harness.js';
import { ensureServerBuilt, ServerProcess } from '../support/server-binary.js';

const RING_RATE = 5; // the default OPENCALL_RING_RATE
const INVITE_BURST = 10; // the default OPENCALL_INVITE_BURST
const INVITE_RATE = 20; // the default OPENCALL_INVITE_RATE
const MAX_RING_S = 2;
const MAX_ICE = 30;
const MAX_RELAYS = 20;
const MAX_SWITCHES = 3;

/** A raw protocol client logged in as a real user (an attacker's own account, or a plain party). */
class Peer {
  private rid = 1;
  private constructor(
    readonly userID: string,
    readonly raw: RawClient,
  ) {}

  static async login(url: string, userID: string): Promise<Peer> {
    const p = new Peer(userID, await RawClient.open(url, userID));
    const res = await p.request({ t: 'login', sdkAppId: SDK_APP_ID, userID, userSig: sig(userID) });
    if (res.ok !== true) throw new Error(`login ${userID}: ${JSON.stringify(res)}`);
    return p;
  }

  async request(msg: Record<string, unknown>): Promise<Frame> {
    const rid = this.rid++;
    const from = this.raw.frames.length;
    this.raw.send({ ...msg, rid });
    return this.raw.waitRes(rid, from, 10_000);
  }

  /** Sends without rid: a refusal comes back as an `error` frame. */
  send(msg: Record<string, unknown>): void {
    this.raw.send(msg);
  }

  frames(pred: (f: Frame) => boolean): Frame[] {
    return this.raw.frames.filter(pred);
  }

  waitFrame(pred: (f: Frame) => boolean, what: string, timeoutMs = 10_000): Promise<Frame> {
    return this.raw.until(() => this.raw.frames.find(pred), what, timeoutMs);
  }
}

describe('invitation abuse against the server process', () => {
  let server: ServerProcess;
  let dataDir: string;
  const peers: Peer[] = [];
  const clients: TestClient[] = [];
  const peer = async (userID: string) => {
    const p = await Peer.login(server.url, userID);
    peers.push(p);
    return p;
  };
  const client = async (userID: string) => {
    const c = new TestClient(userID, { url: server.url } as RunningServer);
    clients.push(c);
    await c.login();
    return c;
  };

  beforeAll(async () => {
    ensureServerBuilt();
    dataDir = mkdtempSync(join(tmpdir(), 'opencall-abuse-'));
    server = await ServerProcess.start({
      OPENCALL_DATA_DIR: dataDir,
      OPENCALL_MAX_RING_S: String(MAX_RING_S),
      OPENCALL_CALL_MAX_ICE: String(MAX_ICE),
      OPENCALL_CALL_MAX_RELAYS: String(MAX_RELAYS),
      OPENCALL_CALL_MAX_SWITCHES: String(MAX_SWITCHES),
    });
  }, 60_000);

  afterEach(async () => {
    for (const p of peers.splice(0)) p.raw.terminate();
    await Promise.all(clients.splice(0).map((c) => c.sdk.logout().catch(() => {})));
  });

  afterAll(async () => {
    await server?.stop('SIGTERM');
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('200 × invite + hangup at one person: they ring at most OPENCALL_RING_RATE times and keep that many records; another caller still gets through', async () => {
    const victim = await client('victim1');
    const mallory = await peer('mallory1');
    const started = Date.now();
    let rang = 0;
    const refusals: Frame[] = [];
    for (let i = 0; i < 200; i++) {
      const res = await mallory.request({ t: 'invite', invitees: ['victim1'], callType: 2, timeout: 30 });
      if (res.ok !== true) {
        refusals.push(res);
        continue;
      }
      rang++;
      expect((await mallory.request({ t: 'hangup', inviteID: res.data.inviteID })).ok).toBe(true);
    }
    // The pair's bucket holds 3 and refills one every 20 s: the loop takes far less, but say it.
    const allowed = RING_RATE + Math.floor((Date.now() - started) / (60_000 / RING_RATE));
    expect(rang).toBeGreaterThanOrEqual(RING_RATE);
    expect(rang).toBeLessThanOrEqual(allowed);
    expect(refusals).toHaveLength(200 - rang);
    for (const r of refusals) {
      expect(r).toMatchObject({ ok: false, code: ErrorCode.RATE_LIMITED });
      expect(r.message).toMatch(/you rang victim1 too often \(at most 5 times a minute\); nobody was rung, try again in \d+ s/);
    }

    // An honest caller still rings the victim; everything mallory's calls sent the victim arrived before it.
    const alice = await client('alice1');
    const { inviteID } = await alice.sdk.call({ userID: 'victim1', type: 1, timeout: 30 });
    await victim.waitFor(EVENT.INVITED, (p) => p.sponsor === 'alice1');
    const invited = victim.events.filter((e) => e.event === EVENT.INVITED);
    expect(invited.filter((e) => e.payload.sponsor === 'mallory1')).toHaveLength(rang);
    expect(invited).toHaveLength(rang + 1);
    const history = await victim.sdk.getCallHistory({ limit: 100 });
    expect(history.records.filter((r) => r.sponsor === 'mallory1')).toHaveLength(rang);
    expect(history.records.map((r) => r.inviteID)).toContain(inviteID);
    await alice.sdk.hangup();
  }, 60_000);

  it('a group invitation with one invitee over the pair limit is refused whole: nobody rings, nothing is recorded', async () => {
    const mallory = await peer('mallory2');
    const carol = await peer('carol2');
    const victim = await peer('victim2');
    for (let i = 0; i < RING_RATE; i++) {
      const res = await mallory.request({ t: 'invite', invitees: ['victim2'], callType: 1, timeout: 30 });
      expect(res.ok).toBe(true);
      await mallory.request({ t: 'hangup', inviteID: res.data.inviteID });
    }
    const group = await mallory.request({ t: 'invite', invitees: ['carol2', 'victim2'], callType: 1, timeout: 30 });
    expect(group).toMatchObject({ ok: false, code: ErrorCode.RATE_LIMITED });
    expect(group.message).toMatch(/you rang victim2 too often/);
    expect(group.message).not.toMatch(/carol2/);
    await carol.raw.ping();
    await victim.raw.ping();
    expect(carol.frames((f) => f.t === 'invited')).toEqual([]);
    expect(victim.frames((f) => f.t === 'invited')).toHaveLength(RING_RATE);
    expect((await carol.request({ t: 'history' })).data.records).toEqual([]);
    // The refused invitation took nothing from carol's pair: mallory can ring her alone now.
    const alone = await mallory.request({ t: 'invite', invitees: ['carol2'], callType: 1, timeout: 30 });
    expect(alone.ok).toBe(true);
    await carol.waitFrame((f) => f.t === 'invited' && f.inviteID === alone.data.inviteID, 'carol rings');
    // addInvitees counts too: victim2 is still over the limit when added to the running call.
    const added = await mallory.request({ t: 'addInvitees', inviteID: alone.data.inviteID, invitees: ['victim2'] });
    expect(added).toMatchObject({ ok: false, code: ErrorCode.RATE_LIMITED });
    await mallory.request({ t: 'hangup', inviteID: alone.data.inviteID });
  }, 30_000);

  it('the SDK: a call over the ring rate rejects with RATE_LIMITED and leaves the SDK free for the next call', async () => {
    const caller = await client('caller7');
    for (let i = 0; i < RING_RATE; i++) {
      await caller.sdk.call({ userID: 'callee7', type: 1, timeout: 30 });
      await caller.sdk.hangup();
    }
    await expect(caller.sdk.call({ userID: 'callee7', type: 1, timeout: 30 })).rejects.toMatchObject({ code: ErrorCode.RATE_LIMITED });
    const other = await client('other7');
    await caller.sdk.call({ userID: 'other7', type: 1, timeout: 30 });
    await other.waitFor(EVENT.INVITED, (p) => p.sponsor === 'caller7');
    await caller.sdk.hangup();
  }, 30_000);

  it('one caller ringing many different people is paced by OPENCALL_INVITE_RATE', async () => {
    const mallory = await peer('mallory3');
    const started = Date.now();
    let ok = 0;
    const refusals: Frame[] = [];
    const refusedTargets: string[] = [];
    for (let i = 0; i < 60; i++) {
      const res = await mallory.request({ t: 'invite', invitees: [`target3-${i}`], callType: 1, timeout: 30 });
      if (res.ok !== true) {
        refusals.push(res);
        refusedTargets.push(`target3-${i}`);
        continue;
      }
      ok++;
      await mallory.request({ t: 'hangup', inviteID: res.data.inviteID });
    }
    expect(ok).toBeGreaterThanOrEqual(INVITE_BURST);
    expect(ok).toBeLessThanOrEqual(INVITE_BURST + Math.floor((Date.now() - started) / (60_000 / INVITE_RATE)));
    for (const r of refusals) {
      expect(r).toMatchObject({ ok: false, code: ErrorCode.RATE_LIMITED });
      expect(r.message).toMatch(/too many invitations: at most 20 a minute \(bursts of 10\); try again in \d+ s/);
    }
    // Someone rung has the call in their history; someone refused has nothing.
    expect((await (await peer('target3-0')).request({ t: 'history' })).data.records).toHaveLength(1);
    expect(refusedTargets.length).toBeGreaterThan(0);
    expect((await (await peer(refusedTargets[0]!)).request({ t: 'history' })).data.records).toEqual([]);
  }, 30_000);

  it('timeout 0 and timeouts past OPENCALL_MAX_RING_S ring until the ceiling, then time out as usual; so does a batch added later', async () => {
    const alice = await peer('alice4');
    const bob = await peer('bob4');
    const carol = await peer('carol4');
    for (const timeout of [0, 3600]) {
      const res = await alice.request({ t: 'invite', invitees: ['bob4'], callType: 1, timeout });
      expect(res.ok).toBe(true);
      const id = res.data.inviteID;
      expect(await bob.waitFrame((f) => f.t === 'invited' && f.inviteID === id, 'bob rings')).toMatchObject({ timeout: MAX_RING_S });
      await bob.waitFrame((f) => f.t === 'timedOut' && f.inviteID === id, `bob's invitation (timeout ${timeout}) times out`);
      await alice.waitFrame((f) => f.t === 'noResp' && f.inviteID === id, 'alice hears NO_RESP');
      await alice.waitFrame((f) => f.t === 'ended' && f.inviteID === id && f.reason === 'no_answer', 'the call ends');
    }
    // A connected call: carol added with no end in sight rings until the ceiling; the call goes on.
    const res = await alice.request({ t: 'invite', invitees: ['bob4'], callType: 1, timeout: 0 });
    const id = res.data.inviteID;
    await bob.waitFrame((f) => f.t === 'invited' && f.inviteID === id, 'bob rings');
    expect((await bob.request({ t: 'accept', inviteID: id })).ok).toBe(true);
    expect((await alice.request({ t: 'addInvitees', inviteID: id, invitees: ['carol4'] })).ok).toBe(true);
    expect(await carol.waitFrame((f) => f.t === 'invited' && f.inviteID === id, 'carol rings')).toMatchObject({ timeout: MAX_RING_S });
    await carol.waitFrame((f) => f.t === 'timedOut' && f.inviteID === id, 'carol times out');
    await alice.waitFrame((f) => f.t === 'noResp' && f.inviteID === id && f.userIDList[0] === 'carol4', 'alice hears NO_RESP for carol');
    expect((await alice.request({ t: 'relay', inviteID: id, to: 'bob4', payload: { kind: 'ready' } })).ok).toBe(true);
    expect(alice.frames((f) => f.t === 'ended' && f.inviteID === id)).toEqual([]);
    await alice.request({ t: 'hangup', inviteID: id });
  }, 30_000);

  it('per-call caps: relays, ICE candidates and type switches past the cap are refused one by one, the call goes on', async () => {
    const dave = await peer('dave5');
    const erin = await peer('erin5');
    const res = await dave.request({ t: 'invite', invitees: ['erin5'], callType: 2, timeout: 30 });
    const inviteID = res.data.inviteID;
    await erin.waitFrame((f) => f.t === 'invited', 'erin rings');
    expect((await erin.request({ t: 'accept', inviteID })).ok).toBe(true);
    const sdp = 'v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n';
    const candidate = 'candidate:1 1 udp 2122260223 127.0.0.1 9 typ host';

    // Offers, answers and ready signals: MAX_RELAYS go through, the next is refused with an error frame.
    for (let i = 0; i < MAX_RELAYS; i++) dave.send({ t: 'relay', inviteID, to: 'erin5', payload: i % 2 ? { kind: 'ready' } : { kind: 'sdp', type: 'offer', sdp } });
    dave.send({ t: 'relay', inviteID, to: 'erin5', payload: { kind: 'sdp', type: 'offer', sdp } });
    const refused = await dave.waitFrame((f) => f.t === 'error', 'the relay over the cap is refused');
    expect(refused).toMatchObject({ code: ErrorCode.RATE_LIMITED });
    expect(refused.message).toMatch(/at most 20 offers, answers and other signals per member per call/);
    // ICE candidates have their own cap.
    for (let i = 0; i < MAX_ICE; i++) {
      expect((await dave.request({ t: 'relay', inviteID, to: 'erin5', payload: { kind: 'ice', candidate, sdpMid: '0', sdpMLineIndex: 0 } })).ok).toBe(true);
    }
    const ice = await dave.request({ t: 'relay', inviteID, to: 'erin5', payload: { kind: 'ice', candidate, sdpMid: '0', sdpMLineIndex: 0 } });
    expect(ice).toMatchObject({ ok: false, code: ErrorCode.RATE_LIMITED });
    expect(ice.message).toMatch(/at most 30 ICE candidates per member per call/);
    await erin.raw.ping();
    expect(erin.frames((f) => f.t === 'relay' && f.payload.kind !== 'ice')).toHaveLength(MAX_RELAYS);
    expect(erin.frames((f) => f.t === 'relay' && f.payload.kind === 'ice')).toHaveLength(MAX_ICE);
    // The other party's caps are their own: erin still relays to dave.
    expect((await erin.request({ t: 'relay', inviteID, to: 'dave5', payload: { kind: 'sdp', type: 'answer', sdp } })).ok).toBe(true);

    // Audio/video switches: MAX_SWITCHES, then refused; each one switch record, no more.
    for (let i = 0; i < MAX_SWITCHES; i++) expect((await dave.request({ t: 'callType', inviteID, callType: i % 2 ? 2 : 1 })).ok).toBe(true);
    const sw = await dave.request({ t: 'callType', inviteID, callType: MAX_SWITCHES % 2 ? 2 : 1 });
    expect(sw).toMatchObject({ ok: false, code: ErrorCode.RATE_LIMITED });
    expect(sw.message).toMatch(/switched between audio and video 3 times, the most this server allows/);
    expect(erin.frames((f) => f.t === 'callType')).toHaveLength(MAX_SWITCHES);
    // The call goes on: media state still reaches erin, nobody got `ended`.
    dave.send({ t: 'media', inviteID, audio: true, video: false });
    await erin.waitFrame((f) => f.t === 'media' && f.userID === 'dave5', 'media state still relayed');
    expect([...dave.frames((f) => f.t === 'ended'), ...erin.frames((f) => f.t === 'ended')]).toEqual([]);
    const hung = await erin.request({ t: 'hangup', inviteID });
    expect(hung).toMatchObject({ ok: true, data: { ended: true } });
    const record = (await dave.request({ t: 'history' })).data.records.find((r: any) => r.inviteID === inviteID);
    expect(record.typeSwitches).toHaveLength(MAX_SWITCHES);
  }, 30_000);

  it('re-inviting someone who declines, over and over: the ring rate stops it, and the call keeps one record row per person', async () => {
    const alice = await peer('alice8');
    const bob = await peer('bob8');
    const carol = await peer('carol8');
    const res = await alice.request({ t: 'invite', invitees: ['bob8'], callType: 1, timeout: 30 });
    const inviteID = res.data.inviteID;
    await bob.waitFrame((f) => f.t === 'invited', 'bob rings');
    await bob.request({ t: 'accept', inviteID });
    let rung = 0;
    const started = Date.now();
    for (let i = 0; i < 50; i++) {
      const add = await alice.request({ t: 'addInvitees', inviteID, invitees: ['carol8'] });
      if (add.ok !== true) {
        expect(add).toMatchObject({ code: ErrorCode.RATE_LIMITED });
        continue;
      }
      rung++;
      await carol.waitFrame((f) => f.t === 'invited' && carol.frames((g) => g.t === 'invited').length === rung, `carol rings (${rung})`);
      expect((await carol.request({ t: 'reject', inviteID })).ok).toBe(true);
    }
    expect(rung).toBeGreaterThanOrEqual(RING_RATE);
    expect(rung).toBeLessThanOrEqual(RING_RATE + Math.floor((Date.now() - started) / (60_000 / RING_RATE)));
    await alice.request({ t: 'hangup', inviteID });
    const record = (await carol.request({ t: 'history' })).data.records;
    expect(record).toHaveLength(1);
    expect(record[0].participants.filter((p: any) => p.userID === 'carol8')).toHaveLength(1);
    expect(record[0].invitees).toEqual(['bob8', 'carol8']);
  }, 30_000);

  it('a real call whose member sends ICE candidates past the cap: that one is refused (SDK ERROR event), media keeps flowing', async () => {
    const alice = await client('alice6');
    const bob = await client('bob6');
    await alice.sdk.call({ userID: 'bob6', type: 2, timeout: 30 });
    await bob.waitFor(EVENT.INVITED);
    await bob.sdk.accept();
    await alice.waitFor(EVENT.USER_ENTER);
    await bob.waitFor(EVENT.USER_ENTER);
    await expectMediaFlowing(alice, 'bob6');
    const inviteID = bob.events.find((e) => e.event === EVENT.INVITED)!.payload.inviteID as string;
    // Candidates alice's own SDK did not gather (a host candidate on the discard port): harmless to bob.
    const signal = (alice.sdk as any).signal as { send(m: unknown): void };
    for (let i = 0; i < MAX_ICE + 1; i++) {
      signal.send({ t: 'relay', inviteID, to: 'bob6', payload: { kind: 'ice', candidate: `candidate:${900 + i} 1 udp 2122260223 127.0.0.1 9 typ host`, sdpMid: '0', sdpMLineIndex: 0 } });
    }
    const err = await alice.waitFor(EVENT.ERROR, (p) => p.code === ErrorCode.RATE_LIMITED);
    expect(err.message).toMatch(/ICE candidates per member per call/);
    await expectMediaFlowing(alice, 'bob6');
    await expectMediaFlowing(bob, 'alice6');
    expect(alice.count(EVENT.CALL_END) + bob.count(EVENT.CALL_END)).toBe(0);
    await alice.sdk.hangup();
  }, 60_000);
});

describe('strangers learn nothing from error messages', () => {
  let server: RunningServer;
  const peers: Peer[] = [];
  const groups = new MemoryGroupStore();
  const peer = async (userID: string) => {
    const p = await Peer.login(server.url, userID);
    peers.push(p);
    return p;
  };

  beforeAll(async () => {
    groups.put('team', ['alice', 'bob', 'carol']);
    // Enforced groups: a group the caller is not in is refused like one that does not exist
    // (with the default, labels, both are only labels: tests/group-labels.test.ts).
    server = await startTestServer({ groups, groupMode: 'enforced' });
  });

  afterAll(async () => {
    for (const p of peers) p.raw.terminate();
    await server?.close();
  });

  /** The answer with the call or group named in it replaced, to compare two answers. */
  const shape = (f: Frame, ...names: (string | number)[]) => {
    let message = String(f.message);
    for (const n of names) message = message.split(String(n)).join('<id>');
    return { ok: f.ok, code: f.code, message };
  };

  it('a running call, a group and whether someone is online cannot be told from their absence', async () => {
    const alice = await peer('alice');
    const bob = await peer('bob');
    const eve = await peer('eve');
    const res = await alice.request({ t: 'invite', invitees: ['bob'], callType: 1, timeout: 30, groupID: 'team' });
    expect(res.ok).toBe(true);
    const { inviteID, roomID } = res.data;
    await bob.waitFrame((f) => f.t === 'invited', 'bob rings');
    expect((await bob.request({ t: 'accept', inviteID })).ok).toBe(true);
    const bogus = '00000000-0000-4000-8000-000000000000';

    const about = (id: string): Record<string, unknown>[] => [
      { t: 'accept', inviteID: id },
      { t: 'reject', inviteID: id },
      { t: 'hangup', inviteID: id },
      { t: 'relay', inviteID: id, to: 'alice', payload: { kind: 'ready' } },
      { t: 'media', inviteID: id, audio: true, video: true },
      { t: 'addInvitees', inviteID: id, invitees: ['eve'] },
      { t: 'join', inviteID: id },
      { t: 'callType', inviteID: id, callType: 2 },
    ];
    const real = about(inviteID);
    const none = about(bogus);
    for (let i = 0; i < real.length; i++) {
      const a = await eve.request(real[i]!);
      const b = await eve.request(none[i]!);
      expect(shape(a, inviteID), JSON.stringify(real[i])).toEqual(shape(b, bogus));
      expect(a.code).toBe(ErrorCode.CALL_NOT_FOUND);
    }
    // Joining by room number of the group's call, or of no call.
    const byRoom = await eve.request({ t: 'join', roomID, groupID: 'team' });
    const noRoom = await eve.request({ t: 'join', roomID: roomID === 1 ? 2 : roomID - 1, groupID: 'team' });
    expect(shape(byRoom, roomID)).toEqual(shape(noRoom, roomID === 1 ? 2 : roomID - 1));
    // A group eve is not in reads like a group that does not exist, and names none of its members.
    const team = await eve.request({ t: 'invite', invitees: ['bob'], callType: 1, timeout: 30, groupID: 'team' });
    const nope = await eve.request({ t: 'invite', invitees: ['bob'], callType: 1, timeout: 30, groupID: 'nope' });
    expect(shape(team, 'team')).toEqual(shape(nope, 'nope'));
    expect(team.code).toBe(ErrorCode.GROUP_NOT_FOUND);
    expect(team.message).not.toMatch(/alice|carol/);
    // A member of the group is still told which invitees are not in it.
    const carol = await peer('carol');
    const outsider = await carol.request({ t: 'invite', invitees: ['eve'], callType: 1, timeout: 30, groupID: 'team' });
    expect(outsider).toMatchObject({ ok: false, code: ErrorCode.NOT_A_GROUP_MEMBER });
    expect(outsider.message).toMatch(/eve/);

    // Presence: eve rings someone online and someone who is not, and relays to both while they ring: the same answer.
    const ring = await eve.request({ t: 'invite', invitees: ['carol', 'ghost'], callType: 1, timeout: 30 });
    expect(ring.ok).toBe(true);
    await carol.waitFrame((f) => f.t === 'invited', 'carol rings');
    const toOnline = await eve.request({ t: 'relay', inviteID: ring.data.inviteID, to: 'carol', payload: { kind: 'ready' } });
    const toOffline = await eve.request({ t: 'relay', inviteID: ring.data.inviteID, to: 'ghost', payload: { kind: 'ready' } });
    // Neither opted into early media, so both relays are refused, and alike but for the name.
    const anon = (r: any, name: string) => ({ ...r, rid: 0, message: String(r.message).replaceAll(name, 'X') });
    expect(anon(toOffline, 'ghost')).toEqual(anon(toOnline, 'carol'));
    expect(toOnline).toMatchObject({ ok: false, code: ErrorCode.INVALID_STATE });
    // The call alice and bob are in was never disturbed.
    expect([...alice.frames((f) => f.t === 'ended'), ...bob.frames((f) => f.t === 'ended')]).toEqual([]);
  });
});

describe('rate-limit state is bounded', () => {
  it('buckets of people nobody rang again are dropped once full; a flood of distinct pairs stops at the cap', () => {
    const b = new TokenBuckets(3, 3, 1000);
    for (let i = 0; i < 500; i++) b.take(`mallory\nvictim${i}`, 0);
    expect(b.size).toBe(500);
    // A minute later every one of them is full again: the next use drops them.
    b.take('someone\nelse', 60_000);
    for (let i = 0; i < 200; i++) b.take(`x\n${i}`, 60_000);
    expect(b.size).toBeLessThanOrEqual(201);
    // 100,000 distinct pairs at one instant: never more than the cap held.
    let most = 0;
    for (let i = 0; i < 100_000; i++) {
      b.take(`flood\n${i}`, 70_000);
      most = Math.max(most, b.size);
    }
    expect(most).toBeLessThanOrEqual(1000);
    // What is kept is exact: a pair rung 3 times has no token left.
    const c = new TokenBuckets(3, 3);
    for (let i = 0; i < 3; i++) c.take('a\nb', 0);
    expect(c.available('a\nb', 0)).toBe(0);
    expect(c.available('a\nb', 20_000)).toBe(1);
    expect(c.waitMs('a\nb', 10_000)).toBe(10_000);
  });
});

