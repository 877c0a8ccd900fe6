import { EventEmitter } from 'eventemitter3';
import type { SfuStreamInfo } from '@opencall/protocol/lite';
import type { RtcImplementation } from './environment.js';
import type { LocalMedia, TrackKind } from './local-media.js';
import { updateIceServers, type CallMedia, type CallMediaEvents } from './call-media.js';
import type { Request } from '../signal/signal-client.js';

export interface SfuMediaOptions {
  rtc: RtcImplementation;
  iceServers: RTCIceServer[];
  iceTransportPolicy?: RTCIceTransportPolicy;
  local: LocalMedia;
  inviteID: string;
  request<T>(msg: Request): Promise<T>;
  send(msg: Request): void;
}

/**
 * Media of one call through the SFU (Janus VideoRoom, reached only through the OpenCall
 * server): one sending connection (we offer, the SFU answers) and one receiving connection
 * carrying every other participant (the SFU offers, we answer), whose transceivers are mapped
 * to users by `mid`. Same events and queries as {@link MeshMedia}, so the call controller
 * treats both paths alike.
 */
export class SfuMedia extends EventEmitter<CallMediaEvents> implements CallMedia {
  private pub: RTCPeerConnection | null = null;
  private sub: RTCPeerConnection | null = null;
  private subConnected = false;
  private byMid = new Map<string, SfuStreamInfo>();
  private readonly userStreams = new Map<string, MediaStream>();
  private readonly announced = new Set<string>();
  /** Offers are answered one at a time, in the order they came. */
  private offers: Promise<void> = Promise.resolve();
  private closed = false;

  constructor(private readonly o: SfuMediaOptions) {
    super();
  }

  /** Sends our tracks to the SFU (the call is joined). */
  async publish(kinds: TrackKind[]): Promise<void> {
    if (this.pub || this.closed) return;
    const pc = this.newConnection('publisher');
    this.pub = pc;
    for (const kind of kinds) pc.addTransceiver(this.o.local.sendTrack(kind) ?? kind, { direction: 'sendonly' });
    const offer = await pc.createOffer();
    await pc.setLocalDescription(offer);
    const r = await this.o.request<{ sdp: string }>({ t: 'sfu', inviteID: this.o.inviteID, op: 'publish', sdp: pc.localDescription!.sdp });
    if (this.closed) return;
    await pc.setRemoteDescription({ type: 'answer', sdp: r.sdp });
  }

  /** A (re)offer for the receiving connection, with the complete mid → user map. */
  onOffer(sdp: string, streams: SfuStreamInfo[]): Promise<void> {
    this.offers = this.offers.then(() => this.answer(sdp, streams)).catch(() => {
      /* the connection state reports real failure; later offers still get answered */
    });
    return this.offers;
  }

  has(_userID: string): boolean {
    return false;
  }

  /** Mesh-only operations: the SFU path is driven by the server's offers. */
  connect(): void {}
  handleRelay(): void {}
  ensureKind(): void {}

  isConnected(userID: string): boolean {
    return this.subConnected && (this.userStreams.get(userID)?.getTracks().length ?? 0) > 0;
  }

  remoteStream(userID: string): MediaStream | null {
    return this.userStreams.get(userID) ?? null;
  }

  peers(): string[] {
    return [...this.userStreams.keys()];
  }

  /** Stats of one user's streams: the receiving connection's entries for their mids, plus transport and our sources. */
  async stats(userID: string): Promise<RTCStatsReport> {
    const mids = new Set([...this.byMid].filter(([, s]) => s.userID === userID).map(([mid]) => mid));
    const out = new Map<string, unknown>();
    const [sub, pub] = await Promise.all([this.sub?.getStats(), this.pub?.getStats()]);
    sub?.forEach((r: any) => {
      if (r.type === 'inbound-rtp' && !mids.has(String(r.mid))) return;
      if (r.type === 'track' && r.remoteSource) return; // legacy stats cannot be told apart per user
      out.set(r.id, r);
    });
    pub?.forEach((r: any) => {
      if (r.type === 'media-source' || r.type === 'remote-inbound-rtp') out.set(`pub-${r.id}`, r);
    });
    return out as unknown as RTCStatsReport;
  }

