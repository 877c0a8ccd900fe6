import { EventEmitter } from 'eventemitter3';
import type { RelayPayload } from '@opencall/protocol/lite';
import type { RtcImplementation } from './environment.js';
import type { TrackKind } from './local-media.js';
import { PathRepair } from './path-repair.js';

export interface PeerLinkOptions {
  rtc: RtcImplementation;
  iceServers: RTCIceServer[];
  /** 'relay': use TURN relays only (RTCConfiguration.iceTransportPolicy). Default 'all'. */
  iceTransportPolicy?: RTCIceTransportPolicy;
  /** The polite side yields when both offer at once (perfect negotiation). */
  polite: boolean;
  sendSignal(payload: RelayPayload): void;
  /** Current sending track of a kind (null = send nothing yet). */
  sendTrack(kind: TrackKind): MediaStreamTrack | null;
}

export interface PeerLinkEvents {
  connected: [];
  /** ICE/DTLS gave up; the impolite side now tries ICE restarts until the path is back or the link closes. */
  failed: [];
  track: [MediaStreamTrack];
}

/**
 * One RTCPeerConnection to one remote user, negotiated over the signaling relay with the
 * "perfect negotiation" pattern, so either side may renegotiate at any time.
 *
 * Media path repair: once connected, a path that goes `failed` (or stays `disconnected`) is
 * restarted with an ICE restart over the same relay. Only the impolite side restarts, so the
 * two sides never send crossing restart offers; the polite side simply answers.
 */
export class PeerLink extends EventEmitter<PeerLinkEvents> {
  readonly pc: RTCPeerConnection;
  readonly remoteStream: MediaStream | null;
  private makingOffer = false;
  private ignoreOffer = false;
  private closed = false;
  private pendingCandidates: RTCIceCandidateInit[] = [];
  /** Incoming signals are handled one at a time: SDP steps must not interleave. */
  private queue: Promise<void> = Promise.resolve();
  private wasConnected = false;
  /** Only the impolite side repairs (see the class comment). */
  private readonly repair: PathRepair | undefined;

  constructor(private readonly o: PeerLinkOptions) {
    super();
    this.pc = new o.rtc.RTCPeerConnection({ iceServers: o.iceServers, iceTransportPolicy: o.iceTransportPolicy ?? 'all', bundlePolicy: 'max-bundle', rtcpMuxPolicy: 'require' });
    this.remoteStream = o.rtc.MediaStream ? new o.rtc.MediaStream() : null;
    this.pc.onicecandidate = (e) => {
      if (!e.candidate || !e.candidate.candidate) return;
      const c = e.candidate;
      o.sendSignal({ kind: 'ice', candidate: c.candidate, sdpMid: c.sdpMid ?? null, sdpMLineIndex: c.sdpMLineIndex ?? null });
    };
    this.pc.ontrack = (e) => {
      this.remoteStream?.addTrack(e.track);
      this.emit('track', e.track);
    };
    this.pc.onconnectionstatechange = () => {
      const s = this.pc.connectionState;
      if (s === 'connected' && !this.wasConnected) {
        this.wasConnected = true;
        this.emit('connected');
      } else if (s === 'failed') this.emit('failed');
      this.repair?.watch();
    };
    if (!o.polite) this.repair = new PathRepair(this.pc, () => this.restartIce());
    // ICE state moves first (connectionState also waits for DTLS): watch both.
    this.pc.oniceconnectionstatechange = () => this.repair?.watch();
    this.pc.onnegotiationneeded = () => void this.offer();
  }

  /** ICE restarts this side has started (diagnostics and tests). */
  get iceRestarts(): number {
    return this.repair?.restarts ?? 0;
  }

  get isConnected(): boolean {
    return this.wasConnected && !this.closed && this.pc.connectionState === 'connected';
  }

  /** Offerer side: add one sendrecv transceiver per kind; negotiation follows by itself. */
  startAsOfferer(kinds: TrackKind[]): void {
    for (const kind of kinds) {
      const track = this.o.sendTrack(kind);
      this.pc.addTransceiver(track ?? kind, { direction: 'sendrecv' });
    }
  }

  /** Applies an SDP or ICE message from the remote user. */
  handleSignal(payload: RelayPayload): Promise<void> {
    this.queue = this.queue.then(() => this.apply(payload)).catch(() => {
      /* a failed step must not wedge the queue; the connection state reports real failure */
    });
    return this.queue;
  }

