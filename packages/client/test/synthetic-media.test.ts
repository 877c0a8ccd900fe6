import wrtc from '@roamhq/wrtc';
import { afterEach, describe, expect, it } from 'vitest';
import {
  createSyntheticMediaDevices,
  type SyntheticMediaDevices,
} from '../src/node/synthetic-media.js';

const { RTCPeerConnection, nonstandard } = wrtc;

// Everything a test opens is registered here and torn down in afterEach, even when the test fails,
// so no peer connection, sink or generator leaks into the next test.
const cleanups: Array<() => void> = [];
afterEach(() => {
  for (const fn of cleanups.splice(0).reverse()) {
    try {
      fn();
    } catch {
      // best effort: a failing cleanup must not hide the others
    }
  }
});

function devices(options?: Parameters<typeof createSyntheticMediaDevices>[1]): SyntheticMediaDevices {
  return createSyntheticMediaDevices(wrtc, options);
}

async function getUserMedia(d: SyntheticMediaDevices, constraints: MediaStreamConstraints): Promise<MediaStream> {
  const stream = await d.getUserMedia(constraints);
  cleanups.push(() => stream.getTracks().forEach((t) => t.stop()));
  return stream;
}

function track<T extends MediaStreamTrack>(t: T): T {
  cleanups.push(() => t.stop());
  return t;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function waitFor(predicate: () => boolean | Promise<boolean>, timeoutMs = 15_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

async function expectDomError(p: Promise<unknown>, name: string): Promise<unknown> {
  const err = await p.then(
    () => {
      throw new Error(`expected rejection with ${name}`);
    },
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(DOMException);
  expect((err as DOMException).name).toBe(name);
  return err;
}

/** Two wrtc peer connections on loopback; `a` sends the given tracks to `b`. */
async function connect(tracks: MediaStreamTrack[], stream: MediaStream) {
  const a = new RTCPeerConnection();
  const b = new RTCPeerConnection();
  cleanups.push(() => a.close(), () => b.close());
  a.onicecandidate = (e) => void (e.candidate && b.addIceCandidate(e.candidate));
  b.onicecandidate = (e) => void (e.candidate && a.addIceCandidate(e.candidate));
  const remote: MediaStreamTrack[] = [];
  b.ontrack = (e) => void remote.push(e.track);
  for (const t of tracks) a.addTrack(t, stream);
  // The descriptions are passed on as created: reading wrtc's localDescription while ICE
  // gathers can crash the process (node-webrtc #696; see src/node/wrtc-peer-connection.ts).
  const offer = await a.createOffer();
  await a.setLocalDescription(offer);
  await b.setRemoteDescription(offer);
  const answer = await b.createAnswer();
  await b.setLocalDescription(answer);
  await a.setRemoteDescription(answer);
  await waitFor(() => b.connectionState === 'connected', 15_000, 'connectionState connected');
  return { a, b, remote };
}

interface Inbound {
  kind: string;
  trackIdentifier?: string;
  bytesReceived: number;
  framesDecoded?: number;
}

async function inboundRtp(pc: RTCPeerConnection): Promise<Inbound[]> {
  const out: Inbound[] = [];
  (await pc.getStats()).forEach((r: { type: string } & Inbound) => {
    if (r.type === 'inbound-rtp') out.push(r);
  });
  return out;
}

/** Average U and V of I420 frames seen by a sink; a rough "colour" of the camera as the receiver sees it. */
function watchVideo(t: MediaStreamTrack) {
  const sink = new nonstandard.RTCVideoSink(t);
  cleanups.push(() => sink.stop());
  const seen = { frames: 0, width: 0, height: 0, u: 0, v: 0, lumaSums: [] as number[] };
  sink.onframe = ({ frame }: { frame: { width: number; height: number; data: Uint8Array } }) => {
    const { width, height, data } = frame;
    const luma = width * height;
    const chroma = luma / 4;
    let u = 0;
    let v = 0;
    for (let i = 0; i < chroma; i++) {
      u += data[luma + i]!;
      v += data[luma + chroma + i]!;
    }
    let y = 0;
    for (let i = 0; i < luma; i += 7) y += data[i]!;
    seen.frames++;
    seen.width = width;
    seen.height = height;
    seen.u = u / chroma;
    seen.v = v / chroma;
    seen.lumaSums.push(y);
  };
  return seen;
}

/** Estimate the dominant frequency of received audio from zero crossings. */
function watchAudio(t: MediaStreamTrack) {
  const sink = new nonstandard.RTCAudioSink(t);
  cleanups.push(() => sink.stop());
  const seen = { chunks: 0, samples: 0, crossings: 0, peak: 0, sampleRate: 0, last: 0 };
  sink.ondata = (d: { samples: Int16Array; sampleRate: number; channelCount: number }) => {
    seen.chunks++;
    seen.sampleRate = d.sampleRate;
    for (let i = 0; i < d.samples.length; i += d.channelCount) {
      const s = d.samples[i]!;
      if ((s >= 0) !== (seen.last >= 0)) seen.crossings++;
      seen.peak = Math.max(seen.peak, Math.abs(s));
      seen.last = s;
      seen.samples++;
    }
  };
  return {
    seen,
    frequency: () => (seen.crossings / 2) * (seen.sampleRate / Math.max(1, seen.samples)),
  };
}

describe('createSyntheticMediaDevices', () => {
  it('enumerates the configured devices', async () => {
    const list = await devices().enumerateDevices();
    expect(list.map((d) => [d.kind, d.deviceId])).toEqual([
      ['videoinput', 'synthetic-camera-0'],
      ['videoinput', 'synthetic-camera-1'],
      ['audioinput', 'synthetic-microphone-0'],
      ['audioinput', 'synthetic-microphone-1'],
    ]);
    for (const d of list) {
      expect(d.label).toMatch(/^Synthetic (Camera|Microphone) \d$/);
      expect(d.groupId).toMatch(/^synthetic-group-\d$/);
      expect(JSON.parse(JSON.stringify(d))).toEqual({
        deviceId: d.deviceId,
        kind: d.kind,
        label: d.label,
        groupId: d.groupId,
      });
    }

    const other = await devices({ cameras: 3, microphones: 0 }).enumerateDevices();
    expect(other.map((d) => d.deviceId)).toEqual(['synthetic-camera-0', 'synthetic-camera-1', 'synthetic-camera-2']);
    expect(await devices({ cameras: 0, microphones: 0 }).enumerateDevices()).toEqual([]);
  });

  it('keeps the debug counter off the enumerable surface', () => {
    const d = devices();
    expect(Object.keys(d).sort()).toEqual(['enumerateDevices', 'getUserMedia']);
    expect(d.activeGenerators()).toBe(0);
  });

  it('sends video and audio that arrive over a loopback RTCPeerConnection', async () => {
    const d = devices();
    const stream = await getUserMedia(d, { video: true, audio: true });
    expect(stream.getVideoTracks()).toHaveLength(1);
    expect(stream.getAudioTracks()).toHaveLength(1);
    expect(d.activeGenerators()).toBe(2);

    const { b } = await connect(stream.getTracks(), stream);
    await waitFor(
      async () => {
        const stats = await inboundRtp(b);
        const video = stats.find((s) => s.kind === 'video');
        const audio = stats.find((s) => s.kind === 'audio');
        return !!video && !!audio && (video.framesDecoded ?? 0) > 0 && audio.bytesReceived > 0;
      },
      15_000,
      'first decoded frame and audio bytes',
    );

    const first = await inboundRtp(b);
    await sleep(1000);
    const second = await inboundRtp(b);
    const pick = (s: Inbound[], kind: string) => s.find((r) => r.kind === kind)!;
    expect(pick(second, 'video').bytesReceived).toBeGreaterThan(pick(first, 'video').bytesReceived);
    // 15 fps for ~1 s: allow generous slack for a loaded CI machine, but it must clearly be flowing.
    expect(pick(second, 'video').framesDecoded! - pick(first, 'video').framesDecoded!).toBeGreaterThanOrEqual(5);
    expect(pick(second, 'audio').bytesReceived).toBeGreaterThan(pick(first, 'audio').bytesReceived);
  });

  it('lets a receiver tell cameras and microphones apart', async () => {
    const d = devices();
    const cam0 = await getUserMedia(d, { video: { deviceId: { exact: 'synthetic-camera-0' } } });
    const cam1 = await getUserMedia(d, { video: { deviceId: { exact: 'synthetic-camera-1' } }, audio: { deviceId: 'synthetic-microphone-1' } });
    const tracks = [cam0.getVideoTracks()[0]!, cam1.getVideoTracks()[0]!, cam1.getAudioTracks()[0]!];

    const { remote } = await connect(tracks, cam1);
    await waitFor(() => remote.length === 3, 15_000, 'remote tracks');
    const [v0, v1] = remote.filter((t) => t.kind === 'video').map(watchVideo);
    const audio = watchAudio(remote.find((t) => t.kind === 'audio')!);
    await waitFor(() => v0!.frames >= 10 && v1!.frames >= 10 && audio.seen.samples >= 48_000, 15_000, 'remote media');

    // Camera 0 is tinted towards +U, camera 1 towards -U/+V; compression smears this only slightly.
    expect(v0!.u).toBeGreaterThan(180);
    expect(Math.abs(v0!.v - 128)).toBeLessThan(30);
    expect(v1!.u).toBeLessThan(100);
    expect(v1!.v).toBeGreaterThan(160);
    // The bar moves, so consecutive frames differ.
    expect(new Set(v0!.lumaSums.slice(-10)).size).toBeGreaterThan(1);
    // Microphone 1 plays 660 Hz at a moderate level.
    expect(audio.frequency()).toBeGreaterThan(600);
    expect(audio.frequency()).toBeLessThan(720);
    expect(audio.seen.peak).toBeGreaterThan(2000);
    expect(audio.seen.peak).toBeLessThan(20_000);
  });

  it('selects devices by id and reports accurate settings', async () => {
    const d = devices({ cameras: 3, microphones: 2 });

    const exact = await getUserMedia(d, {
      video: { deviceId: { exact: 'synthetic-camera-2' } },
      audio: { deviceId: { exact: 'synthetic-microphone-1' } },
    });
    const video = exact.getVideoTracks()[0]!;
    expect(video.getSettings()).toMatchObject({ deviceId: 'synthetic-camera-2', width: 320, height: 240, frameRate: 15 });
    expect(video.label).toBe('Synthetic Camera 2');
    expect(exact.getAudioTracks()[0]!.getSettings()).toMatchObject({ deviceId: 'synthetic-microphone-1', sampleRate: 48_000, channelCount: 1 });

    const bare = await getUserMedia(d, { video: { deviceId: 'synthetic-camera-1' } });
    expect(bare.getVideoTracks()[0]!.getSettings().deviceId).toBe('synthetic-camera-1');

    // A preferred id that does not exist falls back to the default device, as in browsers.
    const fallback = await getUserMedia(d, { video: { deviceId: { ideal: 'nope' } } });
    expect(fallback.getVideoTracks()[0]!.getSettings().deviceId).toBe('synthetic-camera-0');

    const err = await expectDomError(d.getUserMedia({ video: { deviceId: { exact: 'nope' } } }), 'OverconstrainedError');
    expect((err as { constraint?: string }).constraint).toBe('deviceId');
    await expectDomError(d.getUserMedia({ audio: { deviceId: { exact: 'synthetic-camera-0' } } }), 'OverconstrainedError');
  });

  it('honours width, height and frameRate constraints', async () => {
    const d = devices();
    const stream = await getUserMedia(d, {
      video: { width: { exact: 160 }, height: { ideal: 120 }, frameRate: 30 },
    });
    const t = stream.getVideoTracks()[0]!;
    expect(t.getSettings()).toMatchObject({ width: 160, height: 120, frameRate: 30 });
    const seen = watchVideo(t);
    await waitFor(() => seen.frames >= 3, 5_000, 'local frames');
    expect([seen.width, seen.height]).toEqual([160, 120]);

    const capped = await getUserMedia(d, { video: { width: { ideal: 640, max: 400 }, height: 200 } });
    expect(capped.getVideoTracks()[0]!.getSettings()).toMatchObject({ width: 400, height: 200 });

    await expectDomError(d.getUserMedia({ video: { width: { exact: 100_000 } } }), 'OverconstrainedError');
    expect(d.activeGenerators()).toBe(2);
  });

  it('rejects with NotFoundError when there are no cameras or microphones', async () => {
    const noCams = devices({ cameras: 0 });
    await expectDomError(noCams.getUserMedia({ video: true }), 'NotFoundError');
    await expectDomError(noCams.getUserMedia({ video: true, audio: true }), 'NotFoundError');
    const audioOnly = await getUserMedia(noCams, { audio: true });
    expect(audioOnly.getTracks().map((t) => t.kind)).toEqual(['audio']);

    const noMics = devices({ microphones: 0 });
    await expectDomError(noMics.getUserMedia({ audio: true }), 'NotFoundError');
    const videoOnly = await getUserMedia(noMics, { video: true });
    expect(videoOnly.getTracks().map((t) => t.kind)).toEqual(['video']);

    // A rejected call must not leave a generator behind.
    expect(noCams.activeGenerators()).toBe(1);
    expect(noMics.activeGenerators()).toBe(1);
  });

  it('rejects every request with NotAllowedError when denied', async () => {
    const d = devices({ deny: true });
    await expectDomError(d.getUserMedia({ video: true }), 'NotAllowedError');
    await expectDomError(d.getUserMedia({ audio: true }), 'NotAllowedError');
    await expectDomError(d.getUserMedia({ video: { deviceId: { exact: 'synthetic-camera-0' } }, audio: true }), 'NotAllowedError');
    expect(d.activeGenerators()).toBe(0);
    await expect(d.getUserMedia({})).rejects.toBeInstanceOf(TypeError);
  });

  it('stops its generators once every track and clone has ended', async () => {
    const d = devices();
    const stream = await getUserMedia(d, { video: true, audio: true });
    const [audio] = stream.getAudioTracks();
    const [video] = stream.getVideoTracks();
    const videoClone = track(video!.clone());
    const streamClone = stream.clone();
    cleanups.push(() => streamClone.getTracks().forEach((t) => t.stop()));
    expect(videoClone.getSettings().deviceId).toBe('synthetic-camera-0');
    expect(d.activeGenerators()).toBe(2);

    // Stopping the originals is not enough: wrtc clones share the native source.
    audio!.stop();
    video!.stop();
    await sleep(300);
    expect(d.activeGenerators()).toBe(2);

    // The stream clone's audio track is the last audio consumer.
    streamClone.getAudioTracks()[0]!.stop();
    await waitFor(() => d.activeGenerators() === 1, 2_000, 'audio generator to stop');

    // The clone really is still fed after the original was stopped.
    const seen = watchVideo(videoClone);
    await waitFor(() => seen.frames >= 2, 5_000, 'frames on clone');

    // A clone of a clone is tracked too.
    const grandchild = track(videoClone.clone());
    videoClone.stop();
    streamClone.getVideoTracks()[0]!.stop();
    await sleep(300);
    expect(d.activeGenerators()).toBe(1);
    grandchild.stop();
    await waitFor(() => d.activeGenerators() === 0, 2_000, 'video generator to stop');
  });

  it('does not keep the process alive: generator timers are unref()d', async () => {
    const refTimers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    const before = refTimers();
    const d = devices();
    await getUserMedia(d, { video: true, audio: true });
    expect(d.activeGenerators()).toBe(2);
    // getActiveResourcesInfo lists only ref'd timers.
    expect(refTimers()).toBe(before);
  });
});
