import type { FastifyInstance } from 'fastify';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { ErrorCode, type EndReason, type ServerEventFrame } from '@opencall/protocol';
import type { Call, Member } from '../calls/call.js';
import type { CallEngine } from '../calls/call-engine.js';
import type { Delivery, DeviceTarget } from '../sessions/session-registry.js';
import { bearerMatches } from '../http/bearer-token.js';
import type { PolicyClose, UpgradeRefusal } from '../transport/ws-gateway.js';

const POLICY_CLOSES: readonly PolicyClose[] = ['login_required', 'login_timeout', 'login_failed', 'frame_too_large', 'flooding', 'slow_consumer', 'no_pong'];
const UPGRADE_REFUSALS: readonly UpgradeRefusal[] = ['per_address', 'total'];

/** Live numbers read at scrape time (nothing is counted per message for them). */
export interface MetricsSources {
  connections(): number;
  users(): number;
}

export interface MetricsOptions {
  /** Node.js process metrics (CPU, memory, event loop lag, GC, handles). Default true. */
  defaultMetrics?: boolean;
}

/** Invitation outcomes, one per invitee. */
export const INVITATION_OUTCOMES = ['accepted', 'rejected', 'busy', 'no_answer', 'cancelled'] as const;
const END_REASONS: readonly EndReason[] = ['hangup', 'cancelled', 'rejected', 'busy', 'no_answer', 'disconnected', 'logout', 'kicked'];
/** Seconds; the server's own share of call setup is tens of microseconds to a few milliseconds. */
export const SETUP_BUCKETS = [0.0001, 0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1];
/** Seconds a phone rang before it was answered. */
export const RINGING_BUCKETS = [0.25, 0.5, 1, 2, 3, 5, 8, 10, 15, 20, 30, 45, 60, 120];

const CODE_NAMES = new Map<number, string>(Object.entries(ErrorCode).map(([name, code]) => [code, name]));

/**
 * The server's Prometheus metrics, in a registry of their own. Fed by the call engine's
 * lifecycle events, the delivery of `invited` frames and the gateway's refusals; gauges are read
 * from live state when scraped. Labels are bounded enums (states, outcomes, reasons, error
 * codes), never user or call IDs.
 */
export class ServerMetrics {
  readonly registry = new Registry();
  private readonly withProcessMetrics: boolean;
  private readonly liveCalls = new Set<Call>();
  /** When each invitee started ringing (performance.now() ms), for the ringing-time histogram. */
  private readonly ringingSince = new WeakMap<Member, number>();
  /** The invitation being processed right now: INVITED frames for it measure setup latency. */
  private pendingInvite: { inviteID: string; start: number } | null = null;
  /**
   * Counted with a plain increment as calls move and handed to prom-client only when scraped:
   * a labelled `Counter.inc` hashes its labels on every call, on the signaling hot path.
   */
  private readonly counts = {
    created: 0,
    invitations: new Map<string, number>(INVITATION_OUTCOMES.map((o) => [o, 0])),
    ended: new Map<string, number>(END_REASONS.map((r) => [r, 0])),
    policyClosed: new Map<string, number>(POLICY_CLOSES.map((r) => [r, 0])),
    upgradesRefused: new Map<string, number>(UPGRADE_REFUSALS.map((r) => [r, 0])),
  };
  private readonly setup: Histogram;
  private readonly ringing: Histogram;
  private readonly errors: Counter<'code' | 'name'>;

