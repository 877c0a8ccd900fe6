/**
 * SfuRoomManager against a real Janus (Debian package) running in its own network namespace
 * (tests/support/netns.ts): the wrtc participants in this process reach Janus's API and media
 * only over the namespace's veth pair. Each participant publishes real synthetic camera + mic
 * tracks through the manager and receives every other participant on one subscriber
 * PeerConnection whose offers (and the mid → userID map) come from the manager.
 */
import wrtc from '@roamhq/wrtc';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { startJanus, type JanusInstance } from '../../../tests/support/janus.js';
import { netnsSupported } from '../../../tests/support/netns.js';
import { createSyntheticMediaDevices, type WrtcLike } from '../../client/src/node/synthetic-media.js';
import { JanusClient } from '../src/sfu/janus-client.js';
import { VideoRoomAdmin } from '../src/sfu/janus-videoroom.js';
import {
  SfuError,
  SfuRoomManager,
  type SfuRoomManagerEvents,
  type SfuStream,
  type SubscribeResult,
} from '../src/sfu/sfu-room-manager.js';

const { RTCPeerConnection } = wrtc;
type PeerConnection = InstanceType<typeof RTCPeerConnection>;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const logger = pino({ level: process.env.OPENCALL_TEST_LOG ?? 'silent' });
/** 160x120 at 10 fps keeps 9 encoders + 72 decoders affordable on a 2-core machine. */
const devices = createSyntheticMediaDevices(wrtc as unknown as WrtcLike, { width: 160, height: 120, frameRate: 10 });

/** Per-remote-user inbound counters of one participant's subscriber PeerConnection. */
interface Inbound {
  audioBytes: number;
  framesDecoded: number;
}

/**
 * One call participant as the client SDK would behave: a publishing PeerConnection, one
 * subscriber PeerConnection, every offer answered in order, candidates trickled through the
 * manager (only those on the veth's host address, so media never uses another interface).
 */
class Participant {
  pub: PeerConnection = new RTCPeerConnection();
  sub: PeerConnection | undefined;
  /** mid → stream, replaced with each offer (Janus recycles mids). */
  mids = new Map<string, SfuStream>();
  readonly errors: unknown[] = [];
  private stream: MediaStream | undefined;
  private chain: Promise<void> = Promise.resolve();
  private readonly candidateRe: RegExp;

  constructor(
    readonly userID: string,
    private readonly mgr: SfuRoomManager,
    private readonly callId: string,
    clientIp: string,
  ) {
    this.candidateRe = new RegExp(` udp \\d+ ${clientIp.replaceAll('.', '\\.')} \\d+ typ host`);
    this.trickleFrom(this.pub, 'publisher');
  }

  async publish(): Promise<void> {
    this.stream = await devices.getUserMedia({ audio: true, video: true });
    for (const track of this.stream.getTracks()) this.pub.addTrack(track, this.stream);
    const offer = await this.pub.createOffer();
    await this.pub.setLocalDescription(offer);
    const { answerSdp } = await this.mgr.publish(this.callId, this.userID, offer.sdp!);
    await this.pub.setRemoteDescription({ type: 'answer', sdp: answerSdp });
  }

  /** Publishes again on a fresh PeerConnection (after an unpublish). */
  async republish(): Promise<void> {
    this.pub.close();
    for (const t of this.stream?.getTracks() ?? []) t.stop();
    this.pub = new RTCPeerConnection();
    this.trickleFrom(this.pub, 'publisher');
    await this.publish();
  }

  async subscribe(feedsOf: string[]): Promise<SubscribeResult> {
    const result = await this.mgr.subscribe(this.callId, this.userID, feedsOf);
    if (result.offerSdp) await this.applyOffer(result.offerSdp, result.streams);
    return result;
  }

  /** A new subscriber PeerConnection on a new handle, as a client does after Janus dropped its subscriber. */
  async resubscribe(feedsOf: string[]): Promise<SubscribeResult> {
    this.sub?.close();
    this.sub = undefined;
    const result = await this.mgr.resubscribe(this.callId, this.userID, feedsOf);
    if (result.offerSdp) await this.applyOffer(result.offerSdp, result.streams);
    return result;
  }

