import type { MediaState } from '@opencall/protocol/lite';
import { CallingError, ErrorCode, mediaError } from '../errors.js';
import type { RtcImplementation } from './environment.js';

/** setVideoQuality profiles (the spec's sizes; 15 fps as trtc-calling-js uses). */
export const VIDEO_PROFILES = {
  '480p': { width: 640, height: 480, frameRate: 15 },
  '720p': { width: 1280, height: 720, frameRate: 15 },
  '1080p': { width: 1920, height: 1080, frameRate: 15 },
} as const;
export type VideoProfile = keyof typeof VIDEO_PROFILES;

export type TrackKind = 'audio' | 'video';

/**
 * The local microphone and camera.
 *
 * Each captured track has a "sending" clone that goes to peer connections. The clone is
 * disabled until the call is live (accepted), so a connection negotiated while the phone
 * rings carries only silence and black frames; going live flips `enabled` and real media
 * flows at once. The original stays enabled for the local preview.
 */
export class LocalMedia {
  private mic: MediaStreamTrack | null = null;
  private camera: MediaStreamTrack | null = null;
  private sendMic: MediaStreamTrack | null = null;
  private sendCamera: MediaStreamTrack | null = null;
  private live = false;
  private micMuted = false;
  private previewStream: MediaStream | null = null;
  private readonly opening: Record<TrackKind, Promise<void> | null> = { audio: null, video: null };
  /** Bumped by release(): a capture that finishes after it is stopped, not kept. */
  private generation = 0;

  /** Called when a sending track appears or goes away, so peer connections can swap it in. */
  onSendTrackChanged: (kind: TrackKind, track: MediaStreamTrack | null) => void = () => {};

  constructor(
    private readonly rtc: RtcImplementation,
    public profile: VideoProfile = '480p',
  ) {}

  get hasMic(): boolean {
    return this.mic !== null;
  }

  get hasCamera(): boolean {
    return this.camera !== null;
  }

  /** What the others should be told we send. */
  state(): MediaState {
    return { audio: this.mic !== null && !this.micMuted, video: this.camera !== null };
  }

  sendTrack(kind: TrackKind): MediaStreamTrack | null {
    return kind === 'audio' ? this.sendMic : this.sendCamera;
  }

  /** Original tracks for the local view (null when nothing is open). */
  localStream(): MediaStream | null {
    const tracks = [this.mic, this.camera].filter((t): t is MediaStreamTrack => t !== null);
    if (tracks.length === 0 || !this.rtc.MediaStream) return null;
    const current = this.previewStream?.getTracks() ?? [];
    if (this.previewStream && current.length === tracks.length && tracks.every((t) => current.includes(t))) return this.previewStream;
    this.previewStream = new this.rtc.MediaStream(tracks);
    return this.previewStream;
  }

  /** Opens the microphone if it is not open; throws 60003/60005 (or 60006 without devices). */
  openMic(deviceId?: string): Promise<void> {
    if (this.mic && !deviceId) return Promise.resolve();
    return this.once('audio', deviceId, (id) => this.capture('audio', id ? { deviceId: { exact: id } } : true));
  }

  /** Opens the camera at the current profile; throws 60004/60005 (or 60006). */
  openCamera(deviceId?: string): Promise<void> {
    if (this.camera && !deviceId) return Promise.resolve();
    return this.once('video', deviceId, (id) => {
      const p = VIDEO_PROFILES[this.profile];
      return this.capture('video', {
        width: { ideal: p.width },
        height: { ideal: p.height },
        frameRate: { ideal: p.frameRate },
        ...(id && { deviceId: { exact: id } }),
      });
    });
  }

  /**
   * Concurrent opens of the default device share one capture (accept() inside an INVITED
   * handler races the open started while ringing): one getUserMedia, one error.
   */
  private once(kind: TrackKind, explicitId: string | undefined, capture: (deviceId: string | undefined) => Promise<MediaStreamTrack>): Promise<void> {
    const open = async () => {
      const gen = this.generation;
      const track = await capture(explicitId);
      if (gen !== this.generation) return track.stop(); // released while the device was opening
      this.replace(kind, track);
    };
    if (explicitId) return open();
    const pending = this.opening[kind];
    if (pending) return pending;
    const p = open().finally(() => {
      if (this.opening[kind] === p) this.opening[kind] = null;
    });
    this.opening[kind] = p;
    return p;
  }


  /**
   * Switches an open microphone or camera to this device (replaceTrack on every connection).
   * A closed one stays closed: switching never turns a device on by itself.
   */
  async useDevice(kind: TrackKind, deviceId: string): Promise<void> {
    if (kind === 'audio' && this.mic) await this.openMic(deviceId);
    else if (kind === 'video' && this.camera) await this.openCamera(deviceId);
  }

  /** Stops the camera (its light goes off) and withdraws the video sending track. */
  closeCamera(): void {
    this.replace('video', null);
  }

  setMicMute(muted: boolean): void {
    this.micMuted = muted;
    this.applyGates();
  }

  get isMicMuted(): boolean {
    return this.micMuted;
  }

  /** Live = the call is accepted: sending clones carry real media from now on. */
  setLive(live: boolean): void {
    this.live = live;
    this.applyGates();
  }

  /** Stops every track; the devices are free again. */
  release(): void {
    this.generation++;
    this.replace('audio', null);
    this.replace('video', null);
    this.live = false;
    this.micMuted = false;
    this.previewStream = null;
  }

  private async capture(kind: TrackKind, constraint: boolean | MediaTrackConstraints): Promise<MediaStreamTrack> {
    const devices = this.rtc.mediaDevices;
    if (!devices?.getUserMedia) {
      throw new CallingError(ErrorCode.WEBRTC_UNSUPPORTED, 'this environment has no getUserMedia (a secure context, https or localhost, is required in browsers)');
    }
    let stream: MediaStream;
    try {
      stream = await devices.getUserMedia(kind === 'audio' ? { audio: constraint } : { video: constraint });
    } catch (err) {
      throw mediaError(err, kind);
    }
    const track = kind === 'audio' ? stream.getAudioTracks()[0] : stream.getVideoTracks()[0];
    if (!track) throw mediaError(new Error('the device gave no track'), kind);
    return track;
  }

  private replace(kind: TrackKind, track: MediaStreamTrack | null): void {
    const oldTrack = kind === 'audio' ? this.mic : this.camera;
    const oldSend = kind === 'audio' ? this.sendMic : this.sendCamera;
    const send = track ? track.clone() : null;
    if (kind === 'audio') {
      this.mic = track;
      this.sendMic = send;
    } else {
      this.camera = track;
      this.sendCamera = send;
    }
    this.applyGates();
    if (oldSend !== send) this.onSendTrackChanged(kind, send);
    oldSend?.stop();
    oldTrack?.stop();
  }

  private applyGates(): void {
    if (this.sendMic) this.sendMic.enabled = this.live && !this.micMuted;
    if (this.sendCamera) this.sendCamera.enabled = this.live;
  }
}
