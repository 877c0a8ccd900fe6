/**
 * SFU room manager: the only part of the signaling server that knows about Janus.
 *
 * For each group call the server creates one Janus VideoRoom room, and for each participant up
 * to two plugin handles on one shared Janus session:
 *
 * - a **publisher** handle (display = userID) that carries the client's sending PeerConnection
 *   (client offers, Janus answers), and
 * - a **subscriber** handle (multistream: one PeerConnection for all remote feeds; Janus offers,
 *   the client answers with {@link SfuRoomManager.startSubscriber}).
 *
 * The API is transport-agnostic: SDP strings and ICE candidates in, SDP strings and events out.
 * Clients never see Janus ids; feeds are addressed by userID and every subscriber offer comes
 * with a complete `mid → userID` map.
 *
 * Janus 1.1 multistream behaviour this class is built around (verified against Janus 1.1.2):
 * - Subscribing a feed that is already subscribed adds *duplicate* m-lines, so the manager only
 *   asks for feeds the subscriber does not already receive.
 * - While an offer to a subscriber is unanswered, `subscribe`/`unsubscribe` are queued by Janus
 *   (reply `updating`, no JSEP); the offer for them arrives later as an asynchronous `updated`
 *   event, after the client has answered the previous one. Such an offer cannot be told apart
 *   from one Janus starts by itself, so the manager never sends an update while an offer is
 *   outstanding: it waits for {@link SfuRoomManager.startSubscriber} first (and still copes with
 *   `updating` when Janus starts a renegotiation at the same moment).
 * - When a publisher leaves, Janus renegotiates every subscriber of it on its own (asynchronous
 *   `updated` + offer, its m-lines set inactive): surfaced as the `subscriberOffer` event.
 * - Inactive m-lines are recycled for later subscriptions, so a mid can move to another user:
 *   always replace the whole map with the one that comes with each offer.
 * - Subscribing to a feed that is gone fails the whole request with 428 (no such feed).
 */
import { EventEmitter } from 'node:events';
import { randomBytes, randomInt } from 'node:crypto';
import { JanusClient, JanusPluginError, type JanusHandle, type JanusIceCandidate, type Jsep } from './janus-client.js';
import { VIDEOROOM_PLUGIN, VideoRoomAdmin, VideoRoomErrorCode } from './janus-videoroom.js';
import { SESSION_LOST_CODES, SfuError, toSfuError } from './sfu-errors.js';

export { SfuError, type SfuErrorCode } from './sfu-errors.js';

/** The logger methods used (pino's `Logger` fits). */
export interface SfuLogger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

/** Constructor options for {@link SfuRoomManager}. */
export interface SfuRoomManagerOptions {
  /**
   * Where Janus is: its WebSocket API URL (e.g. `ws://10.0.0.5:8188`), or a factory returning a
   * freshly connected {@link JanusClient} (without a session; the manager creates it). Called
   * lazily on first use and again after the connection was lost.
   */
  janus: string | (() => Promise<JanusClient>);
  /** Janus `api_secret` (only used with a URL; a factory configures its own client). */
  apiSecret?: string;
  logger: SfuLogger;
  /** Deadline for each Janus request (default 10 s). */
  requestTimeoutMs?: number;
  /**
   * How long an operation waits for an offer that Janus queued behind an unanswered one
   * (default 15 s). It only arrives after the client answered the previous offer.
   */
  offerTimeoutMs?: number;
  /** Video bitrate cap per publisher (bps), sent to publishers via REMB; Janus default if unset. */
  bitrate?: number;
  /** Seconds between keyframe requests to publishers (default 10): bounds a late subscriber's black screen. */
  firFreq?: number;
}

/** Which of a participant's PeerConnections a candidate or event is about. */
export type SfuTarget = 'publisher' | 'subscriber';

/** One received stream in a subscriber PeerConnection. */
export interface SfuStream {
  /** The m-line's mid in Janus's offer (and so `RTCRtpTransceiver.mid` on the client). */
  mid: string;
  /** Whose media it is. */
  userID: string;
  kind: 'audio' | 'video';
}

/** Result of {@link SfuRoomManager.subscribe} / {@link SfuRoomManager.unsubscribe}. */
export interface SubscribeResult {
  /**
   * Janus's new offer for the subscriber PeerConnection; answer it with
   * {@link SfuRoomManager.startSubscriber}. `null` when nothing had to change (every requested
   * feed was already subscribed / none was), so there is nothing to answer.
   */
  offerSdp: string | null;
  /** Every active stream of the subscriber PeerConnection after this change (not just the new ones). */
  streams: SfuStream[];
  /** Requested userIDs that are not publishing in this call right now (skipped). */
  missing: string[];
}

/** A candidate from the client; `null` or an empty `candidate` means end-of-candidates. */
export type SfuCandidate = JanusIceCandidate;

/** Payload of `feedPublished` / `feedUnpublished`. */
export interface SfuFeedEvent {
  callId: string;
  userID: string;
}

/** Why a feed stopped: our own call (`unpublish`, `leave`) or the client's PeerConnection died (`hangup`). */
export type SfuUnpublishReason = 'unpublish' | 'leave' | 'hangup';

/** Payload of `subscriberOffer`: a renegotiation Janus started on its own (e.g. a publisher left). */
export interface SfuSubscriberOfferEvent {
  callId: string;
  userID: string;
  offerSdp: string;
  streams: SfuStream[];
}

/** Payload of `mediaUp` / `hangup`. */
export interface SfuHandleEvent {
  callId: string;
  userID: string;
  target: SfuTarget;
}

