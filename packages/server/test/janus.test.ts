/**
 * End-to-end check of the Janus groundwork: a real Janus (Debian package; API
 * on 127.0.0.1, ICE on one host-local address), one wrtc publisher sending
 * audio+video into a VideoRoom and one wrtc subscriber that must decode it.
 * Everything the signaling server will later proxy (JSEP, trickle) goes
 * through JanusClient here.
 */
import wrtc from '@roamhq/wrtc';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startJanus, type JanusInstance } from '../../../tests/support/janus.js';
import { JanusClient, JanusError, JanusPluginError, type JanusHandle, type Jsep } from '../src/sfu/janus-client.js';
import { VIDEOROOM_PLUGIN, VideoRoomAdmin, VideoRoomErrorCode } from '../src/sfu/janus-videoroom.js';

const { RTCPeerConnection, nonstandard } = wrtc;

type PeerConnection = InstanceType<typeof RTCPeerConnection>;
type Track = ReturnType<InstanceType<typeof nonstandard.RTCVideoSource>['createTrack']>;

/** Synthetic camera + microphone driven by timers, as in scratch/wrtc-test.cjs. */
function fakeMedia() {
  const video = new nonstandard.RTCVideoSource();
  const audio = new nonstandard.RTCAudioSource();
  const videoTrack = video.createTrack();
  const audioTrack = audio.createTrack();
  const W = 320;
  const H = 240;
  const frame = new Uint8Array((W * H * 3) / 2);
  let n = 0;
  const videoTimer = setInterval(() => {
    // Changing luma every frame so the encoder produces real (non-skip) frames.
    frame.fill(n++ % 255, 0, W * H);
    video.onFrame({ width: W, height: H, data: frame });
  }, 66);
  const samples = new Int16Array(480);
  for (let i = 0; i < samples.length; i++) samples[i] = Math.round(Math.sin(i / 10) * 8000);
  const audioTimer = setInterval(() => {
    audio.onData({ samples, sampleRate: 48_000, bitsPerSample: 16, channelCount: 1, numberOfFrames: 480 });
  }, 10);
  return {
    tracks: [audioTrack, videoTrack] as Track[],
    stop() {
      clearInterval(videoTimer);
      clearInterval(audioTimer);
      audioTrack.stop();
      videoTrack.stop();
    },
  };
}

/**
 * Forwards the PeerConnection's ICE candidates to Janus. Only UDP candidates on
 * `ip` (the single host-local address Janus gathers on, see startJanus) are
 * sent, so media never involves another interface or the outside world.
 * Candidates are held back until `ready()` so they never overtake the JSEP
 * they belong to.
 */
function trickleTo(pc: PeerConnection, handle: JanusHandle, ip: string) {
  const allowed = new RegExp(` udp \\d+ ${ip.replaceAll('.', '\\.')} \\d+ typ host`);
  const queue: Array<RTCIceCandidateInit | null> = [];
  let open = false;
  const send = (c: RTCIceCandidateInit | null) => {
    handle
      .trickle(c && { candidate: c.candidate ?? '', sdpMid: c.sdpMid ?? null, sdpMLineIndex: c.sdpMLineIndex ?? null })
      .catch(() => {}); // the handle may already be gone during teardown
  };
  pc.onicecandidate = (e) => {
    const c = e.candidate;
    if (c && !allowed.test(c.candidate)) return;
    const init = c ? { candidate: c.candidate, sdpMid: c.sdpMid, sdpMLineIndex: c.sdpMLineIndex } : null;
    if (open) send(init);
    else queue.push(init);
  };
  return {
    ready() {
      open = true;
      for (const c of queue.splice(0)) send(c);
    },
  };
}

function waitForConnected(pc: PeerConnection, timeoutMs = 10_000): Promise<void> {
  return new Promise((resolve, reject) => {
    if (pc.connectionState === 'connected') return resolve();
    const timer = setTimeout(() => reject(new Error(`PeerConnection still ${pc.connectionState}`)), timeoutMs);
    pc.onconnectionstatechange = () => {
      if (pc.connectionState === 'connected') {
        clearTimeout(timer);
        resolve();
      } else if (pc.connectionState === 'failed') {
        clearTimeout(timer);
        reject(new Error('PeerConnection failed'));
      }
    };
  });
}

interface InboundSample {
  audioBytes: number;
  videoBytes: number;
  framesDecoded: number;
}

