import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import wrtc from '@roamhq/wrtc';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer, type RawData } from 'ws';
import { ErrorCode } from '@opencall/protocol';
import { EVENT, type NodeTRTCCallingOptions } from '@opencall/client/node';
import { eventually, expectMediaFlowing, sig, SDK_APP_ID, startTestServer, testBed } from './support/harness.js';
import { watchAudio, watchChroma } from './support/media-probes.js';
import { RawClient, type Frame } from './model/raw-client.js';

describe('media negotiated while ringing (early media, opted in)', () => {
  const bed = testBed();

  /** alice video-calls bob, and bob's phone rings; bob's app opted into early media. */
  async function ringing(bobOptions: Partial<NodeTRTCCallingOptions> = { earlyMedia: true }) {
    bed.server = await startTestServer();
    const alice = await bed.client('alice');
    const bob = await bed.client('bob', bobOptions);
    await alice.sdk.call({ userID: 'bob', type: 2 });
    await bob.waitFor(EVENT.INVITED);
    return { alice, bob };
  }

  it('connects during ringing but carries only black frames and silence until accept', async () => {
    const { alice, bob } = await ringing();

    // While ringing the connection comes up and both sides receive frames...
    let bobView: ReturnType<typeof watchChroma> | undefined;
    let aliceView: ReturnType<typeof watchChroma> | undefined;
    let bobEar: ReturnType<typeof watchAudio> | undefined;
    try {
      await eventually(() => (bob.sdk.getRemoteStream('alice')?.getVideoTracks().length ?? 0) > 0 && (alice.sdk.getRemoteStream('bob')?.getVideoTracks().length ?? 0) > 0, 'remote tracks while ringing');
      bobView = watchChroma(bob.sdk.getRemoteStream('alice')!.getVideoTracks()[0]!);
      aliceView = watchChroma(alice.sdk.getRemoteStream('bob')!.getVideoTracks()[0]!);
      bobEar = watchAudio(bob.sdk.getRemoteStream('alice')!.getAudioTracks()[0]!);
      await eventually(() => bobView!.seen.frames >= 5 && aliceView!.seen.frames >= 5, 'frames decoded while ringing', 15_000);
      // ...but they are black (no chroma) and the audio is silent: nothing real is sent before accept.
      expect(Math.abs(bobView.seen.meanU - 128)).toBeLessThan(3);
      expect(Math.abs(aliceView.seen.meanU - 128)).toBeLessThan(3);
      expect(bobEar.seen.peak).toBeLessThan(50);
      expect(alice.count(EVENT.USER_ENTER) + bob.count(EVENT.USER_ENTER)).toBe(0);

      await bob.sdk.accept();
      // USER_ENTER right away on the callee: the connection is already up.
      expect(bob.count(EVENT.USER_ENTER)).toBe(1);
      // After accept the real picture (the synthetic camera's colour) and tone arrive on both sides.
      await eventually(() => Math.abs(bobView!.seen.meanU - 128) > 40, `colour from alice (U=${bobView.seen.meanU})`);
      await eventually(() => Math.abs(aliceView!.seen.meanU - 128) > 40, `colour from bob (U=${aliceView.seen.meanU})`);
      await eventually(() => bobEar!.seen.peak > 2000, 'tone from alice');
    } finally {
      bobView?.stop();
      aliceView?.stop();
      bobEar?.stop();
    }
  });

  it('rejecting releases the media prepared while ringing (opted in by the former option name)', async () => {
    const { alice, bob } = await ringing({ prepareMediaWhileRinging: true });
    await eventually(() => (bob.sdk.getLocalStream()?.getTracks().length ?? 0) === 2, 'bob prepared mic and camera');
    const tracks = bob.sdk.getLocalStream()!.getTracks();
    await bob.sdk.reject();
    expect(bob.sdk.getLocalStream()).toBeNull();
    expect(tracks.every((t) => t.readyState === 'ended')).toBe(true);
    await alice.waitFor(EVENT.REJECT);
    expect(alice.sdk.getLocalStream()).toBeNull();
  });
});

/** A WebRTC implementation that records every RTCPeerConnection the SDK creates. */
function countingRtc() {
  const created: unknown[] = [];
  const RTCPeerConnection = new Proxy(wrtc.RTCPeerConnection, {
    construct(target, args, newTarget) {
      created.push(args[0]);
      return Reflect.construct(target, args, newTarget);
    },
  });
  return { created, rtc: { ...wrtc, RTCPeerConnection } as any };
}