/** Events of {@link SfuRoomManager}. Listener exceptions are logged, never propagated. */
export interface SfuRoomManagerEvents {
  /** A user's feed is in the room and can be subscribed to (emitted when `publish` succeeds). */
  feedPublished: [SfuFeedEvent];
  /**
   * A user's feed is gone. Not emitted for feeds that disappear with `destroyRoom` or `janusDown`.
   * Janus renegotiates its subscribers by itself (see `subscriberOffer`).
   */
  feedUnpublished: [SfuFeedEvent & { reason: SfuUnpublishReason }];
  /**
   * Janus sent a subscriber a new offer that no pending {@link SfuRoomManager.subscribe} /
   * {@link SfuRoomManager.unsubscribe} call is waiting for: forward it to the client, which must
   * answer with {@link SfuRoomManager.startSubscriber} (further offers wait until it does).
   */
  subscriberOffer: [SfuSubscriberOfferEvent];
  /** ICE + DTLS of that PeerConnection completed on Janus's side. */
  mediaUp: [SfuHandleEvent];
  /**
   * Janus lost that PeerConnection (ICE failure, DTLS alert, client closed it). The manager has
   * already dropped the handle: a publisher must `publish` again, a subscriber `resubscribe`
   * with a new PeerConnection.
   */
  hangup: [SfuHandleEvent & { reason: string }];
  /**
   * The WebSocket to Janus (or the Janus session) was lost. Every room's state is dropped; the
   * listed calls have no SFU any more. The next manager call reconnects.
   */
  janusDown: [{ reason: Error; callIds: string[] }];
}

const DEFAULT_REQUEST_TIMEOUT_MS = 10_000;
const DEFAULT_OFFER_TIMEOUT_MS = 15_000;
/** Retries when a feed vanished between our bookkeeping and Janus processing the request. */
const MAX_FEED_RETRIES = 3;

/** A stream entry as Janus lists it in `attached` / `updated` (subscriber side). */
interface JanusSubscriberStream {
  mid?: string;
  type?: string;
  active?: boolean;
  feed_id?: number;
  feed_display?: string;
}

interface Connection {
  client: JanusClient;
  admin: VideoRoomAdmin;
}

interface PublisherState {
  readonly userID: string;
  handle?: JanusHandle;
  feedId?: number;
  /** Resolves once Janus has the client's offer: trickles wait for it so they never overtake the JSEP. */
  readonly ready: Deferred<JanusHandle>;
  /** Set when we (not Janus) are tearing it down: suppresses hangup/unpublish events. */
  closing: boolean;
  published: boolean;
}

interface OfferWaiter {
  resolve(offer: { jsep?: Jsep; streams?: JanusSubscriberStream[] }): void;
  reject(err: Error): void;
}

interface SubscriberState {
  readonly userID: string;
  handle?: JanusHandle;
  /** Resolves once the subscriber joined (Janus made its first offer). */
  readonly ready: Deferred<JanusHandle>;
  /** Resolves once the first answer was accepted; Janus needs the answer before candidates. */
  readonly started: Deferred<void>;
  /** Janus's latest stream list for this PeerConnection (inactive entries included). */
  streams: JanusSubscriberStream[];
  /** subscribe/unsubscribe run one at a time per subscriber. */
  readonly queue: SerialQueue;
  /** The running operation has its reply and waits for Janus's queued offer. */
  waiter?: OfferWaiter;
  /** An offer was handed out (returned or emitted) and its answer has not reached Janus yet. */
  offerOutstanding: boolean;
  /** Operations waiting for {@link offerOutstanding} to clear. */
  readonly answerWaiters: Set<OfferWaiter>;
  closing: boolean;
}

interface RoomState {
  readonly callId: string;
  readonly roomId: number;
  readonly secret: string;
  /** Random per room: Janus lets nobody join without it (someone who reaches Janus and guesses a room number gets nowhere). */
  readonly pin: string;
  /** Connection the room lives on; if it is replaced, the room is gone. */
  readonly conn: Connection;
  readonly publishers: Map<string, PublisherState>;
  /**
   * Each user's newest publish attempt, set synchronously when publish() is called: the client
   * starts trickling for its new PeerConnection at once, possibly while the previous publisher
   * is still being removed, and those candidates must wait for the new handle, not be dropped.
   */
  readonly latestPublisher: Map<string, PublisherState>;
  readonly subscribers: Map<string, SubscriberState>;
  /** Janus feed id → userID, for every feed published in this room (current or recent). */
  readonly feedOwners: Map<number, string>;
  /** publish/unpublish run one at a time per user. */
  readonly pubQueues: Map<string, SerialQueue>;
  closing: boolean;
}

/**
 * Creates and destroys Janus VideoRoom rooms per call and proxies publisher/subscriber JSEP and
 * ICE between clients and Janus. See the file comment for the Janus semantics it hides.
 *
 * All methods reject only with {@link SfuError}.
 */
export class SfuRoomManager extends EventEmitter<SfuRoomManagerEvents> {
  private readonly log: SfuLogger;
  private readonly requestTimeoutMs: number;
  private readonly offerTimeoutMs: number;
  private readonly rooms = new Map<string, RoomState>();
  /** In-flight createRoom per call id, so concurrent calls share one room. */
  private readonly creating = new Map<string, Promise<RoomState>>();
  private connection: Promise<Connection> | undefined;
  /** The connection {@link connection} resolved to (tracked synchronously for loss handling). */
  private current: Connection | undefined;
  /** Rooms of a lost connection that may still exist in Janus; destroyed after reconnecting. */
  private orphanRooms: Array<{ roomId: number; secret: string }> = [];
  private closed = false;

  constructor(private readonly options: SfuRoomManagerOptions) {
    super();
    this.log = options.logger;
    this.requestTimeoutMs = options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    this.offerTimeoutMs = options.offerTimeoutMs ?? DEFAULT_OFFER_TIMEOUT_MS;
  }

  // ---------------------------------------------------------------------------------------------
  // Rooms

  /**
   * Creates the Janus room for a call and returns its Janus room id. Idempotent: a second call
   * for the same `callId` returns the existing room.
   */
  async createRoom(callId: string, maxPublishers: number): Promise<number> {
    this.assertOpen();
    const existing = this.rooms.get(callId);
    if (existing) return existing.roomId;
    let pending = this.creating.get(callId);
    if (!pending) {
      pending = this.doCreateRoom(callId, maxPublishers).finally(() => this.creating.delete(callId));
      this.creating.set(callId, pending);
    }
    return (await pending).roomId;
  }

