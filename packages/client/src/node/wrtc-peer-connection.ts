/**
 * A node-webrtc (`@roamhq/wrtc` 0.10) RTCPeerConnection whose session-description getters never
 * touch native memory that another thread is changing.
 *
 * The crash this prevents: wrtc's `localDescription` getter (and the other five description
 * getters) asks libwebrtc for a raw pointer to the description and serializes it on the JS thread
 * (`GetLocalDescription` → `JsepSessionDescription::ToString` → `SdpSerialize`), while libwebrtc's
 * signaling thread keeps changing that same object: every gathered ICE candidate is appended to
 * the local description, and a later setLocalDescription/setRemoteDescription replaces it. Reading
 * `pc.localDescription` right after `setLocalDescription()` resolves, which is exactly what
 * perfect negotiation does to send the offer or answer, therefore races ICE gathering, and now and
 * then the process dies with SIGSEGV (node-webrtc issue #696). Reading it in a loop while
 * candidates gather segfaults within a few hundred offers.
 *
 * Here the six getters answer from descriptions recorded in JavaScript instead, following the
 * rules of JSEP (pending/current, rollback, close). What differs from wrtc's answer: the SDP is
 * the one that was applied, without the `a=candidate` lines gathered since. Every user of this SDK
 * trickles candidates separately, so nothing is lost.
 */

/** The part of wrtc's JavaScript RTCPeerConnection wrapper this module relies on. */
interface WrtcPeerConnectionInstance {
  /** The native (C++) peer connection; wrtc's own getters read its description accessors. */
  readonly _pc: object;
}

type PeerConnectionCtor = new (config?: RTCConfiguration) => RTCPeerConnection;

type Description = { type: RTCSdpType; sdp: string };

const GETTERS = [
  'localDescription',
  'currentLocalDescription',
  'pendingLocalDescription',
  'remoteDescription',
  'currentRemoteDescription',
  'pendingRemoteDescription',
] as const;

/** Descriptions applied so far, kept the way JSEP keeps them. */
class DescriptionState {
  currentLocal: Description | null = null;
  pendingLocal: Description | null = null;
  currentRemote: Description | null = null;
  pendingRemote: Description | null = null;
  /** Last createOffer/createAnswer result: wrtc applies it when setLocalDescription gets no SDP. */
  lastCreated: Description | null = null;
  closed = false;

  applied(side: 'local' | 'remote', d: Description): void {
    const local = side === 'local';
    switch (d.type) {
      case 'offer':
      case 'pranswer':
        if (local) this.pendingLocal = d;
        else this.pendingRemote = d;
        break;
      case 'answer':
        // An answer completes the exchange: both sides' descriptions become current.
        if (local) {
          this.currentLocal = d;
          this.currentRemote = this.pendingRemote ?? this.currentRemote;
        } else {
          this.currentRemote = d;
          this.currentLocal = this.pendingLocal ?? this.currentLocal;
        }
        this.pendingLocal = this.pendingRemote = null;
        break;
      case 'rollback':
        if (local) this.pendingLocal = null;
        else this.pendingRemote = null;
        break;
    }
  }

  get(name: (typeof GETTERS)[number]): Description | null {
    if (this.closed) return null; // as wrtc: a closed connection reports no descriptions
    switch (name) {
      case 'localDescription':
        return this.pendingLocal ?? this.currentLocal;
      case 'currentLocalDescription':
        return this.currentLocal;
      case 'pendingLocalDescription':
        return this.pendingLocal;
      case 'remoteDescription':
        return this.pendingRemote ?? this.currentRemote;
      case 'currentRemoteDescription':
        return this.currentRemote;
      case 'pendingRemoteDescription':
        return this.pendingRemote;
    }
  }
}

function toDescription(d: RTCSessionDescriptionInit | null | undefined, fallback: Description | null): Description | null {
  const type = d?.type ?? fallback?.type;
  if (!type) return null;
  if (type === 'rollback') return { type, sdp: '' };
  const sdp = d?.sdp || fallback?.sdp;
  return sdp ? { type, sdp } : null;
}

const wrapped = new WeakMap<PeerConnectionCtor, PeerConnectionCtor>();

/**
 * Returns a subclass of wrtc's RTCPeerConnection (`wrtc.RTCPeerConnection`) with race-free
 * description getters; one class per wrtc constructor.
 */
export function safeWrtcPeerConnection(Base: PeerConnectionCtor): PeerConnectionCtor {
  const known = wrapped.get(Base);
  if (known) return known;

  // wrtc's wrapper is a function-style class: `extends` works, but the getters it defines on each
  // instance are non-configurable and read the native object's accessors, so the replacements go
  // on the native object (an ordinary extensible JS object) as own properties.
  class SafeRTCPeerConnection extends Base {
    private readonly descriptions = new DescriptionState();

    constructor(config?: RTCConfiguration) {
      super(config);
      const native = (this as unknown as Partial<WrtcPeerConnectionInstance>)._pc;
      if (typeof native !== 'object' || native === null) return;
      const state = this.descriptions;
      for (const name of GETTERS) {
        Object.defineProperty(native, name, { get: () => state.get(name), configurable: true, enumerable: false });
      }
    }

    override async createOffer(...args: unknown[]): Promise<any> {
      const offer = await (super.createOffer as (...a: unknown[]) => Promise<RTCSessionDescriptionInit | undefined>)(...args);
      this.descriptions.lastCreated = toDescription(offer, null) ?? this.descriptions.lastCreated;
      return offer;
    }

    override async createAnswer(...args: unknown[]): Promise<any> {
      const answer = await (super.createAnswer as (...a: unknown[]) => Promise<RTCSessionDescriptionInit | undefined>)(...args);
      this.descriptions.lastCreated = toDescription(answer, null) ?? this.descriptions.lastCreated;
      return answer;
    }

    override async setLocalDescription(...args: unknown[]): Promise<void> {
      const d = toDescription(args[0] as RTCSessionDescriptionInit | undefined, this.descriptions.lastCreated);
      await (super.setLocalDescription as (...a: unknown[]) => Promise<void>)(...args);
      if (d) this.descriptions.applied('local', d);
    }

    override async setRemoteDescription(...args: unknown[]): Promise<void> {
      const d = toDescription(args[0] as RTCSessionDescriptionInit | undefined, null);
      await (super.setRemoteDescription as (...a: unknown[]) => Promise<void>)(...args);
      if (d) this.descriptions.applied('remote', d);
    }

    override close(): void {
      this.descriptions.closed = true;
      super.close();
    }
  }

  wrapped.set(Base, SafeRTCPeerConnection);
  return SafeRTCPeerConnection;
}