/** A real offer with real host candidates, as a hostile caller would send to make the callee start ICE. */
async function hostileOffer(): Promise<{ sdp: string; candidates: { candidate: string; sdpMid: string | null; sdpMLineIndex: number | null }[] }> {
  const pc = new wrtc.RTCPeerConnection();
  const candidates: { candidate: string; sdpMid: string | null; sdpMLineIndex: number | null }[] = [];
  const gathered = new Promise<void>((resolve) => {
    pc.onicecandidate = (e: any) => (e.candidate ? candidates.push({ candidate: e.candidate.candidate, sdpMid: e.candidate.sdpMid, sdpMLineIndex: e.candidate.sdpMLineIndex }) : resolve());
  });
  pc.addTransceiver('audio', { direction: 'sendrecv' });
  pc.addTransceiver('video', { direction: 'sendrecv' });
  await pc.setLocalDescription(await pc.createOffer());
  await gathered;
  const sdp = pc.localDescription!.sdp;
  pc.close();
  expect(candidates.length).toBeGreaterThan(0);
  return { sdp, candidates };
}

/**
 * A WebSocket man-in-the-middle in front of the server, for one client: records what the client
 * sends and can push frames to it as if the server had relayed them (an older server, or one
 * that does not check). That is how a hostile caller's SDP/ICE can still reach a ringing callee.
 */