  constructor(sources: MetricsSources, options: MetricsOptions = {}) {
    const registers = [this.registry];
    this.withProcessMetrics = options.defaultMetrics !== false;
    const liveCalls = this.liveCalls;
    new Gauge({
      name: 'opencall_connections',
      help: 'Open signaling WebSocket connections, logged in or not.',
      registers,
      collect() {
        this.set(sources.connections());
      },
    });
    new Gauge({
      name: 'opencall_users',
      help: 'Users logged in (including those whose connection dropped and who may still resume within the reconnect grace period).',
      registers,
      collect() {
        this.set(sources.users());
      },
    });
    new Gauge({
      name: 'opencall_calls',
      help: 'Calls in progress by state: ringing (nobody answered yet) or connected (someone accepted).',
      labelNames: ['state'],
      registers,
      collect() {
        let connected = 0;
        for (const c of liveCalls) if (c.connectedAt !== undefined) connected++;
        this.set({ state: 'ringing' }, liveCalls.size - connected);
        this.set({ state: 'connected' }, connected);
      },
    });
    const counts = this.counts;
    new Counter({
      name: 'opencall_calls_created_total',
      help: 'Calls started (invitations sent).',
      registers,
      collect() {
        this.reset();
        this.inc(counts.created);
      },
    });
    new Counter({
      name: 'opencall_invitations_total',
      help: 'Invitations by outcome, one per invitee: accepted, rejected, busy (line busy or declined as busy), no_answer (timed out), cancelled (caller hung up or the call ended while it rang).',
      labelNames: ['outcome'],
      registers,
      collect() {
        this.reset();
        for (const [outcome, n] of counts.invitations) this.inc({ outcome }, n);
      },
    });
    new Counter({
      name: 'opencall_calls_ended_total',
      help: 'Calls ended, by reason.',
      labelNames: ['reason'],
      registers,
      collect() {
        this.reset();
        for (const [reason, n] of counts.ended) this.inc({ reason }, n);
      },
    });
    new Counter({
      name: 'opencall_sockets_closed_total',
      help: 'Sockets the server closed for breaking a limit, by reason: login_required (sent something else before login), login_timeout, login_failed (too many bad UserSigs), frame_too_large (before login), flooding (kept on after being rate limited), slow_consumer (unsent bytes over OPENCALL_MAX_SEND_BUFFER_BYTES), no_pong (did not answer the heartbeat ping).',
      labelNames: ['reason'],
      registers,
      collect() {
        this.reset();
        for (const [reason, n] of counts.policyClosed) this.inc({ reason }, n);
      },
    });
    new Counter({
      name: 'opencall_upgrades_refused_total',
      help: 'WebSocket upgrades refused by a connection cap: per_address (OPENCALL_MAX_CONNECTIONS_PER_IP, HTTP 429) or total (OPENCALL_MAX_CONNECTIONS, HTTP 503).',
      labelNames: ['reason'],
      registers,
      collect() {
        this.reset();
        for (const [reason, n] of counts.upgradesRefused) this.inc({ reason }, n);
      },
    });
    this.setup = new Histogram({
      name: 'opencall_call_setup_seconds',
      help: "Server time from taking an invitation to handing the invitee its INVITED frame (per online invitee).",
      buckets: SETUP_BUCKETS,
      registers,
    });
    this.ringing = new Histogram({
      name: 'opencall_ringing_seconds',
      help: 'Time from an invitation ringing to its acceptance (per accepted invitee).',
      buckets: RINGING_BUCKETS,
      registers,
    });
    this.errors = new Counter({
      name: 'opencall_errors_total',
      help: 'Client frames refused with an error code (malformed, invalid, rate-limited, wrong state, ...), by code.',
      labelNames: ['code', 'name'],
      registers,
    });
  }

  /** Follows a call engine's lifecycle events. */
  attach(engine: CallEngine): void {
    engine.events.on('callCreated', (call) => {
      this.liveCalls.add(call);
      this.counts.created++;
      // The engine runs an invitation synchronously; the slot is cleared once that step is over.
      const pending = { inviteID: call.inviteID, start: performance.now() };
      this.pendingInvite = pending;
      queueMicrotask(() => {
        if (this.pendingInvite === pending) this.pendingInvite = null;
      });
    });
    engine.events.on('memberChanged', (_call, member, from) => this.memberChanged(member, from));
    engine.events.on('callEnded', (call, reason) => {
      this.liveCalls.delete(call);
      this.count(this.counts.ended, reason);
    });
  }

