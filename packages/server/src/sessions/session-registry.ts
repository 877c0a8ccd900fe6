import type { ServerFrame } from '@opencall/protocol';
import type { Session } from './session.js';

/** Where the call engine sends frames to users; one implementation per deployment shape. */
export interface Delivery {
  /** Sends to the user's live session; false if the user is offline. */
  send(userID: string, frame: ServerFrame): boolean;
  isOnline(userID: string): boolean;
}

/** The logged-in sessions of this process, one per userID (a newer login replaces the older). */
export class SessionRegistry implements Delivery {
  private readonly byUser = new Map<string, Session>();

  /** Binds the session to its user and returns the session it replaces, if any. */
  bind(session: Session, userID: string): Session | undefined {
    const previous = this.byUser.get(userID);
    session.userID = userID;
    this.byUser.set(userID, session);
    return previous === session ? undefined : previous;
  }

  /** Removes the binding if this session still holds it; true if it did. */
  unbind(session: Session): boolean {
    if (session.userID === null || this.byUser.get(session.userID) !== session) return false;
    this.byUser.delete(session.userID);
    return true;
  }

  get(userID: string): Session | undefined {
    return this.byUser.get(userID);
  }

  send(userID: string, frame: ServerFrame): boolean {
    const s = this.byUser.get(userID);
    if (!s) return false;
    s.send(frame);
    return true;
  }

  isOnline(userID: string): boolean {
    return this.byUser.has(userID);
  }

  get size(): number {
    return this.byUser.size;
  }

  all(): IterableIterator<Session> {
    return this.byUser.values();
  }
}
