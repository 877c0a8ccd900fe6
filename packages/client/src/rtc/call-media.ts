import type { EventEmitter } from 'eventemitter3';
import type { RelayPayload } from '@opencall/protocol/lite';
import type { TrackKind } from './local-media.js';

/** Events of a call's media, whichever path carries it. */
export interface CallMediaEvents {
  /** Media from this user is flowing to us (mesh: the pair's connection is up; SFU: their streams arrived). */
  peerConnected: [userID: string];
  peerFailed: [userID: string];
}

/**
 * The media of one call, as the call controller sees it. Two implementations: {@link MeshMedia}
 * (a peer connection per remote user; 1:1 and small groups) and {@link SfuMedia} (one sending
 * and one receiving connection through the Janus SFU). The server picks the path per call.
 */
export interface CallMedia extends EventEmitter<CallMediaEvents> {
  /** Mesh: whether a link to this user exists (SFU: always false, the server drives it). */
  has(userID: string): boolean;
  /** Mesh: create the link to a user (SFU: no-op). */
  connect(userID: string, role: 'offerer' | 'answerer', kinds: TrackKind[]): void;
  /** Mesh: SDP/ICE from a user (SFU: no-op). */
  handleRelay(from: string, payload: RelayPayload): void;
  /** Media from this user is flowing. */
  isConnected(userID: string): boolean;
  /** This user's audio and video as one stream. */
  remoteStream(userID: string): MediaStream | null;
  /** WebRTC statistics of what we receive from this user (and of our own sending). */
  stats(userID: string): Promise<RTCStatsReport> | null;
  /** Puts the current sending track of a kind on every connection (replaceTrack, no renegotiation). */
  updateSendTrack(kind: TrackKind, track: MediaStreamTrack | null): Promise<unknown>;
  /** Makes the connections able to carry a kind (audio call switched to video). */
  ensureKind(kind: TrackKind): void;
  /** This user left the call. */
  remove(userID: string): void;
  /** New ICE servers (fresh TURN credentials): for connections made from now on and the live ones. */
  setIceServers(iceServers: RTCIceServer[]): void;
  close(): void;
}

/**
 * Gives a live connection new ICE servers. Its TURN allocations keep working, but anything that
 * authenticates to the TURN server afresh (an ICE restart gathering new relays) needs credentials
 * that have not expired, and the ones it was created with may have.
 */
export function updateIceServers(pc: RTCPeerConnection | null, iceServers: RTCIceServer[]): void {
  try {
    pc?.setConfiguration({ ...pc.getConfiguration(), iceServers });
  } catch {
    /* closed meanwhile: nothing left to update */
  }
}
