import type { Logger } from 'pino';
import { ErrorCode, type ClientMessageOf } from '@opencall/protocol';
import type { CallEngine } from '../calls/call-engine.js';
import type { Call } from '../calls/call.js';
import { ProtocolError, refuse } from '../errors.js';
import type { Delivery } from '../sessions/session-registry.js';
import { SfuError, type SfuRoomManager } from './sfu-room-manager.js';

/**
 * Connects calls on the SFU path to Janus rooms: a room per call, each joined participant
 * publishes once and is subscribed to everyone else's feed; Janus's offers reach the client as
 * `sfuOffer` frames. Only joined participants can touch a room, so ringing invitees and
 * strangers get nothing from Janus.
 *
 * When Janus hangs up one of a participant's connections (ICE failed for too long), the client
 * hears it in an `sfuDropped` frame and rebuilds that connection: it publishes again, or asks
 * for a fresh subscription (`subscribe`).
 */
export class SfuBridge {
  /** Room creation per call; operations wait for it. */
  private readonly rooms = new Map<string, Promise<void>>();
  /** Per call, the publishers whose media reached Janus: Janus refuses (428) feeds not yet up. */
  private readonly live = new Map<string, Set<string>>();
  /**
   * Per call, the users whose subscriber Janus hung up and who have not asked for a new one yet:
   * no offers for them meanwhile (a new handle's offer would land on the client's dead
   * connection); their own `subscribe` takes every live feed.
   */
  private readonly dropped = new Map<string, Set<string>>();

  constructor(
    private readonly manager: SfuRoomManager,
    private readonly engine: CallEngine,
    private readonly delivery: Delivery,
    private readonly log: Logger,
    maxPublishers: number,
  ) {
    engine.events.on('callCreated', (call) => {
      if (call.mediaPath !== 'sfu') return;
      this.rooms.set(
        call.inviteID,
        manager.createRoom(call.inviteID, maxPublishers).then(
          () => undefined,
          (err) => this.log.error({ err, inviteID: call.inviteID }, 'SFU room could not be created'),
        ),
      );
    });
    engine.events.on('memberChanged', (call, member, from) => {
      if (call.mediaPath !== 'sfu' || from !== 'joined' || member.state === 'joined') return;
      this.dropped.get(call.inviteID)?.delete(member.userID);
      manager.leave(call.inviteID, member.userID).catch((err) => this.log.warn({ err, inviteID: call.inviteID }, 'SFU leave failed'));
    });
    engine.events.on('callEnded', (call) => {
      if (call.mediaPath !== 'sfu') return;
      const created = this.rooms.get(call.inviteID);
      this.rooms.delete(call.inviteID);
      this.live.delete(call.inviteID);
      this.dropped.delete(call.inviteID);
      void (created ?? Promise.resolve())
        .then(() => manager.destroyRoom(call.inviteID))
        .catch((err) => this.log.warn({ err, inviteID: call.inviteID }, 'SFU room destroy failed'));
    });
    manager.on('mediaUp', ({ callId, userID, target }) => {
      const call = engine.get(callId);
      if (target !== 'publisher' || !call) return;
      setOf(this.live, callId).add(userID);
      for (const m of call.inState('joined')) if (m.userID !== userID) void this.subscribe(callId, m.userID, [userID]);
    });
    manager.on('feedUnpublished', ({ callId, userID }) => this.live.get(callId)?.delete(userID));
    manager.on('hangup', ({ callId, userID, target, reason }) => {
      if (this.engine.get(callId)?.members.get(userID)?.state !== 'joined') return;
      this.log.info({ inviteID: callId, userID, target, reason }, 'Janus dropped a connection; the client rebuilds it');
      if (target === 'subscriber') setOf(this.dropped, callId).add(userID);
      this.delivery.send(userID, { t: 'sfuDropped', inviteID: callId, target }, this.onDevice(callId, userID));
    });
    manager.on('subscriberOffer', ({ callId, userID, offerSdp, streams }) => {
      this.delivery.send(userID, { t: 'sfuOffer', inviteID: callId, sdp: offerSdp, streams }, this.onDevice(callId, userID));
    });
    manager.on('janusDown', ({ reason, callIds }) => this.log.error({ reason, callIds }, 'lost the connection to Janus'));
  }

