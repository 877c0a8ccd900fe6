import type { ServerFrame } from '@opencall/protocol';
import type { ProtocolError } from '../errors.js';

/**
 * One client connection as the call core sees it. On a single node it is the WebSocket
 * session itself; in a cluster the core runs on one node and a connection held by another
 * node is a proxy that forwards frames through Redis.
 */
export interface Conn {
  /** Unique among the live connections of the deployment. */
  readonly id: string | number;
  /** The user proven by the UserSig at login; null before login and after logout or a kick. */
  userID: string | null;
  /** Which of the user's devices this connection is (set with userID; see SessionRegistry). */
  device: string | null;
  send(frame: ServerFrame): void;
  /** Sends a frame already serialized (the registry serializes an event once for its backlog and every device). */
  sendJson(json: string): void;
  reply(rid: number, data?: unknown): void;
  /** Answers a failed request, or sends an unsolicited error frame when there was no rid. */
  fail(rid: number | undefined, error: ProtocolError): void;
  /** Closes after the frames already sent (a kicked or sigExpired frame in particular). */
  close(code?: number, reason?: string): void;
}
