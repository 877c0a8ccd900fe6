/**
 * Synthetic camera and microphone for Node, built on the non-standard media sources of a
 * node-webrtc build such as `@roamhq/wrtc`.
 *
 * wrtc's own `mediaDevices.getUserMedia` hands out tracks that never carry a single frame, so
 * bots and tests that want real media flowing over a real RTCPeerConnection need a source that
 * actually produces pictures and sound. This module fakes the devices and drives
 * `RTCVideoSource` / `RTCAudioSource` from timers.
 *
 * The wrtc module is passed in rather than imported so that `@opencall/client` never depends on
 * it; only the structural types below describe the part of it we use.
 *
 * Standalone scripts: our timers never hold the process open, but a wrtc track that is still live
 * does, and (observed with @roamhq/wrtc 0.10) a process that created any wrtc media source or
 * closed a peer connection segfaults during natural exit. Stop the tracks and call
 * `process.exit()` explicitly when done.
 */

/** The subset of a wrtc `MediaStreamTrack` this module relies on. */
export interface WrtcTrackLike {
  readonly id: string;
  readonly kind: string;
  readonly readyState: string;
  enabled: boolean;
  clone(): WrtcTrackLike;
  stop(): void;
  getSettings?(): object;
}

/** The subset of a wrtc `MediaStream` this module relies on. */
export interface WrtcStreamLike {
  getTracks(): WrtcTrackLike[];
  clone(): WrtcStreamLike;
}

/** An I420 frame as accepted by `RTCVideoSource.onFrame`. */
export interface WrtcVideoFrame {
  width: number;
  height: number;
  // wrtc's typings say Uint8Array, its README and runtime also take Uint8ClampedArray.
  data: Uint8Array | Uint8ClampedArray;
}

/** 16-bit PCM as accepted by `RTCAudioSource.onData`; always exactly 10 ms of audio. */
export interface WrtcAudioData {
  samples: Int16Array;
  sampleRate: number;
  bitsPerSample?: number;
  channelCount?: number;
  numberOfFrames?: number;
}

/** Structural type for the parts of the wrtc module used here (`MediaStream` and `nonstandard` sources). */
export interface WrtcLike {
  // `never[]` keeps wrtc's DOM-typed constructor (which wants real MediaStreamTrack[]) assignable.
  MediaStream: new (tracks: never[]) => WrtcStreamLike;
  nonstandard: {
    RTCVideoSource: new () => { createTrack(): WrtcTrackLike; onFrame(frame: WrtcVideoFrame): void };
    RTCAudioSource: new () => { createTrack(): WrtcTrackLike; onData(data: WrtcAudioData): void };
  };
}

/** Options for {@link createSyntheticMediaDevices}. */
export interface SyntheticMediaOptions {
  /** Number of cameras to expose (default 2; 0 makes video requests fail with NotFoundError). */
  cameras?: number;
  /** Number of microphones to expose (default 2; 0 makes audio requests fail with NotFoundError). */
  microphones?: number;
  /** Default video width when the constraints do not ask for one (default 320). */
  width?: number;
  /** Default video height when the constraints do not ask for one (default 240). */
  height?: number;
  /** Default frame rate when the constraints do not ask for one (default 15). */
  frameRate?: number;
  /** Simulate a user who refused permission: every getUserMedia rejects with NotAllowedError. */
  deny?: boolean;
}

/** What `enumerateDevices` returns for each synthetic device (shaped like a DOM MediaDeviceInfo). */
export interface SyntheticDeviceInfo {
  readonly deviceId: string;
  readonly kind: 'videoinput' | 'audioinput';
  readonly label: string;
  readonly groupId: string;
  toJSON(): { deviceId: string; kind: 'videoinput' | 'audioinput'; label: string; groupId: string };
}

/** The part of `navigator.mediaDevices` the client SDK needs. */
export interface MediaDevicesLike {
  getUserMedia(constraints: MediaStreamConstraints): Promise<MediaStream>;
  enumerateDevices(): Promise<SyntheticDeviceInfo[]>;
}

