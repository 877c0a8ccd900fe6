/**
 * Runs operations against a real server over real sockets and checks, after every step, that
 * every socket received exactly what the model (model.ts) says, plus global invariants that do
 * not depend on the model's details.
 */
import { isDeepStrictEqual } from 'node:util';
import { genUserSig, startServer, type RunningServer } from '@opencall/server';
import { ManualClock } from '../support/manual-clock.js';
import { Code, DEFAULT_MODEL_OPTIONS, initialState, Model, type Frame, type ModelOptions, type Outcome, type ROp } from './model.js';
import { PING_RID_BASE, RawClient } from './raw-client.js';

export const SDK_APP_ID = 1400054321;
export const SECRET = 'model-test-secret-0123456789abcdef';

const sigCache = new Map<string, string>();
export function sig(userID: string): string {
  let s = sigCache.get(userID);
  if (!s) sigCache.set(userID, (s = genUserSig(SDK_APP_ID, SECRET, userID, 24 * 3600)));
  return s;
}

// ---- generated operations (indices, resolved against the model when run) ---------------------

export type Ref = { kind: 'mine' } | { kind: 'pick'; n: number } | { kind: 'bogus' };

export type Op =
  | { k: 'login'; u: number }
  | { k: 'resume'; u: number; back: number; badToken: boolean }
  | { k: 'logout'; u: number }
  | { k: 'drop'; u: number; hard: boolean }
  | { k: 'invite'; u: number; to: number[]; timeout: number; callType: 1 | 2 }
  | { k: 'accept'; u: number; ref: Ref }
  | { k: 'reject'; u: number; ref: Ref; busy: boolean }
  | { k: 'hangup'; u: number; ref: Ref }
  | { k: 'add'; u: number; ref: Ref; to: number[] }
  | { k: 'relay'; u: number; ref: Ref; to: number }
  | { k: 'advance'; ms: number };

const refText = (r: Ref) => (r.kind === 'mine' ? 'mine' : r.kind === 'bogus' ? 'bogus' : `#${r.n}`);

export function opText(op: Op): string {
  const u = 'u' in op ? `u${op.u}` : '';
  switch (op.k) {
    case 'login': return `${u}.login`;
    case 'resume': return `${u}.resume(back=${op.back}${op.badToken ? ',badToken' : ''})`;
    case 'logout': return `${u}.logout`;
    case 'drop': return `${u}.drop(${op.hard ? 'terminate' : 'close'})`;
    case 'invite': return `${u}.invite([${op.to.join(',')}],${op.timeout}s,type${op.callType})`;
    case 'accept': return `${u}.accept(${refText(op.ref)})`;
    case 'reject': return `${u}.reject(${refText(op.ref)}${op.busy ? ',busy' : ''})`;
    case 'hangup': return `${u}.hangup(${refText(op.ref)})`;
    case 'add': return `${u}.addInvitees(${refText(op.ref)},[${op.to.join(',')}])`;
    case 'relay': return `${u}.relay(${refText(op.ref)},to+${op.to})`;
    case 'advance': return `advance(${op.ms}ms)`;
  }
}

export interface WorldConfig {
  users: number;
  /** Long reconnect grace (dropped users stay present) or none (reconnectGraceMs 0). */
  grace: boolean;
  modelOptions?: ModelOptions;
  /** The server's Prometheus metrics (default on, as in production). */
  metrics?: boolean;
}

/** Thrown when the server and the model disagree, or an invariant breaks. */
export class ModelMismatch extends Error {}

const SORTED_KEYS = new Set(['userIDList', 'joined', 'ringing']);

function normalize(v: unknown, key?: string): unknown {
  if (Array.isArray(v)) {
    const items = v.map((x) => normalize(x));
    if (key === 'participants') return [...items].sort((a: any, b: any) => String(a?.userID).localeCompare(String(b?.userID)));
    if (key && SORTED_KEYS.has(key)) return [...items].sort();
    return items;
  }
  if (v && typeof v === 'object') {
    const o: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) o[k] = normalize(x, k);
    return o;
  }
  return v;
}

/**
 * Does the observed frame satisfy the expected one? Events: every field the model predicts is
 * equal (fields the model does not know, added to the protocol since, are not judged). res:
 * t/rid/ok/code, and the data keys given.
 */