  /**
   * Destroys the call's room: detaches every handle of it (Janus hangs up their
   * PeerConnections) and destroys the room. Idempotent; never rejects for an unknown call.
   */
  async destroyRoom(callId: string): Promise<void> {
    await this.creating.get(callId)?.catch(() => undefined);
    const room = this.rooms.get(callId);
    if (!room) return;
    room.closing = true;
    this.rooms.delete(callId);
    const subs = [...room.subscribers.values()];
    const pubs = [...new Set([...room.publishers.values(), ...room.latestPublisher.values()])];
    room.subscribers.clear();
    room.publishers.clear();
    room.latestPublisher.clear();
    await Promise.all([...subs.map((s) => this.dropSubscriber(s, 'room destroyed')), ...pubs.map((p) => this.dropPublisher(p))]);
    try {
      await room.conn.admin.destroyRoom(room.roomId, room.secret, { timeoutMs: this.requestTimeoutMs });
    } catch (err) {
      // Already gone (426) is fine; on a dead connection the room went with Janus or is orphaned.
      if (!(err instanceof JanusPluginError && err.code === VideoRoomErrorCode.NoSuchRoom)) {
        if (!room.conn.client.isClosed) {
          this.log.warn({ event: 'sfu.room.destroy_failed', callId, roomId: room.roomId, err: String(err) }, 'could not destroy Janus room');
        }
      }
    }
    this.log.info({ event: 'sfu.room.destroyed', callId, roomId: room.roomId }, 'SFU room destroyed');
  }

  /** The Janus room id of a call, if it has a room. */
  roomId(callId: string): number | undefined {
    return this.rooms.get(callId)?.roomId;
  }

  /** userIDs currently publishing in the call's room. */
  publishedUsers(callId: string): string[] {
    const room = this.rooms.get(callId);
    if (!room) return [];
    return [...room.publishers.values()].filter((p) => p.published).map((p) => p.userID);
  }

  // ---------------------------------------------------------------------------------------------
  // Publishing

  /**
   * Publishes a user's media: attaches a publisher handle (display = userID), joins the room and
   * configures it with the client's offer. Returns Janus's answer. Publishing again replaces the
   * previous publisher (its subscribers are renegotiated by Janus and must subscribe again).
   * Emits `feedPublished` on success.
   */
  async publish(callId: string, userID: string, offerSdp: string): Promise<{ answerSdp: string }> {
    const room = this.requireRoom(callId, `publish for "${userID}"`);
    const state: PublisherState = { userID, ready: deferred(), closing: false, published: false };
    room.latestPublisher.get(userID)?.ready.reject(new SfuError('CANCELLED', `superseded by a newer publish of "${userID}"`));
    room.latestPublisher.set(userID, state);
    return this.pubQueue(room, userID).run(async () => {
      const what = `publish for "${userID}" in call "${callId}"`;
      try {
        const previous = room.publishers.get(userID);
        if (previous) await this.removePublisher(room, previous, 'unpublish');
        this.checkAlive(room, state, what);
        room.publishers.set(userID, state);
        const handle = await room.conn.client.attach(VIDEOROOM_PLUGIN, {
          timeoutMs: this.requestTimeoutMs,
          opaqueId: `opencall:${callId}:${userID}:pub`,
        });
        state.handle = handle;
        this.watchPublisher(room, state, handle);
        this.checkAlive(room, state, what);
        const reply = await handle.message<{ videoroom?: string; id?: number }>(
          { request: 'joinandconfigure', ptype: 'publisher', room: room.roomId, pin: room.pin, display: userID },
          { type: 'offer', sdp: offerSdp },
          { timeoutMs: this.requestTimeoutMs },
        );
        this.checkAlive(room, state, what);
        if (reply.data.videoroom !== 'joined' || typeof reply.data.id !== 'number') {
          throw new SfuError('JANUS', `SFU ${what} failed: unexpected Janus reply ${JSON.stringify(reply.data)}`);
        }
        if (reply.jsep?.type !== 'answer' || typeof reply.jsep.sdp !== 'string') {
          throw new SfuError('BAD_SDP', `SFU ${what} failed: Janus accepted the offer but sent no answer`);
        }
        state.feedId = reply.data.id;
        state.published = true;
        room.feedOwners.set(reply.data.id, userID);
        state.ready.resolve(handle);
        this.log.info({ event: 'sfu.published', callId, userID, feedId: reply.data.id }, 'feed published');
        this.safeEmit('feedPublished', { callId, userID });
        return { answerSdp: reply.jsep.sdp };
      } catch (err) {
        const error = this.failure(err, what);
        state.ready.reject(error);
        if (room.publishers.get(userID) === state) room.publishers.delete(userID);
        if (room.latestPublisher.get(userID) === state) room.latestPublisher.delete(userID);
        await this.dropPublisher(state);
        throw error;
      }
    });
  }

  /**
   * ICE restart of a user's publisher PeerConnection: hands the client's restart offer (new ICE
   * credentials) to the existing publisher handle with `configure`, and returns Janus's answer.
   * The feed, its id and every subscription to it stay as they are: only the transport between
   * that client and Janus is renegotiated. Rejects with NOT_FOUND when the user has no published
   * feed (nothing to restart: publish instead).
   */
  async restartPublisher(callId: string, userID: string, offerSdp: string): Promise<{ answerSdp: string }> {
    const room = this.requireRoom(callId, `ICE restart of the publisher of "${userID}"`);
    const what = `ICE restart of the publisher of "${userID}" in call "${callId}"`;
    return this.pubQueue(room, userID).run(async () => {
      const state = room.publishers.get(userID);
      // A newer publish() is under way (or this one never finished): that one carries fresh ICE anyway.
      if (!state?.published || !state.handle || room.latestPublisher.get(userID) !== state) {
        throw new SfuError('NOT_FOUND', `SFU ${what} failed: "${userID}" has no published feed`);
      }
      try {
        this.checkAlive(room, state, what);
        const reply = await state.handle.message<{ videoroom?: string; configured?: string }>(
          { request: 'configure' },
          { type: 'offer', sdp: offerSdp },
          { timeoutMs: this.requestTimeoutMs },
        );
        this.checkAlive(room, state, what);
        if (reply.data.configured !== 'ok') throw new SfuError('JANUS', `SFU ${what} failed: unexpected Janus reply ${JSON.stringify(reply.data)}`);
        if (reply.jsep?.type !== 'answer' || typeof reply.jsep.sdp !== 'string') {
          throw new SfuError('BAD_SDP', `SFU ${what} failed: Janus accepted the offer but sent no answer`);
        }
        this.log.info({ event: 'sfu.ice_restart', callId, userID, target: 'publisher' }, 'publisher ICE restarted');
        return { answerSdp: reply.jsep.sdp };
      } catch (err) {
        throw this.failure(err, what);
      }
    });
  }