/** {@link MediaDevicesLike} plus a debugging hook (non-enumerable on the returned object). */
export interface SyntheticMediaDevices extends MediaDevicesLike {
  /** Number of frame/sample generators still running; drops to 0 once every track and clone is stopped. */
  activeGenerators(): number;
}

const SAMPLE_RATE = 48_000;
const AUDIO_FRAME_MS = 10;
const SAMPLES_PER_FRAME = (SAMPLE_RATE * AUDIO_FRAME_MS) / 1000;
// Catch up at most this many audio frames per tick; beyond that we are stalled and skip ahead
// rather than bursting seconds of audio into the encoder.
const MAX_AUDIO_CATCH_UP = 10;
const AMPLITUDE = 0.25 * 32767; // about -12 dBFS: clearly audible, nowhere near clipping

const VIDEO_LIMITS = {
  width: { min: 2, max: 1920 },
  height: { min: 2, max: 1080 },
  frameRate: { min: 1, max: 60 },
} as const;

type ConstraintValue<T> = T | T[] | { exact?: T | T[]; ideal?: T | T[]; min?: T; max?: T };

interface DeviceDescriptor {
  readonly id: string;
  readonly index: number;
  readonly label: string;
  readonly groupId: string;
}

/**
 * Create a `navigator.mediaDevices` stand-in whose devices produce real media through wrtc.
 *
 * Each getUserMedia call gets fresh sources driven by `unref()`'d timers; a generator stops on its
 * own once every track made from its source (including clones) has `readyState === 'ended'`.
 */
export function createSyntheticMediaDevices(
  wrtc: WrtcLike,
  options: SyntheticMediaOptions = {},
): SyntheticMediaDevices {
  const cameras = makeDevices('camera', 'Synthetic Camera', count(options.cameras, 2));
  const microphones = makeDevices('microphone', 'Synthetic Microphone', count(options.microphones, 2));
  const defaults = {
    width: options.width ?? 320,
    height: options.height ?? 240,
    frameRate: options.frameRate ?? 15,
  };
  let active = 0;
  const onStart = () => void active++;
  const onStop = () => void active--;

  const devices: MediaDevicesLike = {
    async getUserMedia(constraints: MediaStreamConstraints): Promise<MediaStream> {
      const wantVideo = constraints?.video;
      const wantAudio = constraints?.audio;
      if (!wantVideo && !wantAudio) {
        // Same as browsers: asking for nothing is a programming error, not a device problem.
        throw new TypeError("getUserMedia: at least one of 'audio' and 'video' must be requested");
      }
      if (options.deny) throw domError('NotAllowedError', 'Permission denied (synthetic media: deny=true)');
      if (wantVideo && cameras.length === 0) throw domError('NotFoundError', 'Requested device not found (no synthetic cameras)');
      if (wantAudio && microphones.length === 0) throw domError('NotFoundError', 'Requested device not found (no synthetic microphones)');

      // Resolve everything before creating sources so a rejected call starts no timers.
      const video = wantVideo
        ? resolveVideo(cameras, wantVideo === true ? {} : wantVideo, defaults)
        : undefined;
      const audio = wantAudio
        ? selectDevice(microphones, wantAudio === true ? undefined : (wantAudio.deviceId as ConstraintValue<string>))
        : undefined;

      const tracks: WrtcTrackLike[] = [];
      if (audio) tracks.push(startAudio(wrtc, audio, onStart, onStop));
      if (video) tracks.push(startVideo(wrtc, video, onStart, onStop));
      const stream = new wrtc.MediaStream(tracks as never[]);
      patchStreamClone(wrtc, stream);
      return stream as unknown as MediaStream;
    },
    async enumerateDevices(): Promise<SyntheticDeviceInfo[]> {
      return [
        ...cameras.map((d) => deviceInfo(d, 'videoinput')),
        ...microphones.map((d) => deviceInfo(d, 'audioinput')),
      ];
    },
  };
  // Non-enumerable so spreading or logging the object shows only the standard surface.
  Object.defineProperty(devices, 'activeGenerators', { value: () => active, enumerable: false });
  return devices as SyntheticMediaDevices;
}