async function inbound(pc: PeerConnection): Promise<InboundSample> {
  const report = await pc.getStats();
  const out: InboundSample = { audioBytes: 0, videoBytes: 0, framesDecoded: 0 };
  report.forEach((r: Record<string, unknown>) => {
    if (r.type !== 'inbound-rtp') return;
    const kind = r.kind ?? r.mediaType;
    if (kind === 'audio') out.audioBytes += Number(r.bytesReceived ?? 0);
    if (kind === 'video') {
      out.videoBytes += Number(r.bytesReceived ?? 0);
      out.framesDecoded += Number(r.framesDecoded ?? 0);
    }
  });
  return out;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('Janus VideoRoom (real Janus, host-local only)', () => {
  let janus: JanusInstance | undefined;

  beforeAll(async () => {
    janus = await startJanus();
    console.info(`[janus.test] Janus start-up ${janus.startupMs.toFixed(0)} ms`);
  });

  afterAll(async () => {
    const t = performance.now();
    await janus?.stop();
    console.info(`[janus.test] Janus stop ${(performance.now() - t).toFixed(0)} ms`);
  });

  it('rejects a wrong API secret and surfaces VideoRoom errors', async () => {
    const bad = await JanusClient.connect(janus!.wsUrl, { apiSecret: 'wrong' });
    try {
      // 403 = JANUS_ERROR_UNAUTHORIZED
      await expect(bad.createSession()).rejects.toMatchObject({ name: 'JanusError', code: 403 });
    } finally {
      await bad.close();
    }

    const client = await JanusClient.connect(janus!.wsUrl, { apiSecret: janus!.apiSecret });
    try {
      await client.createSession();
      const admin = await VideoRoomAdmin.attach(client);
      const err = await admin.listParticipants(424_242).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(JanusPluginError);
      expect((err as JanusPluginError).code).toBe(VideoRoomErrorCode.NoSuchRoom);
      await admin.detach();
      expect(admin.handle.detached).toBe(true);
      await client.destroySession();
    } finally {
      await client.close();
    }
    await expect(client.createSession()).rejects.toBeInstanceOf(JanusError);
  });

  it('relays audio+video from a wrtc publisher to a wrtc subscriber', { timeout: 45_000 }, async () => {
    const t0 = performance.now();
    const { wsUrl, apiSecret, iceIp } = janus!;
    const client = await JanusClient.connect(wsUrl, { apiSecret });
    const pcs: PeerConnection[] = [];
    const media = fakeMedia();
    const room = 100_000 + Math.floor(Math.random() * 1_000_000);
    let admin: VideoRoomAdmin | undefined;
    let roomCreated = false;
    try {
      await client.createSession();
      admin = await VideoRoomAdmin.attach(client);
      await admin.createRoom({ room, publishers: 4, description: 'janus.test', secret: 'room-secret' });
      roomCreated = true;
      expect(await admin.roomExists(room)).toBe(true);

      // --- Publisher: one PeerConnection sending audio + video (joinandconfigure = join + publish).
      const pub = new RTCPeerConnection();
      pcs.push(pub);
      for (const track of media.tracks) pub.addTrack(track);
      const pubHandle = await client.attach(VIDEOROOM_PLUGIN);
      const pubTrickle = trickleTo(pub, pubHandle, iceIp);
      const pubUp = pubHandle.waitFor('webrtcup');
      const offer = await pub.createOffer();
      await pub.setLocalDescription(offer);
      const joined = await pubHandle.message<{ videoroom: string; id: number }>(
        { request: 'joinandconfigure', ptype: 'publisher', room, display: 'publisher' },
        { type: 'offer', sdp: offer.sdp! },
      );
      pubTrickle.ready();
      expect(joined.data.videoroom).toBe('joined');
      expect(joined.jsep?.type).toBe('answer');
      await pub.setRemoteDescription(joined.jsep as Jsep as RTCSessionDescriptionInit);
      await Promise.all([pubUp, waitForConnected(pub)]);
      const feed = joined.data.id;

      const participants = await admin.listParticipants(room);
      expect(participants).toContainEqual(expect.objectContaining({ id: feed, publisher: true }));

      // --- Subscriber: Janus offers, we answer with "start".
      const subHandle = await client.attach(VIDEOROOM_PLUGIN);
      const attached = await subHandle.message<{ videoroom: string; streams: Array<{ type: string }> }>({
        request: 'join',
        ptype: 'subscriber',
        room,
        streams: [{ feed }],
      });
      expect(attached.data.videoroom).toBe('attached');
      expect(attached.data.streams.map((s) => s.type).sort()).toEqual(['audio', 'video']);
      expect(attached.jsep?.type).toBe('offer');

      const sub = new RTCPeerConnection();
      pcs.push(sub);
      const subTrickle = trickleTo(sub, subHandle, iceIp);
      const subUp = subHandle.waitFor('webrtcup');
      await sub.setRemoteDescription(attached.jsep as Jsep as RTCSessionDescriptionInit);
      const answer = await sub.createAnswer();
      await sub.setLocalDescription(answer);
      const started = await subHandle.message<{ videoroom: string; started?: string }>(
        { request: 'start' },
        { type: 'answer', sdp: answer.sdp! },
      );
      subTrickle.ready();
      expect(started.data.started).toBe('ok');
      await Promise.all([subUp, waitForConnected(sub)]);

      // Let the first keyframe arrive, then require growth across a ~1 s window.
      await sleep(500);
      const s1 = await inbound(sub);
      await sleep(1_000);
      const s2 = await inbound(sub);
      console.info('[janus.test] subscriber inbound', { s1, s2 });
      expect(s2.audioBytes).toBeGreaterThan(s1.audioBytes);
      expect(s2.videoBytes).toBeGreaterThan(s1.videoBytes);
      expect(s2.framesDecoded).toBeGreaterThan(s1.framesDecoded);

      await subHandle.detach();
      await pubHandle.detach();
      await admin.destroyRoom(room);
      roomCreated = false;
      expect(await admin.roomExists(room)).toBe(false);
      console.info(`[janus.test] scenario took ${(performance.now() - t0).toFixed(0)} ms`);
    } finally {
      for (const pc of pcs) pc.close();
      media.stop();
      if (roomCreated) await admin?.destroyRoom(room).catch(() => {});
      await client.destroySession().catch(() => {});
      await client.close();
    }
  });
});
