import type { Logger } from 'pino';
import type { IceServerConfig } from '@opencall/protocol';
import { CallEngine } from '../calls/call-engine.js';
import type { CallLimits } from '../calls/call-limits.js';
import type { Clock } from '../clock.js';
import type { GroupStore } from '../groups/group-store.js';
import type { ServerMetrics } from '../metrics/metrics.js';
import { createRecords, type CallRecordStore, type Records } from '../records/index.js';
import { SessionRegistry, type MultiDevice } from '../sessions/session-registry.js';
import type { GroupMode } from '../config.js';
import { SfuBridge } from '../sfu/sfu-bridge.js';
import { SfuRoomManager } from '../sfu/sfu-room-manager.js';
import { MessageRouter } from '../transport/message-router.js';

export interface CallCoreOptions {
  /** `history` requests per user a minute (0: no limit). */
  historyRatePerMinute?: number;
  clock: Clock;
  log: Logger;
  groups: GroupStore;
  maxInvitees: number;
  meshMaxParticipants: number;
  sfuMaxParticipants: number;
  janusUrl: string | undefined;
  janusApiSecret: string | undefined;
  reconnectGraceMs: number;
  multiDevice: MultiDevice;
  iceServers: (userID: string) => IceServerConfig[];
  /** Where call records go; undefined records nothing. */
  recordStore: CallRecordStore | undefined;
  metrics: ServerMetrics | undefined;
  /** Invitation rates, ringing ceiling, per-call caps. */
  callLimits: CallLimits;
  /** OPENCALL_GROUPS: 'labels' (default) or 'enforced' (see CallEngineOptions.enforceGroups). */
  groupMode?: GroupMode;
}

/**
 * The call core: who is online (sessions), the call state machine, call records and the SFU
 * bridge, behind one router. A single node runs one for its whole life; in a cluster the node
 * holding the lease builds one when it takes over and drops it when it steps down.
 */
export interface CallCore {
  registry: SessionRegistry;
  engine: CallEngine;
  router: MessageRouter;
  records: Records | undefined;
  sfu: SfuBridge | undefined;
  /** Stops the SFU connection (calls are left to the caller to end or hand over). */
  close(): Promise<void>;
}

export function createCallCore(o: CallCoreOptions): CallCore {
  const registry = new SessionRegistry(o.multiDevice);
  const engine = new CallEngine({
    delivery: o.metrics ? o.metrics.observeDelivery(registry) : registry,
    clock: o.clock,
    log: o.log,
    maxInvitees: o.maxInvitees,
    groups: o.groups,
    maxParticipants: o.meshMaxParticipants,
    participantsLimitHint: 'mesh limit OPENCALL_MESH_MAX; configure an SFU for larger calls',
    ...(o.janusUrl !== undefined && { sfuMaxParticipants: o.sfuMaxParticipants }),
    ringAllDevices: o.multiDevice === 'ring-all',
    enforceGroups: o.groupMode === 'enforced',
    limits: o.callLimits,
  });
  const sfu = o.janusUrl
    ? new SfuBridge(
        new SfuRoomManager({ janus: o.janusUrl, ...(o.janusApiSecret !== undefined && { apiSecret: o.janusApiSecret }), logger: o.log }),
        engine,
        registry,
        o.log,
        o.sfuMaxParticipants,
      )
    : undefined;
  const records = o.recordStore ? createRecords(o.recordStore, o.clock, o.log) : undefined;
  records?.attach(engine);
  o.metrics?.attach(engine);
  const router = new MessageRouter({
    registry,
    engine,
    ...(records && { records }),
    ...(sfu && { sfu }),
    reconnectGraceMs: o.reconnectGraceMs,
    iceServers: o.iceServers,
    log: o.log,
    ...(o.historyRatePerMinute !== undefined && { historyRatePerMinute: o.historyRatePerMinute }),
  });
  return {
    registry,
    engine,
    router,
    records,
    sfu,
    close: async () => {
      await sfu?.close();
    },
  };
}