  /** Stops a user's publishing (detaches the publisher handle). Idempotent. */
  async unpublish(callId: string, userID: string): Promise<void> {
    const room = this.rooms.get(callId);
    if (!room) return;
    await this.pubQueue(room, userID).run(async () => {
      const state = room.publishers.get(userID);
      if (state) await this.removePublisher(room, state, 'unpublish');
    });
  }

  /** Removes a user from the call's SFU entirely: publisher and subscriber handles. Idempotent. */
  async leave(callId: string, userID: string): Promise<void> {
    const room = this.rooms.get(callId);
    if (!room) return;
    const sub = room.subscribers.get(userID);
    if (sub) {
      room.subscribers.delete(userID);
      await this.dropSubscriber(sub, 'left');
    }
    // A publish() in flight (or queued) sees `closing` and gives up; otherwise the queue removes the feed.
    const latest = room.latestPublisher.get(userID);
    if (latest && !latest.published) latest.closing = true;
    room.latestPublisher.delete(userID);
    await this.pubQueue(room, userID).run(async () => {
      const state = room.publishers.get(userID);
      if (state) await this.removePublisher(room, state, 'leave');
    });
    room.pubQueues.delete(userID);
  }

  // ---------------------------------------------------------------------------------------------
  // Subscribing

  /**
   * Subscribes a user to the feeds of `feedsOf` (userIDs) on the user's single subscriber
   * PeerConnection: the first call joins as subscriber, later calls add streams to it. Feeds
   * already subscribed, and the user's own, are skipped; users not publishing are reported in
   * `missing`. Resolves with Janus's offer and the full `mid → userID` map; the client answers
   * with {@link startSubscriber}. If an earlier offer is still unanswered, the result waits (up
   * to `offerTimeoutMs`) until the client answered it and Janus sent the next offer.
   */
  async subscribe(callId: string, userID: string, feedsOf: string[]): Promise<SubscribeResult> {
    const room = this.requireRoom(callId, `subscribe for "${userID}"`);
    const what = `subscribe for "${userID}" in call "${callId}"`;
    let sub = room.subscribers.get(userID);
    if (!sub) {
      sub = {
        userID,
        ready: deferred(),
        started: deferred(),
        streams: [],
        queue: new SerialQueue(),
        offerOutstanding: false,
        answerWaiters: new Set(),
        closing: false,
      };
      room.subscribers.set(userID, sub);
    }
    const state = sub;
    return state.queue.run(async () => {
      for (let attempt = 0; ; attempt++) {
        this.checkSubAlive(room, state, what);
        const { feeds, missing } = this.resolveFeeds(room, userID, feedsOf);
        const current = activeFeedIds(state.streams);
        const toAdd = feeds.filter((f) => !current.has(f));
        try {
          if (!state.handle) {
            // Nothing to receive yet: no handle, no PeerConnection (the empty state is harmless;
            // deleting it could orphan a handle joined by a call queued behind this one).
            if (toAdd.length === 0) return { offerSdp: null, streams: [], missing };
            return { ...(await this.joinSubscriber(room, state, toAdd, what)), missing };
          }
          if (toAdd.length === 0) return { offerSdp: null, streams: this.streamMap(room, state.streams), missing };
          const offer = await this.updateSubscriber(room, state, 'subscribe', toAdd, what);
          return { ...offer, missing };
        } catch (err) {
          // A feed left between our bookkeeping and Janus handling the request: forget it, retry.
          if (err instanceof SfuError && err.janusCode === VideoRoomErrorCode.NoSuchFeed && attempt < MAX_FEED_RETRIES) {
            this.forgetVanishedFeeds(room, toAdd, err);
            continue;
          }
          throw err;
        }
      }
    });
  }

  /**
   * A new subscriber PeerConnection for a user whose previous one Janus hung up (or that the
   * client gave up on): detaches the user's subscriber handle, if there still is one, and
   * subscribes to `feedsOf` on a new handle, as {@link subscribe} does for a first subscription
   * (`offerSdp` is null when none of them publishes: the next subscribe makes the handle).
   */
  async resubscribe(callId: string, userID: string, feedsOf: string[]): Promise<SubscribeResult> {
    const room = this.requireRoom(callId, `resubscribe for "${userID}"`);
    const old = room.subscribers.get(userID);
    if (old) {
      room.subscribers.delete(userID);
      // Operations queued on the old handle see `closing` and give up; a join in flight detaches its own handle.
      await this.dropSubscriber(old, 'replaced');
    }
    return this.subscribe(callId, userID, feedsOf);
  }

  /**
   * Removes the feeds of `feedsOf` from a user's subscriber PeerConnection. Same result and
   * queueing rules as {@link subscribe}; `offerSdp` is null when none of them was subscribed.
   */
  async unsubscribe(callId: string, userID: string, feedsOf: string[]): Promise<SubscribeResult> {
    const room = this.requireRoom(callId, `unsubscribe for "${userID}"`);
    const what = `unsubscribe for "${userID}" in call "${callId}"`;
    const state = room.subscribers.get(userID);
    if (!state) return { offerSdp: null, streams: [], missing: [] };
    return state.queue.run(async () => {
      this.checkSubAlive(room, state, what);
      if (!state.handle) return { offerSdp: null, streams: [], missing: [] };
      const wanted = new Set(feedsOf);
      // Drop by owner, not by the feed id we know now: that user may have republished meanwhile.
      const toRemove = [...activeFeedIds(state.streams)].filter((f) => wanted.has(this.ownerOf(room, f, state.streams)));
      if (toRemove.length === 0) return { offerSdp: null, streams: this.streamMap(room, state.streams), missing: [] };
      return { ...(await this.updateSubscriber(room, state, 'unsubscribe', toRemove, what)), missing: [] };
    });
  }