  /** Adds a sendrecv transceiver of this kind if the connection has none (audio call → video). */
  ensureKind(kind: TrackKind): void {
    if (this.closed || this.pc.getTransceivers().some((t) => transceiverKind(t) === kind)) return;
    this.pc.addTransceiver(this.o.sendTrack(kind) ?? kind, { direction: 'sendrecv' });
  }

  /** Swaps the track sent for a kind; no renegotiation (replaceTrack). */
  async setSendTrack(kind: TrackKind, track: MediaStreamTrack | null): Promise<void> {
    for (const t of this.pc.getTransceivers()) {
      if (transceiverKind(t) === kind && t.sender && !this.closed) await t.sender.replaceTrack(track);
    }
  }

  getStats(): Promise<RTCStatsReport> {
    return this.pc.getStats();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.repair?.close();
    this.pc.onicecandidate = this.pc.ontrack = this.pc.onconnectionstatechange = this.pc.oniceconnectionstatechange = this.pc.onnegotiationneeded = null;
    for (const t of this.remoteStream?.getTracks() ?? []) t.stop();
    this.pc.close();
    this.removeAllListeners();
  }

  /**
   * One ICE restart: the next offer carries new ICE credentials. Not while an offer/answer is
   * under way (say, the previous restart's answer is on its way over a resuming socket): a new
   * offer would be dropped; the repair's backoff tries again.
   */
  private restartIce(): boolean | Promise<void> {
    if (this.closed || this.pc.signalingState !== 'stable') return false;
    // restartIce() makes the next offer (via negotiationneeded) carry new credentials; wrtc
    // lacks it, and there the iceRestart offer option does the same.
    if (typeof this.pc.restartIce === 'function') {
      this.pc.restartIce();
      return true;
    }
    return this.offer(true);
  }

  private async offer(iceRestart = false): Promise<void> {
    if (this.closed) return;
    try {
      this.makingOffer = true;
      const offer = await this.pc.createOffer(iceRestart ? { iceRestart: true } : undefined);
      if (this.pc.signalingState !== 'stable' || this.closed) return;
      await this.pc.setLocalDescription(offer);
      const d = this.pc.localDescription;
      if (d && !this.closed) this.o.sendSignal({ kind: 'sdp', type: 'offer', sdp: d.sdp });
    } finally {
      this.makingOffer = false;
    }
  }

  private async apply(payload: RelayPayload): Promise<void> {
    if (this.closed) return;
    if (payload.kind === 'ice') {
      const init: RTCIceCandidateInit = { candidate: payload.candidate, sdpMid: payload.sdpMid ?? null, sdpMLineIndex: payload.sdpMLineIndex ?? null };
      if (!this.pc.remoteDescription) {
        this.pendingCandidates.push(init);
        return;
      }
      try {
        await this.pc.addIceCandidate(init);
      } catch (err) {
        if (!this.ignoreOffer) throw err;
      }
      return;
    }
    if (payload.kind !== 'sdp') return;
    const collision = payload.type === 'offer' && (this.makingOffer || this.pc.signalingState !== 'stable');
    this.ignoreOffer = !this.o.polite && collision;
    if (this.ignoreOffer) return;
    if (collision) await this.pc.setLocalDescription({ type: 'rollback' });
    await this.pc.setRemoteDescription({ type: payload.type, sdp: payload.sdp });
    for (const c of this.pendingCandidates.splice(0)) await this.pc.addIceCandidate(c).catch(() => {});
    if (payload.type !== 'offer') return;
    // Answer with our tracks on every m-line the offer brought (sendrecv from the start, so
    // a track that arrives later is just replaceTrack, never a renegotiation).
    for (const t of this.pc.getTransceivers()) {
      const kind = transceiverKind(t);
      if (!kind || t.currentDirection === 'stopped') continue;
      if (t.direction !== 'sendrecv') t.direction = 'sendrecv';
      const want = this.o.sendTrack(kind);
      if (t.sender.track !== want) await t.sender.replaceTrack(want);
    }
    const answer = await this.pc.createAnswer();
    await this.pc.setLocalDescription(answer);
    const d = this.pc.localDescription;
    if (d && !this.closed) this.o.sendSignal({ kind: 'sdp', type: 'answer', sdp: d.sdp });
  }
}

function transceiverKind(t: RTCRtpTransceiver): TrackKind | null {
  const k = t.receiver?.track?.kind;
  return k === 'audio' || k === 'video' ? k : null;
}