function frameMatches(expected: Frame, observed: Frame): boolean {
  if (expected.t !== 'res') {
    const n = normalize(observed) as Frame;
    return Object.entries(normalize(expected) as Frame).every(([k, v]) => isDeepStrictEqual(v, n[k]));
  }
  if (observed.t !== 'res' || observed.rid !== expected.rid || observed.ok !== expected.ok) return false;
  if (expected.ok === false) return observed.code === expected.code;
  const want = (expected.data ?? {}) as Record<string, unknown>;
  for (const [k, v] of Object.entries(want)) if (!isDeepStrictEqual(normalize(v, k), normalize(observed.data?.[k], k))) return false;
  return true;
}

const show = (f: Frame | undefined) => (f === undefined ? '(nothing)' : JSON.stringify(f, (k, v) => (k === 'message' || k === 'resumeToken' || k === 'iceServers' ? undefined : v)));

export class World {
  readonly clock = new ManualClock();
  readonly userIDs: string[];
  /**
   * Every state the server may be in, given what it sent so far. Two operations racing may be
   * handled in either order; when both orders produced the same frames but different states
   * (e.g. which second an invitation was created in), both are kept until later frames decide.
   */
  models: Model[];
  server!: RunningServer;
  readonly sockets = new Map<number, RawClient>();
  private readonly cursor = new Map<number, number>();
  private nextRid = 1;
  step = 0;
  readonly history: string[] = [];
  readonly violations: string[] = [];
  /** inviteID → step at which the test first saw evidence the call is over. */
  private readonly overSeen = new Map<string, number>();
  /** user + inviteID → seqs of the `ended` frames received (a replay repeats a seq). */
  private readonly endedSeqs = new Map<string, Set<unknown>>();
  /** user → highest event seq the user's sockets received in the current session (what a client resumes from). */
  private readonly seenSeq = new Map<string, number>();
  /** socket → step in which it resumed (its replay may repeat old frames). */
  private readonly replaying = new Map<number, number>();
  private readonly lastSeq = new Map<number, number>();
  private readonly hangupRids = new Map<number, string>();
  /** Counts for the report. */
  readonly stats = { outcomes: new Map<string, number>(), maxWorlds: 1, steps: 0, races: 0, raceOrders: new Map<string, number>(), frames: 0, glare: 0, glareBothIdle: 0, rateLimited: 0 };

  constructor(
    readonly cfg: WorldConfig,
    prefix: string,
  ) {
    this.userIDs = Array.from({ length: cfg.users }, (_, i) => `${prefix}u${i}`);
    this.models = [new Model(initialState(this.userIDs, cfg.grace, this.clock.now()), cfg.modelOptions ?? DEFAULT_MODEL_OPTIONS)];
  }

  /** The first possible state (all agree on everything the test has observed). */
  get model(): Model {
    return this.models[0]!;
  }

  async start(): Promise<void> {
    this.server = await startServer({
      port: 0,
      host: '127.0.0.1',
      sdkAppId: SDK_APP_ID,
      secretKey: SECRET,
      logLevel: process.env.OPENCALL_TEST_LOG ?? 'silent',
      clock: this.clock,
      reconnectGraceMs: this.cfg.grace ? 10 * 60_000 : 0,
      // The login deadline runs on real time, which the model does not follow (its clock is
      // manual): a logged-out socket must not be closed because a slow machine took 10 s for
      // the steps after the logout. The deadline itself is tested in protocol-abuse.
      loginTimeoutMs: 10 * 60_000,
      metrics: this.cfg.metrics ?? true,
    });
  }

  async close(): Promise<void> {
    for (const s of this.sockets.values()) s.terminate();
    await this.server?.close();
  }

  private uid(i: number): string {
    return this.userIDs[i % this.userIDs.length]!;
  }

  private other(u: number, offset: number): string {
    const n = this.userIDs.length;
    return this.userIDs[(u + 1 + (offset % (n - 1))) % n]!;
  }

  private resolveRef(u: string, ref: Ref): string {
    const m = this.model;
    if (ref.kind === 'mine') {
      const c = m.activeCallOf(u) ?? [...m.s.calls].reverse().find((x) => x.members.some((y) => y.user === u));
      if (c) return c.inviteID;
    } else if (ref.kind === 'pick' && m.s.calls.length > 0) {
      return m.s.calls[ref.n % m.s.calls.length]!.inviteID;
    }
    return `no-such-call-${u}`;
  }