  /**
   * Hands the client's answer to the latest subscriber offer to Janus (`start`). Must be called
   * once per offer, in order; not queued behind {@link subscribe} (which may be waiting for it).
   */
  async startSubscriber(callId: string, userID: string, answerSdp: string): Promise<void> {
    const room = this.requireRoom(callId, `start for "${userID}"`);
    const what = `start for "${userID}" in call "${callId}"`;
    const state = room.subscribers.get(userID);
    if (!state) throw new SfuError('NOT_FOUND', `SFU ${what} failed: "${userID}" has no subscription`);
    try {
      const handle = await withTimeout(state.ready.promise, this.requestTimeoutMs, `SFU ${what}: subscriber never joined`);
      this.checkSubAlive(room, state, what);
      const reply = await handle.message<{ started?: string }>(
        { request: 'start' },
        { type: 'answer', sdp: answerSdp },
        { timeoutMs: this.requestTimeoutMs },
      );
      if (reply.data.started !== 'ok') {
        throw new SfuError('JANUS', `SFU ${what} failed: unexpected Janus reply ${JSON.stringify(reply.data)}`);
      }
      state.started.resolve();
      state.offerOutstanding = false;
      for (const w of [...state.answerWaiters]) w.resolve({});
    } catch (err) {
      throw this.failure(err, what);
    }
  }

  /**
   * ICE restart of a user's subscriber PeerConnection: asks Janus (`configure` with
   * `restart: true`) for a new offer with fresh ICE credentials on the same handle, with the same
   * streams. Resolves with that offer and the full `mid → userID` map; the client answers it with
   * {@link startSubscriber} like any other offer. Queued with subscribe/unsubscribe, and sent only
   * once no earlier offer is unanswered (Janus would postpone the restart otherwise). Rejects with
   * NOT_FOUND when the user receives nothing yet.
   */
  async restartSubscriber(callId: string, userID: string): Promise<Omit<SubscribeResult, 'missing'>> {
    const room = this.requireRoom(callId, `ICE restart of the subscriber of "${userID}"`);
    const what = `ICE restart of the subscriber of "${userID}" in call "${callId}"`;
    const state = room.subscribers.get(userID);
    if (!state) throw new SfuError('NOT_FOUND', `SFU ${what} failed: "${userID}" has no subscription`);
    return state.queue.run(async () => {
      this.checkSubAlive(room, state, what);
      const handle = state.handle;
      if (!handle) throw new SfuError('NOT_FOUND', `SFU ${what} failed: "${userID}" receives nothing yet`);
      try {
        while (state.offerOutstanding) await this.waitAnswered(state, what);
        this.checkSubAlive(room, state, what);
        const reply = await handle.message<{ videoroom?: string; configured?: string; streams?: JanusSubscriberStream[] }>(
          { request: 'configure', restart: true },
          undefined,
          { timeoutMs: this.requestTimeoutMs },
        );
        this.checkSubAlive(room, state, what);
        if (reply.jsep?.type !== 'offer' || typeof reply.jsep.sdp !== 'string') {
          throw new SfuError('JANUS', `SFU ${what} failed: Janus sent no restart offer (reply ${JSON.stringify(reply.data)})`);
        }
        if (reply.data.streams) state.streams = reply.data.streams;
        state.offerOutstanding = true;
        this.log.info({ event: 'sfu.ice_restart', callId, userID, target: 'subscriber' }, 'subscriber ICE restart offered');
        return { offerSdp: reply.jsep.sdp, streams: this.streamMap(room, state.streams) };
      } catch (err) {
        throw this.failure(err, what);
      }
    });
  }

  // ---------------------------------------------------------------------------------------------
  // ICE