  /** Runs a client's `sfu` message; resolves with the `res` data. */
  async handle(userID: string, msg: ClientMessageOf<'sfu'>): Promise<unknown> {
    const call = this.engine.get(msg.inviteID);
    if (!call) throw refuse.notFound(msg.inviteID);
    const member = call.members.get(userID);
    // Someone never invited cannot tell a call going on from one that does not exist.
    if (!member) throw refuse.notFound(call.inviteID);
    if (member.state !== 'joined') throw refuse.state('only participants in the call can send or receive its media');
    if (call.mediaPath !== 'sfu') throw refuse.state('this call does not go through the SFU');
    // Each operation is a request to Janus: capped per member and call like relays (trickles as ICE candidates).
    this.engine.countSignal(call, member, msg.op === 'trickle');
    await this.rooms.get(call.inviteID);
    try {
      switch (msg.op) {
        case 'publish': {
          const { answerSdp } = await this.manager.publish(call.inviteID, userID, msg.sdp);
          const others = this.liveFeeds(call, userID);
          if (others.length > 0) void this.subscribe(call.inviteID, userID, others);
          return { sdp: answerSdp };
        }
        case 'subscribe': {
          // A new subscriber connection (the old one was dropped): every live feed on a new handle.
          this.dropped.get(call.inviteID)?.delete(userID);
          const r = await this.manager.resubscribe(call.inviteID, userID, this.liveFeeds(call, userID));
          if (r.offerSdp) this.delivery.send(userID, { t: 'sfuOffer', inviteID: call.inviteID, sdp: r.offerSdp, streams: r.streams }, this.onDevice(call.inviteID, userID));
          return undefined;
        }
        case 'answer':
          await this.manager.startSubscriber(call.inviteID, userID, msg.sdp);
          return undefined;
        case 'trickle':
          await this.manager.trickle(call.inviteID, userID, msg.target, msg.candidate);
          return undefined;
        case 'restart': {
          // ICE restart of a connection whose path broke: same handle, same feed, new ICE credentials.
          if (msg.target === 'publisher') {
            const { answerSdp } = await this.manager.restartPublisher(call.inviteID, userID, msg.sdp!);
            return { sdp: answerSdp };
          }
          const r = await this.manager.restartSubscriber(call.inviteID, userID);
          if (r.offerSdp) this.delivery.send(userID, { t: 'sfuOffer', inviteID: call.inviteID, sdp: r.offerSdp, streams: r.streams }, this.onDevice(call.inviteID, userID));
          return undefined;
        }
      }
    } catch (err) {
      if (err instanceof ProtocolError) throw err;
      if (msg.op === 'restart' && err instanceof SfuError && err.code === 'NOT_FOUND') throw refuse.state(`nothing to restart: ${err.message}`);
      throw new ProtocolError(ErrorCode.SFU_ERROR, (err as Error).message);
    }
  }

  close(): Promise<void> {
    return this.manager.close();
  }

  /** Offers go to the device the user is in the call on. */
  private onDevice(callId: string, userID: string): { only: string | undefined } {
    return { only: this.engine.deviceOf(callId, userID) };
  }

  /** The other participants whose feeds are up in Janus (subscribable). */
  private liveFeeds(call: Call, userID: string): string[] {
    const live = this.live.get(call.inviteID);
    return this.manager.publishedUsers(call.inviteID).filter((u) => u !== userID && live?.has(u) === true && call.isActive(u));
  }

  private async subscribe(callId: string, userID: string, feeds: string[]): Promise<void> {
    if (this.dropped.get(callId)?.has(userID)) return;
    try {
      const r = await this.manager.subscribe(callId, userID, feeds);
      if (r.offerSdp) this.delivery.send(userID, { t: 'sfuOffer', inviteID: callId, sdp: r.offerSdp, streams: r.streams }, this.onDevice(callId, userID));
    } catch (err) {
      this.log.warn({ err, inviteID: callId, userID, feeds }, 'SFU subscribe failed');
    }
  }
}

/** The set stored under `key`, created on first use. */
function setOf(map: Map<string, Set<string>>, key: string): Set<string> {
  let set = map.get(key);
  if (!set) map.set(key, (set = new Set()));
  return set;
}