  /**
   * Wraps the engine's delivery to time INVITED frames of the invitation being processed.
   * The per-frame cost is one string comparison.
   */
  observeDelivery(delivery: Delivery): Delivery {
    return {
      send: (userID: string, frame: ServerEventFrame, target?: DeviceTarget) => {
        const sent = delivery.send(userID, frame, target);
        const p = this.pendingInvite;
        if (p !== null && frame.t === 'invited' && sent && frame.inviteID === p.inviteID) this.setup.observe((performance.now() - p.start) / 1000);
        return sent;
      },
      isOnline: (userID: string) => delivery.isOnline(userID),
    };
  }

  /** A frame was refused with this error code (the gateway's hook). */
  refused(code: number): void {
    this.errors.inc({ code: String(code), name: CODE_NAMES.get(code) ?? 'UNKNOWN' });
  }

  /** The gateway closed a socket for breaking a limit. */
  policyClose(reason: PolicyClose): void {
    this.count(this.counts.policyClosed, reason);
  }

  /** The gateway refused an upgrade at a connection cap. */
  upgradeRefused(reason: UpgradeRefusal): void {
    this.count(this.counts.upgradesRefused, reason);
  }

  /** The exposition text and its content type. */
  async render(): Promise<{ contentType: string; body: string }> {
    const registry = this.withProcessMetrics ? Registry.merge([processRegistry(), this.registry]) : this.registry;
    return { contentType: this.registry.contentType, body: await registry.metrics() };
  }

  private count(m: Map<string, number>, key: string): void {
    m.set(key, (m.get(key) ?? 0) + 1);
  }

  private memberChanged(member: Member, from: Member['state'] | null): void {
    // Batch -1: the caller, or someone joining a group call uninvited: not an invitation.
    if (member.batch < 0) return;
    const to = member.state;
    if (from === null) {
      if (to === 'ringing') this.ringingSince.set(member, performance.now());
      else if (to === 'busy') this.count(this.counts.invitations, 'busy');
      return;
    }
    if (from !== 'ringing') return;
    switch (to) {
      case 'joined': {
        this.count(this.counts.invitations, 'accepted');
        const since = this.ringingSince.get(member);
        if (since !== undefined) this.ringing.observe((performance.now() - since) / 1000);
        return;
      }
      case 'rejected':
      case 'busy':
      case 'no_answer':
      case 'cancelled':
        this.count(this.counts.invitations, to);
        return;
    }
  }
}

/** `GET /metrics` in the Prometheus text format. */
/** `GET /metrics`; with a `token` (OPENCALL_METRICS_TOKEN), only for `Authorization: Bearer <token>`. */
export function registerMetricsRoute(app: FastifyInstance, metrics: ServerMetrics, token?: string): void {
  app.get('/metrics', async (req, reply) => {
    if (token !== undefined && !bearerMatches(req, token)) {
      return reply.status(401).header('www-authenticate', 'Bearer').send({ code: ErrorCode.ADMIN_UNAUTHORIZED, message: 'metrics: send "Authorization: Bearer <OPENCALL_METRICS_TOKEN>"' });
    }
    const { contentType, body } = await metrics.render();
    return reply.header('content-type', contentType).header('cache-control', 'no-store').send(body);
  });
}

let processMetrics: Registry | undefined;

/**
 * Process metrics (CPU, memory, GC, event loop) once per process, in their own registry merged
 * in at scrape time. prom-client's GC observer is never disconnected, so registering them per
 * server kept every closed server (and all it referenced) alive.
 */
function processRegistry(): Registry {
  if (!processMetrics) {
    processMetrics = new Registry();
    collectDefaultMetrics({ register: processMetrics });
  }
  return processMetrics;
}