  /**
   * Forwards one of the client's ICE candidates (`null` or empty = end-of-candidates) to the
   * user's publisher or subscriber handle. Waits until Janus has that PeerConnection's remote
   * description. Candidates for a user, room or handle that is gone are dropped silently: they
   * are the normal tail of a hang-up race.
   */
  async trickle(callId: string, userID: string, target: SfuTarget, candidate: SfuCandidate | null): Promise<void> {
    const room = this.rooms.get(callId);
    const state = target === 'publisher' ? room?.latestPublisher.get(userID) : room?.subscribers.get(userID);
    if (!room || !state) {
      this.log.debug({ event: 'sfu.trickle.dropped', callId, userID, target }, 'candidate for unknown handle dropped');
      return;
    }
    const what = `trickle to ${target} of "${userID}" in call "${callId}"`;
    let handle: JanusHandle;
    try {
      // A subscriber's candidates are only useful after Janus has the client's answer.
      if (target === 'subscriber') await withTimeout((state as SubscriberState).started.promise, this.offerTimeoutMs, `SFU ${what}: no answer yet`);
      handle = await withTimeout(state.ready.promise, this.offerTimeoutMs, `SFU ${what}: handle not ready`);
    } catch (err) {
      if (state.closing || room.closing) return;
      throw this.failure(err, what);
    }
    if (state.closing || handle.detached) return;
    const body: JanusIceCandidate | null =
      candidate && candidate.candidate
        ? {
            candidate: candidate.candidate,
            ...(candidate.sdpMid != null ? { sdpMid: candidate.sdpMid } : {}),
            ...(candidate.sdpMLineIndex != null ? { sdpMLineIndex: candidate.sdpMLineIndex } : {}),
          }
        : null;
    try {
      await handle.trickle(body, { timeoutMs: this.requestTimeoutMs });
    } catch (err) {
      if (state.closing || handle.detached) return;
      throw this.failure(err, what);
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Lifecycle

  /** Destroys every room, the Janus session and the WebSocket. Later calls reject with CLOSED. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all([...this.rooms.keys()].map((callId) => this.destroyRoom(callId)));
    const conn = await this.connection?.catch(() => undefined);
    this.connection = undefined;
    this.current = undefined;
    if (conn) {
      await conn.client.destroySession({ timeoutMs: this.requestTimeoutMs }).catch(() => undefined);
      await conn.client.close();
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Internals: connection

  private connect(): Promise<Connection> {
    this.assertOpen();
    this.connection ??= this.openConnection().catch((err: unknown) => {
      this.connection = undefined;
      throw toSfuError(err, 'connect to Janus');
    });
    return this.connection;
  }

  private async openConnection(): Promise<Connection> {
    const { janus } = this.options;
    const client =
      typeof janus === 'string'
        ? await JanusClient.connect(janus, {
            ...(this.options.apiSecret !== undefined ? { apiSecret: this.options.apiSecret } : {}),
            requestTimeoutMs: this.requestTimeoutMs,
          })
        : await janus();
    try {
      await client.createSession({ timeoutMs: this.requestTimeoutMs });
      const admin = await VideoRoomAdmin.attach(client, { timeoutMs: this.requestTimeoutMs });
      const conn: Connection = { client, admin };
      this.current = conn;
      client.onClose((reason) => this.onConnectionLost(conn, reason));
      this.log.info({ event: 'sfu.janus.connected', sessionId: client.sessionId }, 'connected to Janus');
      void this.destroyOrphans(admin);
      return conn;
    } catch (err) {
      await client.close();
      throw err;
    }
  }

  /** Rooms of a previous connection may outlive it (they belong to the plugin, not the session). */
  private async destroyOrphans(admin: VideoRoomAdmin): Promise<void> {
    const orphans = this.orphanRooms.splice(0);
    for (const { roomId, secret } of orphans) {
      await admin.destroyRoom(roomId, secret, { timeoutMs: this.requestTimeoutMs }).catch(() => undefined);
    }
  }

  private onConnectionLost(conn: Connection, reason: Error): void {
    if (this.current === conn) {
      this.current = undefined;
      this.connection = undefined;
    }
    const callIds: string[] = [];
    for (const [callId, room] of this.rooms) {
      if (room.conn !== conn) continue;
      callIds.push(callId);
      room.closing = true;
      this.rooms.delete(callId);
      const down = new SfuError('JANUS_DOWN', `SFU room of call "${callId}" lost: ${reason.message}`, undefined, { cause: reason });
      for (const sub of room.subscribers.values()) {
        sub.closing = true;
        sub.waiter?.reject(down);
        for (const w of [...sub.answerWaiters]) w.reject(down);
        sub.ready.reject(down);
        sub.started.reject(down);
      }
      for (const pub of new Set([...room.publishers.values(), ...room.latestPublisher.values()])) {
        pub.closing = true;
        pub.ready.reject(down);
      }
      this.orphanRooms.push({ roomId: room.roomId, secret: room.secret });
    }
    if (this.closed) return;
    this.log.error({ event: 'sfu.janus.down', reason: reason.message, callIds }, 'connection to Janus lost');
    this.safeEmit('janusDown', { reason, callIds });
  }

  // ---------------------------------------------------------------------------------------------
  // Internals: rooms and publishers

  private async doCreateRoom(callId: string, maxPublishers: number): Promise<RoomState> {
    const what = `createRoom for call "${callId}"`;
    const conn = await this.connect();
    const secret = randomBytes(16).toString('base64url');
    const pin = randomBytes(16).toString('base64url');
    for (let attempt = 0; ; attempt++) {
      // Random ids: the signaling server may restart while Janus keeps old rooms.
      const roomId = randomInt(1, 2 ** 47);
      try {
        await conn.admin.createRoom(
          {
            room: roomId,
            publishers: maxPublishers,
            description: `opencall ${callId}`.slice(0, 100),
            secret,
            pin,
            ...(this.options.bitrate !== undefined ? { bitrate: this.options.bitrate } : {}),
            ...(this.options.firFreq !== undefined ? { firFreq: this.options.firFreq } : {}),
          },
          { timeoutMs: this.requestTimeoutMs },
        );
        const room: RoomState = {
          callId,
          roomId,
          secret,
          pin,
          conn,
          publishers: new Map(),
          latestPublisher: new Map(),
          subscribers: new Map(),
          feedOwners: new Map(),
          pubQueues: new Map(),
          closing: false,
        };
        this.rooms.set(callId, room);
        this.log.info({ event: 'sfu.room.created', callId, roomId, maxPublishers }, 'SFU room created');
        return room;
      } catch (err) {
        if (err instanceof JanusPluginError && err.code === VideoRoomErrorCode.RoomExists && attempt < 5) continue;
        throw this.failure(err, what);
      }
    }
  }

  private watchPublisher(room: RoomState, state: PublisherState, handle: JanusHandle): void {
    const base = { callId: room.callId, userID: state.userID, target: 'publisher' as const };
    handle.on('webrtcup', () => {
      this.log.debug({ event: 'sfu.media_up', ...base }, 'publisher PeerConnection up');
      this.safeEmit('mediaUp', base);
    });
    const lost = (reason: string) => {
      if (state.closing || room.closing) return;
      if (room.publishers.get(state.userID) === state) room.publishers.delete(state.userID);
      if (room.latestPublisher.get(state.userID) === state) room.latestPublisher.delete(state.userID);
      this.log.info({ event: 'sfu.hangup', ...base, reason }, 'publisher PeerConnection lost');
      const wasPublished = state.published;
      void this.dropPublisher(state);
      this.safeEmit('hangup', { ...base, reason });
      if (wasPublished) this.safeEmit('feedUnpublished', { callId: room.callId, userID: state.userID, reason: 'hangup' });
    };
    handle.on('hangup', (e) => lost(e.reason ?? 'hangup'));
    handle.on('detached', () => lost('detached by Janus'));
  }

  private async removePublisher(room: RoomState, state: PublisherState, reason: 'unpublish' | 'leave'): Promise<void> {
    if (room.publishers.get(state.userID) === state) room.publishers.delete(state.userID);
    if (room.latestPublisher.get(state.userID) === state) room.latestPublisher.delete(state.userID);
    const wasPublished = state.published;
    await this.dropPublisher(state);
    if (wasPublished) {
      this.log.info({ event: 'sfu.unpublished', callId: room.callId, userID: state.userID, reason }, 'feed unpublished');
      this.safeEmit('feedUnpublished', { callId: room.callId, userID: state.userID, reason });
    }
  }

  /** Detaches a publisher handle without emitting anything (Janus tells the other participants). */
  private async dropPublisher(state: PublisherState): Promise<void> {
    state.closing = true;
    state.published = false;
    state.ready.reject(new SfuError('CANCELLED', `publisher of "${state.userID}" was removed`));
    await state.handle?.detach({ timeoutMs: this.requestTimeoutMs }).catch(() => undefined);
  }

  private pubQueue(room: RoomState, userID: string): SerialQueue {
    let q = room.pubQueues.get(userID);
    if (!q) {
      q = new SerialQueue();
      room.pubQueues.set(userID, q);
    }
    return q;
  }

  // ---------------------------------------------------------------------------------------------
  // Internals: subscribers

  private async joinSubscriber(
    room: RoomState,
    state: SubscriberState,
    feeds: number[],
    what: string,
  ): Promise<Omit<SubscribeResult, 'missing'>> {
    const handle = await room.conn.client.attach(VIDEOROOM_PLUGIN, {
      timeoutMs: this.requestTimeoutMs,
      opaqueId: `opencall:${room.callId}:${state.userID}:sub`,
    });
    try {
      this.checkSubAlive(room, state, what);
      this.watchSubscriber(room, state, handle);
      const reply = await handle.message<{ videoroom?: string; streams?: JanusSubscriberStream[] }>(
        { request: 'join', ptype: 'subscriber', room: room.roomId, pin: room.pin, streams: feeds.map((feed) => ({ feed })) },
        undefined,
        { timeoutMs: this.requestTimeoutMs },
      );
      this.checkSubAlive(room, state, what);
      if (reply.data.videoroom !== 'attached' || reply.jsep?.type !== 'offer') {
        throw new SfuError('JANUS', `SFU ${what} failed: unexpected Janus reply ${JSON.stringify(reply.data)}`);
      }
      state.handle = handle;
      state.streams = reply.data.streams ?? [];
      state.offerOutstanding = true;
      state.ready.resolve(handle);
      return { offerSdp: reply.jsep.sdp, streams: this.streamMap(room, state.streams) };
    } catch (err) {
      if (!state.handle) await handle.detach({ timeoutMs: this.requestTimeoutMs }).catch(() => undefined);
      throw this.failure(err, what);
    }
  }

  /** Adds or removes feeds on an existing subscriber and returns the resulting offer (if any). */
  private async updateSubscriber(
    room: RoomState,
    state: SubscriberState,
    request: 'subscribe' | 'unsubscribe',
    feeds: number[],
    what: string,
  ): Promise<Omit<SubscribeResult, 'missing'>> {
    const handle = state.handle!;
    try {
      // Never update while an offer is unanswered: Janus would queue the change and its offer
      // could then not be told apart from offers Janus starts by itself.
      while (state.offerOutstanding) await this.waitAnswered(state, what);
      this.checkSubAlive(room, state, what);
      const reply = await handle.message<{ videoroom?: string; streams?: JanusSubscriberStream[] }>(
        { request, streams: feeds.map((feed) => ({ feed })) },
        undefined,
        { timeoutMs: this.requestTimeoutMs },
      );
      this.checkSubAlive(room, state, what);
      let jsep = reply.jsep;
      let streams = reply.data.streams;
      if (reply.data.videoroom === 'updating') {
        // An offer is still unanswered: Janus queued this change and will send the offer for it
        // as an async `updated` event once the client has answered (see watchSubscriber).
        this.log.debug({ event: 'sfu.subscriber.queued', callId: room.callId, userID: state.userID }, 'Janus queued the update');
        const offer = await new Promise<{ jsep?: Jsep; streams?: JanusSubscriberStream[] }>((resolve, reject) => {
          const timer = setTimeout(() => {
            state.waiter = undefined;
            reject(
              new SfuError(
                'TIMEOUT',
                `SFU ${what} failed: Janus queued the change but sent no offer within ${this.offerTimeoutMs} ms (the previous offer was never answered with startSubscriber)`,
              ),
            );
          }, this.offerTimeoutMs);
          state.waiter = {
            resolve: (o) => {
              clearTimeout(timer);
              state.waiter = undefined;
              resolve(o);
            },
            reject: (e) => {
              clearTimeout(timer);
              state.waiter = undefined;
              reject(e);
            },
          };
        });
        jsep = offer.jsep;
        streams = offer.streams;
      } else if (reply.data.videoroom !== 'updated') {
        throw new SfuError('JANUS', `SFU ${what} failed: unexpected Janus reply ${JSON.stringify(reply.data)}`);
      }
      if (streams) state.streams = streams;
      if (jsep && jsep.type !== 'offer') throw new SfuError('JANUS', `SFU ${what} failed: Janus sent a JSEP ${jsep.type} instead of an offer`);
      if (jsep) state.offerOutstanding = true;
      return { offerSdp: jsep?.sdp ?? null, streams: this.streamMap(room, state.streams) };
    } catch (err) {
      throw this.failure(err, what);
    }
  }

  private watchSubscriber(room: RoomState, state: SubscriberState, handle: JanusHandle): void {
    const base = { callId: room.callId, userID: state.userID, target: 'subscriber' as const };
    handle.on('event', (e) => {
      if (state.closing) return;
      const data = e.data as { videoroom?: string; streams?: JanusSubscriberStream[]; error?: string };
      if (data.videoroom === 'updated') {
        if (data.streams) state.streams = data.streams;
        if (state.waiter) {
          // The queued subscribe/unsubscribe is waiting for exactly this (possibly merged) offer.
          state.waiter.resolve({ ...(e.jsep ? { jsep: e.jsep } : {}), ...(data.streams ? { streams: data.streams } : {}) });
          return;
        }
        if (e.jsep?.type === 'offer') {
          state.offerOutstanding = true;
          const streams = this.streamMap(room, state.streams);
          this.log.debug({ event: 'sfu.subscriber.offer', ...base, streams: streams.length }, 'Janus renegotiates subscriber');
          this.safeEmit('subscriberOffer', { callId: room.callId, userID: state.userID, offerSdp: e.jsep.sdp, streams });
        }
      } else if (data.error) {
        this.log.warn({ event: 'sfu.subscriber.error', ...base, error: data.error }, 'Janus reported a subscriber error');
      }
    });
    handle.on('webrtcup', () => {
      this.log.debug({ event: 'sfu.media_up', ...base }, 'subscriber PeerConnection up');
      this.safeEmit('mediaUp', base);
    });
    const lost = (reason: string) => {
      if (state.closing || room.closing) return;
      if (room.subscribers.get(state.userID) === state) room.subscribers.delete(state.userID);
      this.log.info({ event: 'sfu.hangup', ...base, reason }, 'subscriber PeerConnection lost');
      void this.dropSubscriber(state, reason);
      this.safeEmit('hangup', { ...base, reason });
    };
    handle.on('hangup', (e) => lost(e.reason ?? 'hangup'));
    handle.on('detached', () => lost('detached by Janus'));
  }

  private async dropSubscriber(state: SubscriberState, why: string): Promise<void> {
    state.closing = true;
    const cancelled = new SfuError('CANCELLED', `subscriber of "${state.userID}" was removed (${why})`);
    state.waiter?.reject(cancelled);
    for (const w of [...state.answerWaiters]) w.reject(cancelled);
    state.ready.reject(cancelled);
    state.started.reject(cancelled);
    await state.handle?.detach({ timeoutMs: this.requestTimeoutMs }).catch(() => undefined);
  }

  /** Resolves when the client's answer to the outstanding offer reached Janus. */
  private waitAnswered(state: SubscriberState, what: string): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const waiter: OfferWaiter = {
        resolve: () => {
          clearTimeout(timer);
          state.answerWaiters.delete(waiter);
          resolve();
        },
        reject: (e) => {
          clearTimeout(timer);
          state.answerWaiters.delete(waiter);
          reject(e);
        },
      };
      const timer = setTimeout(
        () =>
          waiter.reject(
            new SfuError(
              'TIMEOUT',
              `SFU ${what} failed: the previous offer was not answered (startSubscriber) within ${this.offerTimeoutMs} ms`,
            ),
          ),
        this.offerTimeoutMs,
      );
      state.answerWaiters.add(waiter);
    });
  }

  /** Maps userIDs to the feed ids currently published (never the subscriber's own). */
  private resolveFeeds(room: RoomState, self: string, feedsOf: string[]): { feeds: number[]; missing: string[] } {
    const feeds: number[] = [];
    const missing: string[] = [];
    for (const userID of new Set(feedsOf)) {
      if (userID === self) continue;
      const pub = room.publishers.get(userID);
      if (pub?.published && pub.feedId !== undefined) feeds.push(pub.feedId);
      else missing.push(userID);
    }
    return { feeds, missing };
  }

  /** After a 428: drop the feed Janus named (or every requested feed no longer published) and retry. */
  private forgetVanishedFeeds(room: RoomState, requested: number[], err: SfuError): void {
    const named = /\((\d+)\)/.exec(err.message)?.[1];
    for (const pub of room.publishers.values()) {
      if (pub.feedId === undefined || !requested.includes(pub.feedId)) continue;
      if (named !== undefined && String(pub.feedId) === named) pub.published = false;
    }
    this.log.warn({ event: 'sfu.subscriber.feed_vanished', callId: room.callId, feed: named }, 'feed vanished, retrying subscribe');
  }

  private ownerOf(room: RoomState, feedId: number, streams: JanusSubscriberStream[]): string {
    return room.feedOwners.get(feedId) ?? streams.find((s) => s.feed_id === feedId)?.feed_display ?? String(feedId);
  }

  /** Janus stream list → client-facing map (active audio/video streams only). */
  private streamMap(room: RoomState, streams: JanusSubscriberStream[]): SfuStream[] {
    const out: SfuStream[] = [];
    for (const s of streams) {
      if (s.active === false || s.feed_id === undefined || s.mid === undefined) continue;
      if (s.type !== 'audio' && s.type !== 'video') continue;
      out.push({ mid: s.mid, userID: this.ownerOf(room, s.feed_id, streams), kind: s.type });
    }
    return out;
  }

  // ---------------------------------------------------------------------------------------------
  // Internals: helpers

  private requireRoom(callId: string, what: string): RoomState {
    this.assertOpen();
    const room = this.rooms.get(callId);
    if (!room) throw new SfuError('NO_ROOM', `SFU ${what} failed: no SFU room for call "${callId}"`);
    return room;
  }

  private checkAlive(room: RoomState, state: PublisherState, what: string): void {
    if (room.closing || state.closing) throw new SfuError('CANCELLED', `SFU ${what} cancelled: the user or room was removed meanwhile`);
  }

  private checkSubAlive(room: RoomState, state: SubscriberState, what: string): void {
    if (room.closing || state.closing) throw new SfuError('CANCELLED', `SFU ${what} cancelled: the user or room was removed meanwhile`);
  }

  private assertOpen(): void {
    if (this.closed) throw new SfuError('CLOSED', 'SfuRoomManager is closed');
  }

  /**
   * Converts an error and notices a lost Janus session (458): the WebSocket may still be up but
   * nothing on it works any more, so close it and let onConnectionLost report `janusDown`.
   */
  private failure(err: unknown, what: string): SfuError {
    const error = toSfuError(err, what);
    if (error.janusCode !== undefined && SESSION_LOST_CODES.has(error.janusCode)) {
      void this.current?.client.close();
    }
    return error;
  }

  private safeEmit<K extends keyof SfuRoomManagerEvents>(event: K, ...args: SfuRoomManagerEvents[K]): void {
    try {
      // The generic constraint is too wide for TS to pick emit's overload; the payload type is checked above.
      (this.emit as (e: K, ...a: SfuRoomManagerEvents[K]) => boolean)(event, ...args);
    } catch (err) {
      this.log.error({ event: 'sfu.listener_error', sfuEvent: event, err: String(err) }, 'SfuRoomManager listener threw');
    }
  }
}