  async unsubscribe(feedsOf: string[]): Promise<SubscribeResult> {
    const result = await this.mgr.unsubscribe(this.callId, this.userID, feedsOf);
    if (result.offerSdp) await this.applyOffer(result.offerSdp, result.streams);
    return result;
  }

  /** Answers an offer (from subscribe() or a `subscriberOffer` event); offers are applied strictly in order. */
  applyOffer(offerSdp: string, streams: SfuStream[]): Promise<void> {
    const run = this.chain.then(async () => {
      if (!this.sub) {
        this.sub = new RTCPeerConnection();
        this.trickleFrom(this.sub, 'subscriber');
      }
      await this.sub.setRemoteDescription({ type: 'offer', sdp: offerSdp });
      const answer = await this.sub.createAnswer();
      await this.sub.setLocalDescription(answer);
      this.mids = new Map(streams.map((s) => [s.mid, s]));
      await this.mgr.startSubscriber(this.callId, this.userID, answer.sdp!);
    });
    this.chain = run.catch(() => undefined);
    return run;
  }

  remoteUsers(): string[] {
    return [...new Set([...this.mids.values()].map((s) => s.userID))].sort();
  }

  async inbound(): Promise<Map<string, Inbound>> {
    const out = new Map<string, Inbound>();
    if (!this.sub) return out;
    const report = await this.sub.getStats();
    report.forEach((r: Record<string, unknown>) => {
      if (r.type !== 'inbound-rtp' || typeof r.mid !== 'string') return;
      const stream = this.mids.get(r.mid);
      if (!stream) return;
      const entry = out.get(stream.userID) ?? { audioBytes: 0, framesDecoded: 0 };
      if (stream.kind === 'audio') entry.audioBytes += Number(r.bytesReceived ?? 0);
      else entry.framesDecoded += Number(r.framesDecoded ?? 0);
      out.set(stream.userID, entry);
    });
    return out;
  }

  close(): void {
    this.pub.close();
    this.sub?.close();
    for (const t of this.stream?.getTracks() ?? []) t.stop();
  }

  private trickleFrom(pc: PeerConnection, target: 'publisher' | 'subscriber'): void {
    pc.onicecandidate = (e) => {
      const c = e.candidate;
      if (c && !this.candidateRe.test(c.candidate)) return;
      this.mgr
        .trickle(this.callId, this.userID, target, c ? { candidate: c.candidate, sdpMid: c.sdpMid, sdpMLineIndex: c.sdpMLineIndex } : null)
        .catch((err: unknown) => this.errors.push(err));
    };
  }
}

function waitForConnected(pc: PeerConnection, label: string, timeoutMs = 20_000): Promise<void> {
  return new Promise((resolve, reject) => {
    if (pc.connectionState === 'connected') return resolve();
    const timer = setTimeout(() => {
      pc.removeEventListener('connectionstatechange', check);
      reject(new Error(`${label}: PeerConnection still ${pc.connectionState} after ${timeoutMs} ms`));
    }, timeoutMs);
    const check = () => {
      if (pc.connectionState === 'connected' || pc.connectionState === 'failed') {
        clearTimeout(timer);
        pc.removeEventListener('connectionstatechange', check);
        if (pc.connectionState === 'connected') resolve();
        else reject(new Error(`${label}: PeerConnection failed`));
      }
    };
    pc.addEventListener('connectionstatechange', check);
  });
}

async function until(what: string, cond: () => boolean, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await sleep(50);
  }
}

/** Records every manager event for assertions. */
function recordEvents(mgr: SfuRoomManager) {
  const seen: { [K in keyof SfuRoomManagerEvents]: SfuRoomManagerEvents[K][0][] } = {
    feedPublished: [],
    feedUnpublished: [],
    subscriberOffer: [],
    mediaUp: [],
    hangup: [],
    janusDown: [],
  };
  mgr.on('feedPublished', (e) => seen.feedPublished.push(e));
  mgr.on('feedUnpublished', (e) => seen.feedUnpublished.push(e));
  mgr.on('subscriberOffer', (e) => seen.subscriberOffer.push(e));
  mgr.on('mediaUp', (e) => seen.mediaUp.push(e));
  mgr.on('hangup', (e) => seen.hangup.push(e));
  mgr.on('janusDown', (e) => seen.janusDown.push(e));
  return seen;
}

