import { EventEmitter } from 'eventemitter3';
import type { RelayPayload } from '@opencall/protocol/lite';
import type { RtcImplementation } from './environment.js';
import type { LocalMedia, TrackKind } from './local-media.js';
import { PeerLink } from './peer-link.js';

import { updateIceServers, type CallMedia, type CallMediaEvents } from './call-media.js';

export interface MeshMediaOptions {
  rtc: RtcImplementation;
  iceServers: RTCIceServer[];
  iceTransportPolicy?: RTCIceTransportPolicy;
  local: LocalMedia;
  relay(to: string, payload: RelayPayload): void;
}

/**
 * Media of one call as a mesh: a peer connection per remote user (1:1 is a mesh of one).
 * Owns the links; knows nothing about ringing or accept.
 */
export class MeshMedia extends EventEmitter<CallMediaEvents> implements CallMedia {
  private readonly links = new Map<string, PeerLink>();

  constructor(private readonly o: MeshMediaOptions) {
    super();
  }

  has(userID: string): boolean {
    return this.links.has(userID);
  }

  /**
   * Creates the link to a user. The offerer adds transceivers of `kinds` and starts
   * negotiating; the answerer waits for the offer. The answerer is the polite side.
   */
  connect(userID: string, role: 'offerer' | 'answerer', kinds: TrackKind[]): void {
    if (this.links.has(userID)) return;
    const link = new PeerLink({
      rtc: this.o.rtc,
      iceServers: this.o.iceServers,
      iceTransportPolicy: this.o.iceTransportPolicy ?? 'all',
      polite: role === 'answerer',
      sendSignal: (payload) => this.o.relay(userID, payload),
      sendTrack: (kind) => this.o.local.sendTrack(kind),
    });
    this.links.set(userID, link);
    link.on('connected', () => this.emit('peerConnected', userID));
    link.on('failed', () => this.emit('peerFailed', userID));
    if (role === 'offerer') link.startAsOfferer(kinds);
  }

  handleRelay(from: string, payload: RelayPayload): void {
    void this.links.get(from)?.handleSignal(payload);
  }

  isConnected(userID: string): boolean {
    return this.links.get(userID)?.isConnected ?? false;
  }

  remoteStream(userID: string): MediaStream | null {
    return this.links.get(userID)?.remoteStream ?? null;
  }

  stats(userID: string): Promise<RTCStatsReport> | null {
    return this.links.get(userID)?.getStats() ?? null;
  }

  peers(): string[] {
    return [...this.links.keys()];
  }

  /** Puts the current sending track of a kind on every link. */
  updateSendTrack(kind: TrackKind, track: MediaStreamTrack | null): Promise<unknown> {
    return Promise.all([...this.links.values()].map((l) => l.setSendTrack(kind, track)));
  }

  /** Makes every link able to carry this kind (renegotiates the links that could not). */
  ensureKind(kind: TrackKind): void {
    for (const l of this.links.values()) l.ensureKind(kind);
  }

  remove(userID: string): void {
    this.links.get(userID)?.close();
    this.links.delete(userID);
  }

  setIceServers(iceServers: RTCIceServer[]): void {
    this.o.iceServers = iceServers;
    for (const l of this.links.values()) updateIceServers(l.pc, iceServers);
  }

  close(): void {
    for (const l of this.links.values()) l.close();
    this.links.clear();
    this.removeAllListeners();
  }
}
