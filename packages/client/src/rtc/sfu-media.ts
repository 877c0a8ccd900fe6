import { EventEmitter } from 'eventemitter3';
import type { SfuStreamInfo } from '@opencall/protocol/lite';
import type { RtcImplementation } from './environment.js';
import type { LocalMedia, TrackKind } from './local-media.js';
import { updateIceServers, type CallMedia, type CallMediaEvents } from './call-media.js';
import { PathRepair } from './path-repair.js';
import type { Request } from '../signal/signal-client.js';

/** How long one pair of stats reports serves further stats() calls (ms). */
const REPORT_REUSE_MS = 50;


type Target = 'publisher' | 'subscriber';
type TrickleMessage = Extract<Request, { op: 'trickle' }>;

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
 *
 * Media path repair: each of the two connections is watched like a mesh link (see
 * {@link PathRepair}); when its path breaks, the publisher sends Janus an ICE restart offer and
 * the subscriber asks the server for one from Janus (`sfu` op `restart`). A connection Janus
 * hung up (an `sfuDropped` frame, {@link onDropped}) cannot be restarted: the same repair
 * rebuilds it instead, as a new connection publishing the same tracks (`publish`) or receiving
 * every live feed (`subscribe`). Remote streams keep their MediaStream and get the new tracks.
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
  private readonly repairs: Partial<Record<Target, PathRepair>> = {};
  /**
   * Candidates of a connection held back while its (re)negotiation is under way, sent once Janus
   * has the matching description: a restart's new candidates must not reach Janus before the
   * offer/answer carrying the new ICE credentials.
   */
  private readonly held: Record<Target, TrickleMessage[] | null> = { publisher: null, subscriber: null };
  /** Connections Janus hung up, rebuilt by their repair (until a rebuild got through to the server). */
  private readonly dropped: Record<Target, boolean> = { publisher: false, subscriber: false };
  /** Rebuilds started per connection (diagnostics and tests). */
  private readonly rebuilt: Record<Target, number> = { publisher: 0, subscriber: 0 };
  /** Bumped when the receiving connection is dropped or replaced: offers queued for the old one are skipped. */
  private subGen = 0;
  /** What we publish, for a rebuild. */
  private kinds: TrackKind[] = [];

  constructor(private readonly o: SfuMediaOptions) {
    super();
  }

  /** Sends our tracks to the SFU (the call is joined). */
  async publish(kinds: TrackKind[]): Promise<void> {
    if (this.pub || this.closed) return;
    this.kinds = kinds;
    const pc = this.newConnection('publisher');
    this.pub = pc;
    for (const kind of kinds) pc.addTransceiver(this.o.local.sendTrack(kind) ?? kind, { direction: 'sendonly' });
    // Candidates follow the publish: a rebuild's must not reach the server before its new handle exists.
    this.held.publisher = [];
    let ok = false;
    try {
      const offer = await pc.createOffer();
      await pc.setLocalDescription(offer);
      const r = await this.o.request<{ sdp: string }>({ t: 'sfu', inviteID: this.o.inviteID, op: 'publish', sdp: pc.localDescription!.sdp });
      if (this.closed || this.pub !== pc) return;
      await pc.setRemoteDescription({ type: 'answer', sdp: r.sdp });
      ok = true;
    } finally {
      if (this.pub === pc) this.release('publisher', ok);
    }
  }

  /** A (re)offer for the receiving connection, with the complete mid → user map. */
  onOffer(sdp: string, streams: SfuStreamInfo[]): Promise<void> {
    const gen = this.subGen;
    this.offers = this.offers.then(() => (gen === this.subGen ? this.answer(sdp, streams) : undefined)).catch(() => {
      /* the connection state reports real failure; later offers still get answered */
    });
    return this.offers;
  }

  /**
   * Janus hung up one of our connections (`sfuDropped`): its repair rebuilds it, at once or at
   * the next step of a backoff already under way. No error for the app: the call goes on.
   */
  onDropped(target: Target): void {
    if (this.closed) return;
    this.dropped[target] = true;
    if (target === 'subscriber') this.subGen++;
    this.repairs[target]?.lose();
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

  /** Both connections' reports, shared by the calls made within REPORT_REUSE_MS (the monitor asks once per remote user). */
  private reports: { at: number; both: Promise<[RTCStatsReport | undefined, RTCStatsReport | undefined]> } | undefined;

  /** Stats of one user's streams: the receiving connection's entries for their mids, plus transport and our sources. */
  async stats(userID: string): Promise<RTCStatsReport> {
    const mids = new Set([...this.byMid].filter(([, s]) => s.userID === userID).map(([mid]) => mid));
    const out = new Map<string, unknown>();
    // One getStats per connection per monitor tick, not one per remote user: with N people that
    // was N-1 full reports of every stream each time (measured as a real cost in bench/sfu-capacity).
    const now = Date.now();
    if (!this.reports || now - this.reports.at > REPORT_REUSE_MS) this.reports = { at: now, both: Promise.all([this.sub?.getStats(), this.pub?.getStats()]) };
    const [sub, pub] = await this.reports.both;
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
    for (const repair of Object.values(this.repairs)) repair.close();
    for (const pc of [this.pub, this.sub]) {
      if (!pc) continue;
      pc.onicecandidate = pc.ontrack = pc.onconnectionstatechange = pc.oniceconnectionstatechange = null;
      pc.close();
    }
    this.removeAllListeners();
  }

  /** ICE restarts started on each connection (diagnostics and tests). */
  get iceRestarts(): Record<Target, number> {
    return { publisher: this.repairs.publisher?.restarts ?? 0, subscriber: this.repairs.subscriber?.restarts ?? 0 };
  }

  /** Rebuilds of each connection after Janus dropped it (diagnostics and tests). */
  get rebuilds(): Record<Target, number> {
    return { ...this.rebuilt };
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
        this.repairs.subscriber?.watch();
      };
    }
    const pc = this.sub;
    // Our candidates follow the answer (Janus starts ICE with it), restart offers included.
    this.held.subscriber ??= [];
    try {
      await pc.setRemoteDescription({ type: 'offer', sdp });
      const answer = await pc.createAnswer();
      await pc.setLocalDescription(answer);
      this.byMid = new Map(streams.map((s) => [s.mid, s]));
      this.remap();
      await this.o.request({ t: 'sfu', inviteID: this.o.inviteID, op: 'answer', sdp: pc.localDescription!.sdp });
    } finally {
      this.release('subscriber', true);
    }
    this.announce();
  }

  /**
   * Publisher ICE restart: an offer with new ICE credentials on the same connection, answered by
   * Janus on the same publisher handle (the feed and everyone's subscription to it stay).
   */
  private async restartPublisher(): Promise<void> {
    const pc = this.pub;
    // An offer still awaiting its answer: the next attempt (after the backoff) tries again.
    if (!pc || this.closed || pc.signalingState !== 'stable') return;
    this.held.publisher ??= [];
    let ok = false;
    try {
      const offer = await pc.createOffer({ iceRestart: true });
      if (this.closed) return;
      await pc.setLocalDescription(offer);
      const r = await this.o.request<{ sdp: string }>({ t: 'sfu', inviteID: this.o.inviteID, op: 'restart', target: 'publisher', sdp: offer.sdp! });
      if (this.closed) return;
      await pc.setRemoteDescription({ type: 'answer', sdp: r.sdp });
      ok = true;
    } finally {
      // A refused restart leaves our offer unanswered: roll back so the next attempt can offer again.
      if (!ok && !this.closed && (pc.signalingState as RTCSignalingState) === 'have-local-offer') await pc.setLocalDescription({ type: 'rollback' }).catch(() => {});
      this.release('publisher', ok);
    }
  }

  /** Subscriber ICE restart: Janus offers new ICE credentials (an `sfuOffer`), answered as usual. */
  private restartSubscriber(): Promise<unknown> | false {
    if (!this.sub || this.closed) return false;
    return this.o.request({ t: 'sfu', inviteID: this.o.inviteID, op: 'restart', target: 'subscriber' });
  }

  /** What a repair step does: rebuild a connection Janus dropped, else restart its ICE. */
  private repair(target: Target): Promise<unknown> | boolean {
    if (this.closed) return false;
    if (!this.dropped[target]) return target === 'publisher' ? this.restartPublisher() : this.restartSubscriber();
    this.rebuilt[target]++;
    this.dropped[target] = false;
    this.discard(target);
    const rebuilt = target === 'publisher' ? this.publish(this.kinds) : this.o.request({ t: 'sfu', inviteID: this.o.inviteID, op: 'subscribe' });
    return rebuilt.catch((err: unknown) => {
      // Not through (say, signaling is down too): the next step rebuilds again.
      this.dropped[target] = true;
      throw err;
    });
  }

  /** Closes a connection for good (its handle is gone); the repair keeps watching until a new one replaces it. */
  private discard(target: Target): void {
    const pc = target === 'publisher' ? this.pub : this.sub;
    this.held[target] = null;
    if (target === 'publisher') this.pub = null;
    else {
      this.sub = null;
      this.subConnected = false;
      this.subGen++;
      // The new handle numbers its mids afresh: until its offer, no mid belongs to anyone.
      this.byMid = new Map();
      // Streams keep their MediaStream (views and audio re-attach when the tracks change); the new offer fills them.
      this.remap();
    }
    if (!pc) return;
    pc.onicecandidate = pc.ontrack = pc.onconnectionstatechange = pc.oniceconnectionstatechange = null;
    pc.close();
  }

  /** Stops holding a connection's candidates back; sends the held ones (or drops them with their failed offer). */
  private release(target: Target, send: boolean): void {
    const held = this.held[target];
    this.held[target] = null;
    if (send && !this.closed) for (const msg of held ?? []) this.o.send(msg);
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
      const msg: TrickleMessage = {
        t: 'sfu',
        inviteID: this.o.inviteID,
        op: 'trickle',
        target,
        candidate: c && c.candidate ? { candidate: c.candidate, sdpMid: c.sdpMid ?? null, sdpMLineIndex: c.sdpMLineIndex ?? null } : null,
      };
      const held = this.held[target];
      if (held) held.push(msg);
      else this.o.send(msg);
    };
    if (target === 'subscriber') pc.ontrack = () => this.remap();
    // A rebuilt connection keeps its target's repair, and so the backoff under way.
    const repair = this.repairs[target] ?? new PathRepair(pc, () => this.repair(target));
    repair.replace(pc);
    this.repairs[target] = repair;
    // ICE state moves first (connectionState also waits for DTLS): watch both.
    pc.oniceconnectionstatechange = () => repair.watch();
    if (target === 'publisher') pc.onconnectionstatechange = () => repair.watch();
    return pc;
  }
}