  /** Resolves an operation against the current model, opening (in the model) the sockets it needs. */
  private resolve(op: Op, toOpen: number[]): ROp {
    const m = this.model;
    if (op.k === 'advance') return op;
    const u = this.uid(op.u);
    const user = m.s.users[u]!;
    const sockFor = (fresh: boolean): number => {
      const cur = user.sock;
      if (cur !== null && !(fresh && m.s.sockets[cur]!.loggedIn)) return cur;
      const id = m.newSocket(u);
      toOpen.push(id);
      return id;
    };
    const rid = this.nextRid++;
    switch (op.k) {
      case 'login':
        return { k: 'login', u, sock: sockFor(true), rid };
      case 'resume': {
        const sock = sockFor(true);
        if (user.token === null) return { k: 'login', u, sock, rid };
        const token = op.badToken ? user.token.split('').reverse().join('') + 'x' : user.token;
        return { k: 'login', u, sock, rid, resume: { token, lastSeq: Math.max(0, (this.seenSeq.get(u) ?? 0) - op.back) } };
      }
      case 'drop':
        return { k: 'drop', u, sock: user.sock, hard: op.hard };
      case 'logout':
        return { k: 'logout', u, sock: sockFor(false), rid };
      case 'invite':
        return { k: 'invite', u, sock: sockFor(false), rid, to: op.to.map((o) => this.other(op.u, o)), timeout: op.timeout, callType: op.callType };
      case 'accept':
        return { k: 'accept', u, sock: sockFor(false), rid, inviteID: this.resolveRef(u, op.ref) };
      case 'reject':
        return { k: 'reject', u, sock: sockFor(false), rid, inviteID: this.resolveRef(u, op.ref), busy: op.busy };
      case 'hangup':
        return { k: 'hangup', u, sock: sockFor(false), rid, inviteID: this.resolveRef(u, op.ref) };
      case 'add':
        return { k: 'add', u, sock: sockFor(false), rid, inviteID: this.resolveRef(u, op.ref), to: op.to.map((o) => this.other(op.u, o)) };
      case 'relay':
        return { k: 'relay', u, sock: sockFor(false), rid, inviteID: this.resolveRef(u, op.ref), to: this.other(op.u, op.to) };
    }
  }

  private wire(op: ROp): Frame | undefined {
    switch (op.k) {
      case 'login':
        return { t: 'login', rid: op.rid, sdkAppId: SDK_APP_ID, userID: op.u, userSig: sig(op.u), ...(op.resume && { resume: op.resume }) };
      case 'logout':
        return { t: 'logout', rid: op.rid };
      case 'invite':
        return { t: 'invite', rid: op.rid, invitees: op.to, callType: op.callType, timeout: op.timeout };
      case 'accept':
        return { t: 'accept', rid: op.rid, inviteID: op.inviteID };
      case 'reject':
        return { t: 'reject', rid: op.rid, inviteID: op.inviteID, ...(op.busy && { busy: true }) };
      case 'hangup':
        return { t: 'hangup', rid: op.rid, inviteID: op.inviteID };
      case 'add':
        return { t: 'addInvitees', rid: op.rid, inviteID: op.inviteID, invitees: op.to };
      case 'relay':
        return { t: 'relay', rid: op.rid, inviteID: op.inviteID, to: op.to, payload: { kind: 'ready' } };
      default:
        return undefined;
    }
  }

  private async openSocket(id: number, user: string): Promise<void> {
    const raw = await RawClient.open(this.server.url, `${user}#${id}`);
    raw.onFrame = (f) => this.observe(id, user, f);
    this.sockets.set(id, raw);
    this.cursor.set(id, 0);
  }