function count(value: number | undefined, fallback: number): number {
  return Math.max(0, Math.floor(value ?? fallback));
}

function makeDevices(kind: string, label: string, n: number): DeviceDescriptor[] {
  return Array.from({ length: n }, (_, index) => ({
    id: `synthetic-${kind}-${index}`,
    index,
    label: `${label} ${index}`,
    // Camera i and microphone i share a group, like the camera and mic of one physical webcam.
    groupId: `synthetic-group-${index}`,
  }));
}

function deviceInfo(d: DeviceDescriptor, kind: 'videoinput' | 'audioinput'): SyntheticDeviceInfo {
  const json = { deviceId: d.id, kind, label: d.label, groupId: d.groupId };
  return { ...json, toJSON: () => ({ ...json }) };
}

function domError(name: string, message: string, extra?: Record<string, unknown>): Error {
  // Node 20 has a global DOMException; fall back to a plain Error carrying the same name elsewhere.
  const err: Error =
    typeof DOMException === 'function' ? new DOMException(message, name) : Object.assign(new Error(message), { name });
  return extra ? Object.assign(err, extra) : err;
}

/** Pick a device from a `deviceId` constraint: exact ids must exist, bare/ideal ids fall back to the default device. */
function selectDevice(list: DeviceDescriptor[], constraint: ConstraintValue<string> | undefined): DeviceDescriptor {
  const first = list[0]!; // callers have already rejected empty lists with NotFoundError
  if (constraint === undefined) return first;
  const asList = (v: string | string[] | undefined) => (v === undefined ? undefined : Array.isArray(v) ? v : [v]);
  if (typeof constraint === 'object' && !Array.isArray(constraint)) {
    const exact = asList(constraint.exact);
    if (exact) {
      const found = list.find((d) => exact.includes(d.id));
      if (!found) throw domError('OverconstrainedError', 'No synthetic device matches deviceId', { constraint: 'deviceId' });
      return found;
    }
    const ideal = asList(constraint.ideal);
    return (ideal && list.find((d) => ideal.includes(d.id))) ?? first;
  }
  const ideal = asList(constraint);
  return list.find((d) => ideal?.includes(d.id)) ?? first;
}

interface VideoRequest {
  device: DeviceDescriptor;
  width: number;
  height: number;
  frameRate: number;
}

function resolveVideo(
  cameras: DeviceDescriptor[],
  c: MediaTrackConstraints,
  defaults: { width: number; height: number; frameRate: number },
): VideoRequest {
  const device = selectDevice(cameras, c.deviceId as ConstraintValue<string> | undefined);
  // I420 subsamples chroma 2x2, so keep the picture size even.
  const even = (n: number) => Math.max(2, Math.round(n / 2) * 2);
  return {
    device,
    width: even(resolveNumber('width', c.width, defaults.width)),
    height: even(resolveNumber('height', c.height, defaults.height)),
    frameRate: resolveNumber('frameRate', c.frameRate, defaults.frameRate),
  };
}

/** Loosely apply a numeric constraint: exact > ideal > bare number > default, clamped to min/max and our limits. */
function resolveNumber(name: keyof typeof VIDEO_LIMITS, c: ConstrainULong | ConstrainDouble | undefined, fallback: number): number {
  const limits = VIDEO_LIMITS[name];
  if (typeof c === 'number') return clamp(c, limits.min, limits.max);
  if (c === undefined) return clamp(fallback, limits.min, limits.max);
  const lo = Math.max(limits.min, c.min ?? limits.min);
  const hi = Math.min(limits.max, c.max ?? limits.max);
  const outOfRange = (v: number) => v < limits.min || v > limits.max;
  if (lo > hi || (c.exact !== undefined && (outOfRange(c.exact) || c.exact < lo || c.exact > hi))) {
    throw domError('OverconstrainedError', `Cannot satisfy ${name} constraint`, { constraint: name });
  }
  return clamp(c.exact ?? c.ideal ?? fallback, lo, hi);
}