  async updateSendTrack(kind: TrackKind, track: MediaStreamTrack | null): Promise<void> {
    for (const t of this.pub?.getTransceivers() ?? []) {
      if (t.receiver.track?.kind === kind && !this.closed) await t.sender.replaceTrack(track);
    }
  }

  /** The SFU renegotiates by itself when someone leaves; nothing to do here. */
  remove(userID: string): void {
    this.userStreams.delete(userID);
    this.announced.delete(userID);
  }

  setIceServers(iceServers: RTCIceServer[]): void {
    this.o.iceServers = iceServers;
    for (const pc of [this.pub, this.sub]) updateIceServers(pc, iceServers);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const pc of [this.pub, this.sub]) {
      if (!pc) continue;
      pc.onicecandidate = pc.ontrack = pc.onconnectionstatechange = null;
      pc.close();
    }
    this.removeAllListeners();
  }

  private async answer(sdp: string, streams: SfuStreamInfo[]): Promise<void> {
    if (this.closed) return;
    if (!this.sub) {
      const pc = this.newConnection('subscriber');
      this.sub = pc;
      pc.onconnectionstatechange = () => {
        if (pc.connectionState === 'connected' && !this.subConnected) {
          this.subConnected = true;
          this.announce();
        } else if (pc.connectionState === 'failed') {
          for (const userID of this.userStreams.keys()) this.emit('peerFailed', userID);
        }
      };
    }
    const pc = this.sub;
    await pc.setRemoteDescription({ type: 'offer', sdp });
    const answer = await pc.createAnswer();
    await pc.setLocalDescription(answer);
    this.byMid = new Map(streams.map((s) => [s.mid, s]));
    this.remap();
    await this.o.request({ t: 'sfu', inviteID: this.o.inviteID, op: 'answer', sdp: pc.localDescription!.sdp });
    this.announce();
  }

  /** Rebuilds each user's stream from the transceivers the latest map assigns to them (mids get recycled). */
  private remap(): void {
    const want = new Map<string, MediaStreamTrack[]>();
    for (const t of this.sub?.getTransceivers() ?? []) {
      const info = t.mid === null ? undefined : this.byMid.get(t.mid);
      if (!info || t.currentDirection === 'inactive' || t.currentDirection === 'stopped') continue;
      want.set(info.userID, [...(want.get(info.userID) ?? []), t.receiver.track]);
    }
    for (const [userID, stream] of this.userStreams) {
      const tracks = want.get(userID) ?? [];
      for (const t of stream.getTracks()) if (!tracks.includes(t)) stream.removeTrack(t);
    }
    for (const [userID, tracks] of want) {
      let stream = this.userStreams.get(userID);
      if (!stream) {
        stream = this.o.rtc.MediaStream ? new this.o.rtc.MediaStream() : null!;
        if (!stream) continue;
        this.userStreams.set(userID, stream);
      }
      for (const t of tracks) if (!stream.getTracks().includes(t)) stream.addTrack(t);
    }
  }

  private announce(): void {
    if (!this.subConnected) return;
    for (const userID of this.userStreams.keys()) {
      if (this.announced.has(userID) || !this.isConnected(userID)) continue;
      this.announced.add(userID);
      this.emit('peerConnected', userID);
    }
  }

  private newConnection(target: 'publisher' | 'subscriber'): RTCPeerConnection {
    const pc = new this.o.rtc.RTCPeerConnection({
      iceServers: this.o.iceServers,
      iceTransportPolicy: this.o.iceTransportPolicy ?? 'all',
      bundlePolicy: 'max-bundle',
      rtcpMuxPolicy: 'require',
    });
    pc.onicecandidate = (e) => {
      const c = e.candidate;
      this.o.send({
        t: 'sfu',
        inviteID: this.o.inviteID,
        op: 'trickle',
        target,
        candidate: c && c.candidate ? { candidate: c.candidate, sdpMid: c.sdpMid ?? null, sdpMLineIndex: c.sdpMLineIndex ?? null } : null,
      });
    };
    if (target === 'subscriber') pc.ontrack = () => this.remap();
    return pc;
  }
}