  /** Global, model-independent checks on every frame as it arrives. */
  private observe(sock: number, user: string, f: Frame): void {
    this.stats.frames++;
    if (f.t !== 'res') {
      const key = f.t === 'ended' ? `ended(${f.reason}${f.connected ? ',connected' : ''})` : f.t;
      this.stats.outcomes.set(key, (this.stats.outcomes.get(key) ?? 0) + 1);
    }
    const where = `step ${this.step}, ${user}#${sock}`;
    if (f.t === 'res' && f.code === Code.RATE_LIMITED) this.stats.rateLimited++;
    if (f.code === 50000) this.violations.push(`${where}: INTERNAL error frame ${show(f)}`);
    if (f.t === '__unparsable__') this.violations.push(`${where}: unparsable frame ${show(f)}`);
    if (f.t === 'res' && f.ok === true && typeof f.data?.resumeToken === 'string') {
      // A new session on this socket: seq starts afresh (login) or continues after lastSeq (resume,
      // whose replay re-sends frames the client may have seen already).
      this.lastSeq.delete(sock);
      if (f.data.resumed === true) this.replaying.set(sock, this.step);
      else this.seenSeq.set(user, 0);
    }
    if (typeof f.seq === 'number') this.seenSeq.set(user, Math.max(this.seenSeq.get(user) ?? 0, f.seq));
    if (typeof f.seq === 'number') {
      const last = this.lastSeq.get(sock);
      if (last !== undefined && f.seq !== last + 1) this.violations.push(`${where}: seq ${f.seq} after ${last}`);
      this.lastSeq.set(sock, f.seq);
    }
    const replay = this.replaying.get(sock) === this.step;
    if (f.t === 'invited' && !replay) {
      const over = this.overSeen.get(f.inviteID);
      if (over !== undefined && over < this.step) this.violations.push(`${where}: invited for call ${f.inviteID}, over since step ${over}`);
    }
    if (f.t === 'ended') {
      const key = `${user} ${f.inviteID}`;
      const seqs = this.endedSeqs.get(key) ?? new Set<unknown>();
      seqs.add(f.seq);
      this.endedSeqs.set(key, seqs);
      if (seqs.size > 1) this.violations.push(`${where}: ${seqs.size} different ended frames for ${f.inviteID}`);
    }
    if (f.t === 'ended' || f.t === 'cancelled') if (!this.overSeen.has(f.inviteID)) this.overSeen.set(f.inviteID, this.step);
    if (f.t === 'res' && f.ok === true && f.data?.ended === true) {
      const id = this.hangupRids.get(f.rid);
      if (id && !this.overSeen.has(id)) this.overSeen.set(id, this.step);
    }
  }