function clamp(v: number, lo: number, hi: number): number {
  return Math.min(hi, Math.max(lo, v));
}

/**
 * Keeps a generator alive while any of its tracks is live. wrtc's `track.clone()` creates a new
 * track on the same native source, so frames keep reaching a clone after the original is stopped;
 * every clone is therefore registered here as well (see {@link decorateTrack}).
 */
class Liveness {
  private readonly tracks = new Set<WrtcTrackLike>();
  stopped = false;

  add(track: WrtcTrackLike): void {
    if (!this.stopped) this.tracks.add(track);
  }

  /** Drop ended tracks; true while at least one track is still live. wrtc fires no 'ended' on stop(), so we poll. */
  anyLive(): boolean {
    for (const t of this.tracks) if (t.readyState === 'ended') this.tracks.delete(t);
    return this.tracks.size > 0;
  }
}

/**
 * Run `tick` every `intervalMs` until no track is live. The timer is unref'd: a forgotten track must
 * never keep a bot or test process alive.
 */
function runGenerator(liveness: Liveness, intervalMs: number, tick: () => void, onStart: () => void, onStop: () => void): void {
  onStart();
  const handle: unknown = setInterval(() => {
    if (!liveness.anyLive()) {
      clearInterval(handle as number);
      liveness.stopped = true;
      onStop();
      return;
    }
    tick();
  }, intervalMs);
  // DOM typings (this package builds without @types/node) type the handle as a number.
  (handle as { unref?: () => void }).unref?.();
}

/** Give a wrtc track the bits of a browser track we can fake (label, accurate settings) and register its clones. */
function decorateTrack(track: WrtcTrackLike, liveness: Liveness, label: string, settings: Record<string, unknown>): WrtcTrackLike {
  liveness.add(track);
  const nativeClone = track.clone;
  const nativeSettings = track.getSettings;
  // wrtc tracks have no label, and their getSettings() reports a fake 640x480@30 device.
  Object.defineProperty(track, 'label', { value: label, enumerable: true, configurable: true });
  Object.defineProperty(track, 'getSettings', {
    value: () => ({ ...(nativeSettings ? nativeSettings.call(track) : {}), ...settings }),
    configurable: true,
    writable: true,
  });
  Object.defineProperty(track, 'clone', {
    value: () => decorateTrack(nativeClone.call(track), liveness, label, settings),
    configurable: true,
    writable: true,
  });
  return track;
}

/** wrtc's `MediaStream.clone()` clones tracks natively, bypassing our per-track clone; route it through them. */
function patchStreamClone(wrtc: WrtcLike, stream: WrtcStreamLike): void {
  Object.defineProperty(stream, 'clone', {
    value: () => {
      const copy = new wrtc.MediaStream(stream.getTracks().map((t) => t.clone()) as never[]);
      patchStreamClone(wrtc, copy);
      return copy;
    },
    configurable: true,
    writable: true,
  });
}

function startVideo(wrtc: WrtcLike, req: VideoRequest, onStart: () => void, onStop: () => void): WrtcTrackLike {
  const source = new wrtc.nonstandard.RTCVideoSource();
  const liveness = new Liveness();
  const track = decorateTrack(source.createTrack(), liveness, req.device.label, {
    deviceId: req.device.id,
    groupId: req.device.groupId,
    width: req.width,
    height: req.height,
    aspectRatio: req.width / req.height,
    frameRate: req.frameRate,
  });
  const draw = createPattern(req.width, req.height, req.device.index);
  const started = performance.now();
  runGenerator(liveness, 1000 / req.frameRate, () => source.onFrame(draw(performance.now() - started)), onStart, onStop);
  return track;
}