/** Feed ids with an active stream in a subscriber's stream list. */
function activeFeedIds(streams: JanusSubscriberStream[]): Set<number> {
  const ids = new Set<number>();
  for (const s of streams) if (s.active !== false && s.feed_id !== undefined) ids.add(s.feed_id);
  return ids;
}

interface Deferred<T> {
  readonly promise: Promise<T>;
  resolve(value: T): void;
  reject(err: Error): void;
}

/** A promise with external resolve/reject that never counts as an unhandled rejection. */
function deferred<T>(): Deferred<T> {
  let resolve!: (v: T) => void;
  let reject!: (e: Error) => void;
  let settled = false;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  // Rejections are observed by whoever awaits; nobody awaiting is fine too.
  promise.catch(() => undefined);
  return {
    promise,
    resolve(v) {
      if (settled) return;
      settled = true;
      resolve(v);
    },
    reject(e) {
      if (settled) return;
      settled = true;
      reject(e);
    },
  };
}

function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new SfuError('TIMEOUT', `${message} (${ms} ms)`)), ms);
    promise.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(timer);
        reject(e);
      },
    );
  });
}

/** Runs async jobs one after another; a failed job does not stop the next. */
class SerialQueue {
  private tail: Promise<unknown> = Promise.resolve();

  run<T>(job: () => Promise<T>): Promise<T> {
    const result = this.tail.then(job, job);
    this.tail = result.catch(() => undefined);
    return result;
  }
}