  /** Runs one step: one operation, or two sent at the same moment (a race; glare is one). */
  async run(ops: Op[], gap = 0, label?: string): Promise<void> {
    this.step++;
    this.stats.steps++;
    const text = label ?? ops.map(opText).join(' ‖ ');
    this.history.push(`${this.step}: ${text}`);
    const toOpen: number[] = [];
    const rops = ops.map((op) => this.resolve(op, toOpen));
    for (const id of toOpen) {
      const user = this.model.s.sockets[id]!.user;
      for (const m of this.models.slice(1)) m.addSocket(id, user);
      await this.openSocket(id, user);
    }
    for (const r of rops) if (r.k === 'hangup') this.hangupRids.set(r.rid, r.inviteID);

    // Send.
    const from = new Map<number, number>();
    for (const [id, s] of this.sockets) from.set(id, s.frames.length);
    for (const [i, r] of rops.entries()) {
      if (i > 0 && gap === 1) await new Promise((res) => setImmediate(res));
      if (i > 0 && gap === 2) await new Promise((res) => setTimeout(res, 2));
      if (r.k === 'advance') this.clock.advance(r.ms);
      else if (r.k === 'drop') {
        const s = r.sock === null ? undefined : this.sockets.get(r.sock);
        if (s) (r.hard ? s.terminate() : s.close());
      } else this.sockets.get(r.sock)!.send(this.wire(r));
    }
    const res: (Frame | undefined)[] = await Promise.all(
      rops.map((r) => ('rid' in r ? this.sockets.get(r.sock)!.waitRes(r.rid, from.get(r.sock) ?? 0).catch((e: Error) => ({ t: '__missing__', error: e.message })) : undefined)),
    );

    for (const [i, r] of rops.entries()) {
      const f = res[i];
      const key = f === undefined ? r.k : `${r.k === 'login' && r.resume ? 'resume' : r.k}:${f.ok === true ? (f.data?.resumed === true ? 'resumed' : 'ok') : f.code}`;
      this.stats.outcomes.set(key, (this.stats.outcomes.get(key) ?? 0) + 1);
    }

    // The orders the server may have handled them in.
    const sameSocket = rops.length === 2 && 'sock' in rops[0]! && 'sock' in rops[1]! && rops[0].sock === rops[1].sock;
    const orders = rops.length === 1 ? [[0]] : sameSocket ? [[0, 1]] : [[0, 1], [1, 0]];
    const candidates = this.models.flatMap((base) =>
      orders.map((order) => {
        const m = base.clone();
        const out: Outcome = { frames: {}, closes: {} };
        for (const i of order) {
          const o = m.apply(rops[i]!, res[i]);
          for (const [s, fs] of Object.entries(o.frames)) (out.frames[Number(s)] ??= []).push(...fs);
          Object.assign(out.closes, o.closes);
        }
        return { order, model: m, out };
      }),
    );

    await this.settle(candidates.flatMap((c) => Object.keys(c.out.closes).map(Number)), candidates[0]!.model);

    // A socket the test closed in this step cannot receive what the server sent it afterwards.
    const closedByUs = new Set(rops.flatMap((r) => (r.k === 'drop' && r.sock !== null ? [r.sock] : [])));
    const diffs: string[][] = candidates.map((c) => this.compare(c.out, c.model, closedByUs));
    const matching = candidates.filter((_, i) => diffs[i]!.length === 0);
    if (matching.length === 0) {
      const detail = candidates
        .slice(0, 4)
        .map((c, i) => `  if handled in order ${c.order.map((j) => opText(ops[j]!)).join(' then ')}${this.models.length > 1 ? ` (possible state ${Math.floor(i / orders.length) + 1} of ${this.models.length})` : ''}:\n    ${diffs[i]!.join('\n    ')}`)
        .join('\n');
      throw new ModelMismatch(`step ${this.step} (${text}): the server's frames differ from the model\n${detail}\n${this.trail()}`);
    }
    const seen = new Set<string>();
    this.models = [];
    for (const c of matching) {
      const fp = c.model.fingerprint();
      if (seen.has(fp) || this.models.length >= 32) continue;
      seen.add(fp);
      this.models.push(c.model);
    }
    this.stats.maxWorlds = Math.max(this.stats.maxWorlds, this.models.length);
    if (rops.length === 2) {
      this.stats.races++;
      const key = matching.length === candidates.length ? 'either' : matching[0]!.order.join('');
      this.stats.raceOrders.set(key, (this.stats.raceOrders.get(key) ?? 0) + 1);
    }
    for (const [id, s] of this.sockets) this.cursor.set(id, s.frames.length);
    this.checkInvariants(text);
  }

  /** Glare: u and v invite each other at the same moment. */
  async glare(uRaw: number, offset: number, timeout: number, gap: number): Promise<void> {
    const u = uRaw % this.userIDs.length;
    const a = this.uid(u);
    const vIndex = this.userIDs.indexOf(this.other(u, offset));
    const b = this.userIDs[vIndex]!;
    const m = this.model;
    // Idle, and neither invitation would be refused by the invitation rates (then the other simply wins).
    const bothIdle = [a, b].every((x) => m.s.users[x]!.presence === 'online' && m.s.active[x] === undefined) && m.mayInvite(a, [b]) && m.mayInvite(b, [a]);
    const callsBefore = m.liveCalls().length;
    const ridA = this.nextRid;
    await this.run(
      [
        { k: 'invite', u, to: [offset], timeout, callType: 2 },
        { k: 'invite', u: vIndex, to: [(u - vIndex - 1 + 2 * this.userIDs.length) % this.userIDs.length], timeout, callType: 2 },
      ],
      gap,
      `glare ${a} ⇄ ${b} (timeout ${timeout}s, gap ${gap})${bothIdle ? '' : ' [not both idle]'}`,
    );
    this.stats.glare++;
    if (!bothIdle) return;
    this.stats.glareBothIdle++;
    // Stated outcome: the server handles one invite first; that call rings the other user, whose own
    // invite is refused with SELF_BUSY (40902). Exactly one new call; nobody gets a `busy` frame.
    const resA = this.findRes(a, ridA);
    const resB = this.findRes(b, ridA + 1);
    const oks = [resA, resB].filter((r) => r?.ok === true);
    const fail = (why: string) => {
      throw new ModelMismatch(`glare ${a} ⇄ ${b}: ${why}; res ${show(resA)} / ${show(resB)}\n${this.trail()}`);
    };
    if (oks.length !== 1) fail(`expected exactly one invite to succeed, ${oks.length} did`);
    const loser = resA?.ok === true ? resB : resA;
    if (loser?.code !== Code.SELF_BUSY) fail('expected the other invite to be refused with SELF_BUSY');
    if (this.model.liveCalls().length !== callsBefore + 1) fail('expected exactly one new call');
    if (this.server.stats().calls !== callsBefore + 1) fail(`server has ${this.server.stats().calls} calls, expected ${callsBefore + 1}`);
    const winnerCall = (resA?.ok === true ? resA : resB)!.data.inviteID as string;
    const loserUser = resA?.ok === true ? b : a;
    const loserSock = this.sockets.get(this.model.s.users[loserUser]!.conn!)!;
    if (!loserSock.frames.some((f) => f.t === 'invited' && f.inviteID === winnerCall)) fail(`${loserUser} did not ring in the winning call`);
    for (const x of [a, b]) {
      const s = this.sockets.get(this.model.s.users[x]!.conn!)!;
      if (s.frames.some((f) => f.t === 'busy' && f.inviteID === winnerCall)) fail(`${x} got a busy frame`);
    }
  }