/**
 * A per-camera test card: a constant chroma tint (hue spread by the golden angle so neighbouring
 * cameras look clearly different), a bright vertical bar sweeping across the luma plane at a
 * camera-specific speed and direction, and `index + 1` white blocks in the top-left corner.
 * Motion matters: a static picture compresses to almost nothing and would hide a stalled pipeline.
 */
function createPattern(width: number, height: number, index: number): (elapsedMs: number) => WrtcVideoFrame {
  const lumaSize = width * height;
  const chromaSize = (width / 2) * (height / 2);
  const data = new Uint8ClampedArray(lumaSize + 2 * chromaSize);
  const hue = (index * 137.508 * Math.PI) / 180;
  data.fill(128 + Math.round(96 * Math.cos(hue)), lumaSize, lumaSize + chromaSize); // U
  data.fill(128 + Math.round(96 * Math.sin(hue)), lumaSize + chromaSize); // V
  const barWidth = Math.max(2, Math.round(width / 8));
  const pxPerSecond = (width / 2) * (1 + index * 0.5) * (index % 2 === 0 ? 1 : -1);
  const block = Math.max(2, Math.round(Math.min(width, height) / 12));
  const frame: WrtcVideoFrame = { width, height, data };

  return (elapsedMs) => {
    const span = width + barWidth;
    const barX = ((((elapsedMs / 1000) * pxPerSecond) % span) + span) % span - barWidth;
    for (let y = 0; y < height; y++) {
      const row = y * width;
      const base = 40 + Math.round((y / height) * 60); // soft vertical gradient behind the bar
      data.fill(base, row, row + width);
      const from = Math.max(0, Math.floor(barX));
      const to = Math.min(width, Math.floor(barX + barWidth));
      if (to > from) data.fill(235, row + from, row + to);
    }
    for (let b = 0; b <= index; b++) {
      const x0 = block + b * block * 2;
      if (x0 + block > width || 2 * block > height) break;
      for (let y = block; y < 2 * block; y++) data.fill(235, y * width + x0, y * width + x0 + block);
    }
    return frame;
  };
}

function startAudio(wrtc: WrtcLike, device: DeviceDescriptor, onStart: () => void, onStop: () => void): WrtcTrackLike {
  const source = new wrtc.nonstandard.RTCAudioSource();
  const liveness = new Liveness();
  const track = decorateTrack(source.createTrack(), liveness, device.label, {
    deviceId: device.id,
    groupId: device.groupId,
    sampleRate: SAMPLE_RATE,
    sampleSize: 16,
    channelCount: 1,
  });
  const frequency = 440 + 220 * device.index; // 440 Hz, 660 Hz, 880 Hz, ...
  const step = (2 * Math.PI * frequency) / SAMPLE_RATE;
  const samples = new Int16Array(SAMPLES_PER_FRAME);
  const data: WrtcAudioData = {
    samples,
    sampleRate: SAMPLE_RATE,
    bitsPerSample: 16,
    channelCount: 1,
    numberOfFrames: SAMPLES_PER_FRAME,
  };
  let phase = 0;
  let sent = 0;
  let origin = performance.now();
  // Timers fire late and irregularly, so send as many 10 ms frames as wall-clock time says are due
  // instead of one per tick; otherwise the receiver would hear a slowed-down, gappy tone.
  runGenerator(
    liveness,
    AUDIO_FRAME_MS,
    () => {
      let due = Math.floor((performance.now() - origin) / AUDIO_FRAME_MS) - sent;
      if (due > MAX_AUDIO_CATCH_UP) {
        origin = performance.now() - AUDIO_FRAME_MS; // stalled (e.g. debugger): resync instead of bursting
        sent = 0;
        due = 1;
      }
      for (let f = 0; f < due; f++) {
        for (let i = 0; i < SAMPLES_PER_FRAME; i++) {
          samples[i] = Math.round(AMPLITUDE * Math.sin(phase));
          phase += step;
        }
        phase %= 2 * Math.PI;
        source.onData(data);
        sent++;
      }
    },
    onStart,
    onStop,
  );
  return track;
}