/**
 * Samples stats of all participants twice, `windowMs` apart, and checks that every participant
 * decodes video and receives audio from every user in `expectFrom(p)`. Returns per-pair deltas.
 */
async function assertMediaFlows(ps: Participant[], expectFrom: (p: Participant) => string[], windowMs: number) {
  const before = await Promise.all(ps.map((p) => p.inbound()));
  await sleep(windowMs);
  const after = await Promise.all(ps.map((p) => p.inbound()));
  const fps: number[] = [];
  const problems: string[] = [];
  ps.forEach((p, i) => {
    for (const remote of expectFrom(p)) {
      const a = before[i]!.get(remote) ?? { audioBytes: 0, framesDecoded: 0 };
      const b = after[i]!.get(remote);
      if (!b) {
        problems.push(`${p.userID} has no stream from ${remote}`);
        continue;
      }
      const frames = b.framesDecoded - a.framesDecoded;
      const audio = b.audioBytes - a.audioBytes;
      fps.push(frames / (windowMs / 1000));
      if (frames <= 0) problems.push(`${p.userID} decoded no video from ${remote}`);
      if (audio <= 0) problems.push(`${p.userID} received no audio from ${remote}`);
    }
  });
  expect(problems).toEqual([]);
  fps.sort((x, y) => x - y);
  return { pairs: fps.length, minFps: fps[0] ?? 0, medianFps: fps[Math.floor(fps.length / 2)] ?? 0 };
}

/** `local ip -> remote ip` of the candidate pair the PeerConnection's transport selected. */
async function selectedPair(pc: PeerConnection): Promise<string> {
  const stats = new Map<string, Record<string, unknown>>();
  (await pc.getStats()).forEach((r: Record<string, unknown>) => stats.set(String(r.id), r));
  const transport = [...stats.values()].find((r) => r.type === 'transport' && r.selectedCandidatePairId);
  const pair =
    (transport && stats.get(String(transport.selectedCandidatePairId))) ??
    [...stats.values()].find((r) => r.type === 'candidate-pair' && r.nominated && r.state === 'succeeded');
  if (!pair) return 'none';
  const ip = (id: unknown) => {
    const c = stats.get(String(id));
    return String(c?.address ?? c?.ip ?? '?');
  };
  return `${ip(pair.localCandidateId)} -> ${ip(pair.remoteCandidateId)}`;
}

/** user+system CPU seconds of a process from /proc/<pid>/stat. */
function procCpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]); // utime, stime
  return ticks / clkTck;
}
const clkTck = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;
  } catch {
    return 100;
  }
})();

/** Busy fraction of the whole machine from /proc/stat. */
function machineTicks(): { busy: number; total: number } {
  const cpu = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const idle = cpu[3]! + (cpu[4] ?? 0);
  const total = cpu.reduce((a, b) => a + b, 0);
  return { busy: total - idle, total };
}

/** Runs `fn` with a Janus in a fresh namespace; Janus and the namespace are gone afterwards, whatever happened. */
async function withJanus(fn: (janus: JanusInstance) => Promise<void>): Promise<void> {
  const janus = await startJanus({ netns: true });
  const ns = janus.netns!;
  try {
    await fn(janus);
  } finally {
    await janus.stop();
    const list = execFileSync('ip', ['netns', 'list']).toString();
    expect(list).not.toContain(ns.name);
    expect(() => execFileSync('ip', ['link', 'show', ns.hostIf], { stdio: 'ignore' })).toThrow();
  }
}