  private findRes(user: string, rid: number): Frame | undefined {
    for (const s of this.sockets.values()) {
      if (!s.label.startsWith(`${user}#`)) continue;
      const f = s.frames.find((x) => x.t === 'res' && x.rid === rid);
      if (f) return f;
    }
    return undefined;
  }

  /** Waits for expected closes, for the server to see every close, then pings every open socket. */
  private async settle(closing: number[], model: Model): Promise<void> {
    await Promise.all(
      [...new Set(closing)].map((id) =>
        this.sockets
          .get(id)
          ?.waitClose(2000)
          .catch(() => {}),
      ),
    );
    const want = model.openSockets().length;
    const until = Date.now() + 3000;
    while (this.server.stats().connections !== want) {
      if (Date.now() > until) throw new ModelMismatch(`step ${this.step}: server has ${this.server.stats().connections} connections, model ${want}\n${this.trail()}`);
      await new Promise((r) => setTimeout(r, 1));
    }
    const open = model.openSockets().map((x) => this.sockets.get(x.id)!).filter((s) => s.isOpen);
    await Promise.all(open.map((s) => s.ping(3000)));
  }

  private compare(out: Outcome, model: Model, closedByUs: Set<number>): string[] {
    const diffs: string[] = [];
    for (const [id, s] of this.sockets) {
      const observed = s.frames.slice(this.cursor.get(id) ?? 0).filter((f) => !(f.t === 'res' && f.rid >= PING_RID_BASE));
      const expected = out.frames[id] ?? [];
      const n = closedByUs.has(id) ? observed.length : Math.max(observed.length, expected.length);
      for (let i = 0; i < n; i++) {
        if (expected[i] && observed[i] && frameMatches(expected[i]!, observed[i]!)) continue;
        diffs.push(`${s.label} frame ${i}: expected ${show(expected[i])}, got ${show(observed[i])}`);
        break;
      }
      const code = out.closes[id];
      const modelOpen = model.s.sockets[id]?.open ?? false;
      if (code !== undefined && s.closeInfo?.code !== code) diffs.push(`${s.label}: expected close ${code}, got ${s.closeInfo ? s.closeInfo.code : 'still open'}`);
      if (modelOpen && !s.isOpen) diffs.push(`${s.label}: closed by the server unexpectedly (${s.closeInfo?.code})`);
    }
    return diffs;
  }

  private checkInvariants(text: string): void {
    const st = this.server.stats();
    const want = (m: Model) => ({ connections: m.openSockets().length, users: m.presences(), calls: m.liveCalls().length });
    const agree = this.models.filter((m) => isDeepStrictEqual(want(m), st));
    if (agree.length === 0) {
      throw new ModelMismatch(`step ${this.step} (${text}): server stats ${JSON.stringify(st)}, model ${JSON.stringify(want(this.model))}\n${this.trail()}`);
    }
    this.models = agree;
    if (this.violations.length > 0) throw new ModelMismatch(`invariant violated:\n  ${this.violations.join('\n  ')}\n${this.trail()}`);
  }