async function startMitm(serverUrl: string) {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, path: '/ws' });
  await once(wss, 'listening');
  const sent: Frame[] = [];
  const downs: WebSocket[] = [];
  wss.on('connection', (down) => {
    downs.push(down);
    const up = new WebSocket(serverUrl.replace(/^http/, 'ws') + '/ws');
    const pending: RawData[] = [];
    up.on('open', () => {
      for (const d of pending.splice(0)) up.send(d, { binary: false });
    });
    down.on('message', (data) => {
      sent.push(JSON.parse(data.toString()) as Frame);
      if (up.readyState === WebSocket.OPEN) up.send(data, { binary: false });
      else pending.push(data);
    });
    up.on('message', (data) => down.send(data, { binary: false }));
    up.on('close', () => down.close());
    down.on('close', () => up.close());
    up.on('error', () => {});
    down.on('error', () => {});
  });
  return {
    url: `http://127.0.0.1:${(wss.address() as AddressInfo).port}`,
    /** Every frame the client sent. */
    sent,
    inject(frame: Frame): void {
      for (const d of downs) if (d.readyState === WebSocket.OPEN) d.send(JSON.stringify(frame));
    },
    async close(): Promise<void> {
      for (const c of wss.clients) c.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
}

describe('a ringing callee that did not opt into early media (the default) starts no ICE', () => {
  const bed = testBed();
  const closers: (() => unknown)[] = [];
  afterEach(async () => {
    for (const c of closers.splice(0)) await c();
  });

  it('a raw caller’s offer, candidates and "ready" are refused by the server with a clear error; the callee creates no peer connection and relays nothing until it accepts', async () => {
    bed.server = await startTestServer();
    const { created, rtc } = countingRtc();
    const bob = await bed.client('bob', { rtc });
    const alice = await RawClient.open(bed.server.url, 'alice');
    closers.push(() => alice.terminate());
    let rid = 1;
    const request = async (msg: Frame): Promise<Frame> => {
      const r = rid++;
      const from = alice.frames.length;
      alice.send({ ...msg, rid: r });
      return alice.waitRes(r, from);
    };
    expect(await request({ t: 'login', sdkAppId: SDK_APP_ID, userID: 'alice', userSig: sig('alice') })).toMatchObject({ ok: true });
    const invite = await request({ t: 'invite', invitees: ['bob'], callType: 2, timeout: 30, media: { audio: true, video: true } });
    const inviteID = invite.data.inviteID as string;
    await bob.waitFor(EVENT.INVITED);

    const { sdp, candidates } = await hostileOffer();
    const payloads: Frame[] = [{ kind: 'ready' }, { kind: 'sdp', type: 'offer', sdp }, ...candidates.map((c) => ({ kind: 'ice', ...c }))];
    for (const payload of payloads) {
      const res = await request({ t: 'relay', inviteID, to: 'bob', payload });
      expect(res, `relay ${payload.kind} while bob rings`).toMatchObject({ ok: false, code: ErrorCode.INVALID_STATE });
      expect(res.message).toMatch(/before they accept.*early media/);
    }
    // Without a rid the refusal is an error frame.
    const from = alice.frames.length;
    alice.send({ t: 'relay', inviteID, to: 'bob', payload: { kind: 'sdp', type: 'offer', sdp } });
    await alice.ping();
    expect(alice.frames.slice(from).filter((f) => f.t === 'error')).toMatchObject([{ t: 'error', code: ErrorCode.INVALID_STATE }]);

    // bob took no step towards ICE: no peer connection, so no candidates and no checks.
    expect(created).toHaveLength(0);
    expect(bob.sdk.getLocalStream()).toBeNull();

    await bob.sdk.accept();
    await alice.until(() => alice.frames.find((f) => f.t === 'accepted'), 'accepted');
    // bob's first relay comes after his acceptance: nothing reached alice from him while ringing.
    const ready = await alice.until(() => alice.frames.find((f) => f.t === 'relay'), 'ready from bob');
    expect(ready).toMatchObject({ from: 'bob', payload: { kind: 'ready' } });
    expect(alice.frames.findIndex((f) => f.t === 'relay')).toBeGreaterThan(alice.frames.findIndex((f) => f.t === 'accepted'));
    expect(created).toHaveLength(1);
    // Once bob accepted, relays to him flow as before.
    expect(await request({ t: 'relay', inviteID, to: 'bob', payload: { kind: 'sdp', type: 'offer', sdp } })).toMatchObject({ ok: true });
  });

  it('the server: a ringing invitee opts in by relaying first; the opt-in ends when it rings again on a new login, and never counts with ring-all', async () => {
    for (const multiDevice of ['kick', 'ring-all'] as const) {
      bed.server = await startTestServer({ multiDevice });
      const raws: RawClient[] = [];
      let rid = 1;
      const request = async (c: RawClient, msg: Frame): Promise<Frame> => {
        const r = rid++;
        const from = c.frames.length;
        c.send({ ...msg, rid: r });
        return c.waitRes(r, from);
      };
      const open = async (userID: string) => {
        const c = await RawClient.open(bed.server!.url, `${userID} (${multiDevice})`);
        raws.push(c);
        closers.push(() => c.terminate());
        expect(await request(c, { t: 'login', sdkAppId: SDK_APP_ID, userID, userSig: sig(userID) })).toMatchObject({ ok: true });
        return c;
      };
      const [alice, bob] = [await open('alice'), await open('bob')];
      const inviteID = (await request(alice, { t: 'invite', invitees: ['bob'], callType: 1, timeout: 30 })).data.inviteID as string;
      await bob.until(() => bob.frames.find((f) => f.t === 'invited'), 'invited');
      const toBob = () => request(alice, { t: 'relay', inviteID, to: 'bob', payload: { kind: 'ready' } });
      expect(await toBob(), multiDevice).toMatchObject({ ok: false, code: ErrorCode.INVALID_STATE });
      // bob's own relay to alice is delivered, and is his opt-in (except with ring-all).
      expect(await request(bob, { t: 'relay', inviteID, to: 'alice', payload: { kind: 'ready' } })).toMatchObject({ ok: true });
      if (multiDevice === 'ring-all') {
        expect(await toBob()).toMatchObject({ ok: false, code: ErrorCode.INVALID_STATE });
      } else {
        expect(await toBob()).toMatchObject({ ok: true });
        await bob.until(() => bob.frames.find((f) => f.t === 'relay' && f.from === 'alice'), 'relay from alice');
        // bob logs in again on a new device (the old one is kicked): it rings there, not opted in.
        const bob2 = await open('bob');
        await bob2.until(() => bob2.frames.find((f) => f.t === 'invited'), 'invited again');
        expect(await toBob()).toMatchObject({ ok: false, code: ErrorCode.INVALID_STATE });
      }
      const latest = raws.at(-1)!.label.startsWith('bob') ? raws.at(-1)! : bob;
      expect(await request(latest, { t: 'accept', inviteID })).toMatchObject({ ok: true });
      expect(await toBob()).toMatchObject({ ok: true });
      for (const c of raws) c.terminate();
      await bed.server.close();
      bed.server = undefined;
    }
  });

  it('relays that still reach it while ringing (a server that does not check) are ignored; after accept media flows both ways', async () => {
    bed.server = await startTestServer();
    const mitm = await startMitm(bed.server.url);
    closers.push(() => mitm.close());
    const { created, rtc } = countingRtc();
    const alice = await bed.client('alice');
    const bob = await bed.client('bob', { rtc, serverUrl: mitm.url });
    await alice.sdk.call({ userID: 'bob', type: 2 });
    const { inviteID } = await bob.waitFor(EVENT.INVITED);

    // "From alice": a request to offer, an offer and its candidates, pushed to bob's socket.
    const { sdp, candidates } = await hostileOffer();
    mitm.inject({ t: 'relay', inviteID, from: 'alice', payload: { kind: 'ready' } });
    mitm.inject({ t: 'relay', inviteID, from: 'alice', payload: { kind: 'sdp', type: 'offer', sdp } });
    for (const c of candidates) mitm.inject({ t: 'relay', inviteID, from: 'alice', payload: { kind: 'ice', ...c } });
    // A request answered on the same socket: bob's SDK has handled every injected frame by now.
    await (bob.sdk as any).signal.request({ t: 'ping' });

    expect(created).toHaveLength(0);
    expect(bob.sdk.getLocalStream()).toBeNull();
    expect(mitm.sent.filter((f) => f.t === 'relay')).toEqual([]);
    expect(alice.sdk.getRemoteStream('bob')).toBeNull();

    await bob.sdk.accept();
    await alice.waitFor(EVENT.USER_ENTER);
    await bob.waitFor(EVENT.USER_ENTER);
    await expectMediaFlowing(alice, 'bob');
    await expectMediaFlowing(bob, 'alice');
  });
});