describe.skipIf(!netnsSupported())('SfuRoomManager (real Janus in a private netns)', () => {
  it('3 participants: publish, incremental subscribe, unsubscribe, unpublish/republish, destroy', { timeout: 90_000 }, async () => {
    await withJanus(async (janus) => {
      const mgr = new SfuRoomManager({ janus: janus.wsUrl, apiSecret: janus.apiSecret, logger });
      const events = recordEvents(mgr);
      const callId = 'call-3';
      const ps: Participant[] = [];
      mgr.on('subscriberOffer', (e) => {
        const p = ps.find((x) => x.userID === e.userID);
        p?.applyOffer(e.offerSdp, e.streams).catch((err: unknown) => p.errors.push(err));
      });
      try {
        await expect(mgr.publish('no-such-call', 'x', 'v=0')).rejects.toMatchObject({ name: 'SfuError', code: 'NO_ROOM' });
        const roomId = await mgr.createRoom(callId, 3);
        expect(await mgr.createRoom(callId, 3)).toBe(roomId); // idempotent

        const [u1, u2, u3] = ['u1', 'u2', 'u3'].map((id) => new Participant(id, mgr, callId, janus.clientIp)) as [
          Participant,
          Participant,
          Participant,
        ];
        ps.push(u1, u2, u3);
        await Promise.all(ps.map((p) => p.publish()));
        await Promise.all(ps.map((p) => waitForConnected(p.pub, `${p.userID} publisher`)));
        expect(events.feedPublished.map((e) => e.userID).sort()).toEqual(['u1', 'u2', 'u3']);
        expect(mgr.publishedUsers(callId).sort()).toEqual(['u1', 'u2', 'u3']);

        // A malformed offer is refused with a clear error, and the room stays usable.
        const bad = await mgr.publish(callId, 'u4', 'not an sdp').catch((e: unknown) => e);
        expect(bad).toBeInstanceOf(SfuError);
        expect((bad as SfuError).message).toMatch(/publish for "u4" in call "call-3" failed: Janus/);
        console.info('[sfu] bad offer error:', (bad as SfuError).code, (bad as SfuError).message);

        // u1: two feeds at once (plus one that does not exist); u2: one, then a second one via update.
        const r1 = await u1.subscribe(['u2', 'u3', 'ghost', 'u1']);
        expect(r1.missing).toEqual(['ghost']);
        expect(r1.streams.map((s) => `${s.userID}/${s.kind}`).sort()).toEqual(['u2/audio', 'u2/video', 'u3/audio', 'u3/video']);
        const r1again = await u1.subscribe(['u2']);
        expect(r1again.offerSdp).toBeNull(); // already subscribed: no duplicate m-lines
        expect(r1again.streams).toHaveLength(4);
        await u2.subscribe(['u1']);
        const r2b = await u2.subscribe(['u3']);
        expect(r2b.offerSdp).not.toBeNull();
        expect(r2b.streams.map((s) => s.userID).sort()).toEqual(['u1', 'u1', 'u3', 'u3']);
        await u3.subscribe(['u1', 'u2']);
        await Promise.all(ps.map((p) => waitForConnected(p.sub!, `${p.userID} subscriber`)));
        await sleep(500); // first keyframes
        const others = (p: Participant) => ps.filter((x) => x !== p).map((x) => x.userID);
        const m1 = await assertMediaFlows(ps, others, 1_500);
        console.info('[sfu] 3-party media', m1);
        expect(events.mediaUp.length).toBe(6);
        // Media goes over the veth pair only: host end (test process) <-> namespace end (Janus).
        for (const p of ps) {
          expect(await selectedPair(p.pub)).toBe(`${janus.clientIp} -> ${janus.iceIp}`);
          expect(await selectedPair(p.sub!)).toBe(`${janus.clientIp} -> ${janus.iceIp}`);
        }

        // Unsubscribe: u1 stops receiving u3.
        const un = await u1.unsubscribe(['u3']);
        expect(un.offerSdp).not.toBeNull();
        expect(u1.remoteUsers()).toEqual(['u2']);
        expect((await u1.unsubscribe(['u3'])).offerSdp).toBeNull();

        // u2 unpublishes: Janus renegotiates u1 and u3 on its own (subscriberOffer).
        const offersBefore = events.subscriberOffer.length;
        await mgr.unpublish(callId, 'u2');
        expect(events.feedUnpublished).toContainEqual({ callId, userID: 'u2', reason: 'unpublish' });
        await until('u1 and u3 to drop u2', () => !u1.remoteUsers().includes('u2') && !u3.remoteUsers().includes('u2'));
        expect(events.subscriberOffer.length).toBeGreaterThanOrEqual(offersBefore + 2);
        expect(mgr.publishedUsers(callId).sort()).toEqual(['u1', 'u3']);

        // u2 publishes again on a new PeerConnection; u1 re-subscribes (Janus recycles the inactive mids).
        await u2.republish();
        await waitForConnected(u2.pub, 'u2 republished');
        expect(events.feedPublished.filter((e) => e.userID === 'u2')).toHaveLength(2);
        // Janus lists a feed to subscribers once its media is up (the bridge waits for this too);
        // on a busy machine that can come well after the client's PeerConnection connected.
        await until('u2 republished media up', () => events.mediaUp.filter((e) => e.userID === 'u2' && e.target === 'publisher').length === 2);
        const r1c = await u1.subscribe(['u2', 'u3']);
        expect(r1c.streams.map((s) => `${s.userID}/${s.kind}`).sort()).toEqual(['u2/audio', 'u2/video', 'u3/audio', 'u3/video']);
        console.info('[sfu] mids after re-subscribe', r1c.streams);
        await u3.subscribe(['u2']);
        await sleep(500);
        // u1 and u3 get u2's new feed, u2 still gets both on its untouched subscriber PeerConnection.
        const m2 = await assertMediaFlows(ps, others, 1_500);
        console.info('[sfu] 3-party media after republish', m2);

        // u3 replaces its subscriber: the old handle goes, a new one gets both feeds, the others notice nothing.
        const r3 = await u3.resubscribe(['u1', 'u2']);
        expect(r3.offerSdp).not.toBeNull();
        expect(r3.streams.map((s) => `${s.userID}/${s.kind}`).sort()).toEqual(['u1/audio', 'u1/video', 'u2/audio', 'u2/video']);
        await waitForConnected(u3.sub!, 'u3 resubscribed');
        await sleep(500);
        await assertMediaFlows(ps, others, 1_500);

        // Destroy: idempotent, the Janus room is gone, late trickles are dropped, other calls fail clearly.
        await mgr.destroyRoom(callId);
        await mgr.destroyRoom(callId);
        expect(mgr.roomId(callId)).toBeUndefined();
        await expect(mgr.trickle(callId, 'u1', 'subscriber', null)).resolves.toBeUndefined();
        await expect(mgr.startSubscriber(callId, 'u1', 'v=0')).rejects.toMatchObject({ code: 'NO_ROOM' });
        const probe = await JanusClient.connect(janus.wsUrl, { apiSecret: janus.apiSecret });
        try {
          await probe.createSession();
          const admin = await VideoRoomAdmin.attach(probe);
          expect(await admin.roomExists(roomId)).toBe(false);
        } finally {
          await probe.close();
        }
        expect(events.hangup).toEqual([]); // nothing died on its own
        expect(ps.flatMap((p) => p.errors)).toEqual([]);
      } finally {
        for (const p of ps) p.close();
        await mgr.close();
      }
    });
  });

  it('9 participants each publish and receive all 8 others; one leaves; room destroyed', { timeout: 180_000 }, async () => {
    await withJanus(async (janus) => {
      const mgr = new SfuRoomManager({ janus: janus.wsUrl, apiSecret: janus.apiSecret, logger });
      const events = recordEvents(mgr);
      const callId = 'call-9';
      const ps: Participant[] = [];
      mgr.on('subscriberOffer', (e) => {
        const p = ps.find((x) => x.userID === e.userID);
        p?.applyOffer(e.offerSdp, e.streams).catch((err: unknown) => p.errors.push(err));
      });
      const t0 = performance.now();
      try {
        const roomId = await mgr.createRoom(callId, 9);
        for (let i = 1; i <= 9; i++) ps.push(new Participant(`p${i}`, mgr, callId, janus.clientIp));
        const ids = ps.map((p) => p.userID);
        const others = (p: Participant) => ids.filter((id) => id !== p.userID);

        const cpu0 = process.cpuUsage();
        const janus0 = procCpuSeconds(janus.pid!);
        const wall0 = performance.now();
        await Promise.all(ps.map((p) => p.publish()));
        await Promise.all(ps.map((p) => waitForConnected(p.pub, `${p.userID} publisher`)));
        const tPublished = performance.now();
        await Promise.all(ps.map((p) => p.subscribe(others(p))));
        await Promise.all(ps.map((p) => waitForConnected(p.sub!, `${p.userID} subscriber`)));
        const tSubscribed = performance.now();
        for (const p of ps) expect(p.remoteUsers()).toEqual(others(p));
        const setupCpu = process.cpuUsage(cpu0);
        const setupJanus = procCpuSeconds(janus.pid!) - janus0;
        const setupWall = (performance.now() - wall0) / 1000;

        // Steady state: 9 up, 72 down audio+video streams through Janus.
        await sleep(1_000);
        const cpu1 = process.cpuUsage();
        const janus1 = procCpuSeconds(janus.pid!);
        const m1 = machineTicks();
        const wall1 = performance.now();
        const media = await assertMediaFlows(ps, others, 5_000);
        const wall = (performance.now() - wall1) / 1000;
        const testCpu = process.cpuUsage(cpu1);
        const janusCpu = procCpuSeconds(janus.pid!) - janus1;
        const m2 = machineTicks();
        const pct = (sec: number, over: number) => `${((100 * sec) / over).toFixed(0)}%`;
        console.info('[sfu] 9-party timings', {
          publishAllMs: Math.round(tPublished - wall0),
          subscribeAllMs: Math.round(tSubscribed - tPublished),
        });
        console.info('[sfu] 9-party setup CPU', {
          wallS: setupWall.toFixed(2),
          testProcess: pct((setupCpu.user + setupCpu.system) / 1e6, setupWall),
          janus: pct(setupJanus, setupWall),
        });
        console.info('[sfu] 9-party steady state', {
          windowS: wall.toFixed(2),
          testProcessCpu: pct((testCpu.user + testCpu.system) / 1e6, wall),
          janusCpu: pct(janusCpu, wall),
          machineBusy: `${((100 * (m2.busy - m1.busy)) / (m2.total - m1.total)).toFixed(0)}% of 2 cores`,
          ...media,
        });
        expect(events.mediaUp.length).toBe(18);
        const pairs = await Promise.all(ps.flatMap((p) => [selectedPair(p.pub), selectedPair(p.sub!)]));
        expect(new Set(pairs)).toEqual(new Set([`${janus.clientIp} -> ${janus.iceIp}`]));

        // p9 leaves: feedUnpublished, and Janus renegotiates the 8 others without p9.
        const leaver = ps[8]!;
        await mgr.leave(callId, leaver.userID);
        leaver.close();
        expect(events.feedUnpublished).toEqual([{ callId, userID: 'p9', reason: 'leave' }]);
        const stay = ps.slice(0, 8);
        await until('everyone to drop p9', () => stay.every((p) => !p.remoteUsers().includes('p9')));
        for (const p of stay) expect(p.remoteUsers()).toEqual(others(p).filter((id) => id !== 'p9'));
        const after = await assertMediaFlows(stay, (p) => others(p).filter((id) => id !== 'p9'), 2_000);
        console.info('[sfu] after p9 left', after);

        await mgr.destroyRoom(callId);
        expect(mgr.roomId(callId)).toBeUndefined();
        const probe = await JanusClient.connect(janus.wsUrl, { apiSecret: janus.apiSecret });
        try {
          await probe.createSession();
          expect(await (await VideoRoomAdmin.attach(probe)).roomExists(roomId)).toBe(false);
        } finally {
          await probe.close();
        }
        expect(events.hangup).toEqual([]);
        expect(ps.flatMap((p) => p.errors)).toEqual([]);
        console.info(`[sfu] 9-party scenario wall time ${((performance.now() - t0) / 1000).toFixed(1)} s`);
      } finally {
        for (const p of ps) p.close();
        await mgr.close();
      }
    });
  });

  it('reports janusDown when Janus goes away and fails later calls clearly', { timeout: 30_000 }, async () => {
    await withJanus(async (janus) => {
      const mgr = new SfuRoomManager({ janus: janus.wsUrl, apiSecret: janus.apiSecret, logger, requestTimeoutMs: 2_000 });
      const events = recordEvents(mgr);
      try {
        await mgr.createRoom('call-down', 2);
        await janus.stop();
        await until('janusDown', () => events.janusDown.length === 1, 5_000);
        expect(events.janusDown[0]!.callIds).toEqual(['call-down']);
        expect(events.janusDown[0]!.reason).toBeInstanceOf(Error);
        await expect(mgr.publish('call-down', 'u1', 'v=0')).rejects.toMatchObject({ code: 'NO_ROOM' });
        const err = await mgr.createRoom('call-down', 2).catch((e: unknown) => e);
        expect(err).toMatchObject({ name: 'SfuError', code: 'JANUS_DOWN' });
        expect((err as Error).message).toMatch(/connect to Janus failed: Cannot connect to Janus/);
      } finally {
        await mgr.close();
      }
    });
  });
});