  trail(): string {
    return `  steps so far (users ${this.userIDs.join(', ')}; grace ${this.cfg.grace}):\n    ${this.history.slice(-40).join('\n    ')}`;
  }

  /**
   * End of a sequence: everyone back online, everyone hangs up, the clock passes every timeout;
   * then no call may be left, and every user must be able to make a new call.
   */
  async finish(): Promise<void> {
    const m = () => this.model;
    const n = this.userIDs.length;
    for (let i = 0; i < n; i++) {
      const u = m().s.users[this.userIDs[i]!]!;
      if (u.presence === 'online') continue;
      await this.run([u.presence === 'detached' ? { k: 'resume', u: i, back: 0, badToken: false } : { k: 'login', u: i }]);
    }
    for (let i = 0; i < n; i++) {
      if (m().activeCallOf(this.userIDs[i]!)) await this.run([{ k: 'hangup', u: i, ref: { kind: 'mine' } }], 0, `final: u${i}.hangup(mine)`);
    }
    await this.run([{ k: 'advance', ms: 25 * 3600_000 }], 0, 'final: advance past every timeout');
    const stuck = this.userIDs.filter((u) => m().activeCallOf(u));
    if (stuck.length > 0 || this.server.stats().calls !== 0) {
      throw new ModelMismatch(`after everyone hung up: server calls ${this.server.stats().calls}, model says still active: ${stuck.join(', ')}\n${this.trail()}`);
    }
    const open = m().s.stints.filter((s) => s.exit === null);
    if (open.length > 0) throw new ModelMismatch(`joined stints never closed: ${JSON.stringify(open)}\n${this.trail()}`);
    // Every user can make a new call: i calls i+1, who accepts; i hangs up and i+1 sees it end.
    for (let i = 0; i < n; i++) {
      const callee = (i + 1) % n;
      const rid = this.nextRid;
      await this.run([{ k: 'invite', u: i, to: [0], timeout: 30, callType: 1 }], 0, `final: u${i} calls u${callee}`);
      const res = this.findRes(this.userIDs[i]!, rid);
      if (res?.ok !== true) throw new ModelMismatch(`final: ${this.userIDs[i]} cannot make a new call: ${show(res)}\n${this.trail()}`);
      await this.run([{ k: 'accept', u: callee, ref: { kind: 'mine' } }], 0, `final: u${callee} accepts`);
      await this.run([{ k: 'hangup', u: i, ref: { kind: 'mine' } }], 0, `final: u${i} hangs up`);
      const calleeSock = this.sockets.get(m().s.users[this.userIDs[callee]!]!.conn!)!;
      if (!calleeSock.frames.some((f) => f.t === 'ended' && f.inviteID === res.data.inviteID && f.connected === true)) {
        throw new ModelMismatch(`final: ${this.userIDs[callee]} got no ended frame for the new call\n${this.trail()}`);
      }
    }
    if (this.server.stats().calls !== 0) throw new ModelMismatch(`final: ${this.server.stats().calls} calls left\n${this.trail()}`);
    this.checkLedger();
  }

  /** Every joined stint ended; those ended by the server were told so with an `ended` frame (unless lost to a fresh login). */
  private checkLedger(): void {
    const problems: string[] = [];
    for (const st of this.model.s.stints) {
      if (st.exit === null) problems.push(`${st.user} still joined to ${st.inviteID}`);
      if (st.exit === 'hangup') {
        const ok = [...this.sockets.values()].some((s) => s.label.startsWith(`${st.user}#`) && s.frames.some((f) => f.t === 'res' && f.ok === true && this.hangupRids.get(f.rid) === st.inviteID));
        if (!ok) problems.push(`${st.user} left ${st.inviteID} by hanging up but has no ok res for it`);
      }
    }
    if (problems.length > 0) throw new ModelMismatch(`ledger: ${problems.join('; ')}\n${this.trail()}`);
  }

  /** Logs every user out (no reconnect-grace timers left behind). */
  async logoutAll(): Promise<void> {
    for (let i = 0; i < this.userIDs.length; i++) {
      if (this.model.s.users[this.userIDs[i]!]!.presence === 'online') await this.run([{ k: 'logout', u: i }]);
    }
  }
}
