/**
 * The reference model of the signaling server's call behaviour, written from docs/protocol.md and
 * the rules in README/call-engine (busy iff ringing or joined elsewhere; invitation batches with
 * timers; a connected call ends when fewer than 2 are joined; an unconnected one goes on while
 * the sponsor waits and someone rings).
 *
 * The model is plain data (cloneable with structuredClone) plus pure transition functions. Each
 * operation returns what every socket must receive, in order: the `res` to the request and every
 * event frame, with its `seq`. The driver (driver.ts) compares that with what the real server sent.
 *
 * Values only the server can choose (inviteID, roomID, resume token) are taken from the observed
 * `res`; everything else is predicted.
 */

export const MAX_PARTICIPANTS = 4; // the server's default meshMaxParticipants
const BACKLOG_LIMIT = 256; // SessionRegistry's replay backlog
/** The server's default abuse limits (docs/configuration.md, "Abuse limits"). */
export const MAX_RING_MS = 120_000; // OPENCALL_MAX_RING_S: `timeout` 0 and longer ones ring this long
const INVITE_RATE = 20; // OPENCALL_INVITE_RATE: invite/addInvitees requests per caller per minute ...
const INVITE_BURST = 10; // ... OPENCALL_INVITE_BURST at once
const RING_RATE = 5; // OPENCALL_RING_RATE: rings per caller→callee pair per minute (and burst)

export type MemberState = 'ringing' | 'joined' | 'left' | 'rejected' | 'busy' | 'no_answer' | 'cancelled';
export type Exit = 'ended' | 'hangup' | 'logout' | 'disconnected' | 'kicked';

export interface MMember {
  user: string;
  state: MemberState;
  batch: number;
  /** Ringing, it relayed to someone in the call: it opted into early media, relays to it may flow. */
  earlyMedia?: true;
}

export interface MBatch {
  idx: number;
  startedAt: number;
  /** Clock time the batch's timer fires; null: no timer (timeout 0, or nobody rang). */
  due: number | null;
  /** Order in which timers were set (ties on `due` fire in this order). */
  order: number;
  fired: boolean;
}

export interface MCall {
  key: number;
  inviteID: string;
  roomID: number;
  sponsor: string;
  callType: 1 | 2;
  timeoutMs: number;
  createdAt: number;
  connectedAt: number | null;
  endedAt: number | null;
  endReason: string | null;
  /** In the server's member order (re-invited members move to the end). */
  members: MMember[];
  batches: MBatch[];
}

/** One period a user spent joined to a call, and how it ended. */
export interface Stint {
  callKey: number;
  inviteID: string;
  user: string;
  exit: Exit | null;
}

export interface MUser {
  id: string;
  presence: 'none' | 'online' | 'detached';
  /** The socket holding the presence while online. */
  conn: number | null;
  /** The user's current open socket (logged in or not), if any. */
  sock: number | null;
  /** Last event seq of the presence, and the last one delivered to a live socket. */
  seq: number;
  delivered: number;
  /** Event frames of this presence still in the server's replay backlog (last 256). */
  backlog: Frame[];
  /** Resume token from the last successful login. */
  token: string | null;
}

export interface MSocket {
  id: number;
  user: string;
  open: boolean;
  loggedIn: boolean;
  /** Logged in at some point: before that, a refused request also closes the socket (4003, issue 11). */
  everLoggedIn: boolean;
}

export interface ModelState {
  now: number;
  /** True: dropped users stay present (long reconnect grace); false: reconnectGraceMs 0. */
  grace: boolean;
  users: Record<string, MUser>;
  sockets: Record<number, MSocket>;
  calls: MCall[];
  /** userID → key of the call they ring in or are joined to. */
  active: Record<string, number>;
  timerOrder: number;
  nextSock: number;
  stints: Stint[];
  /** Busy decisions the model made, with why (for the report). */
  busyLog: { inviteID: string; user: string; why: string }[];
  /** Token buckets of the invitation rates: by caller, and by "caller>callee". */
  inviteBuckets: Record<string, Bucket>;
  ringBuckets: Record<string, Bucket>;
}

export interface Bucket {
  tokens: number;
  at: number;
}

export type Frame = Record<string, any>;

/** What one step must produce. */
export interface Outcome {
  /** socket id → frames it must receive, in order (res and events; pings excluded). */
  frames: Record<number, Frame[]>;
  /** socket id → close code the server must close it with. */
  closes: Record<number, number>;
}

const NO_MEDIA = { audio: false, video: false };

export function initialState(userIDs: string[], grace: boolean, now: number): ModelState {
  const users: Record<string, MUser> = {};
  for (const id of userIDs) users[id] = { id, presence: 'none', conn: null, sock: null, seq: 0, delivered: 0, backlog: [], token: null };
  return { now, grace, users, sockets: {}, calls: [], active: {}, timerOrder: 0, nextSock: 1, stints: [], busyLog: [], inviteBuckets: {}, ringBuckets: {} };
}

/** Wire-level operation with every reference resolved (user IDs, inviteIDs, socket ids, rids). */
export type ROp =
  | { k: 'login'; u: string; sock: number; rid: number; resume?: { token: string; lastSeq: number } }
  | { k: 'logout'; u: string; sock: number; rid: number }
  | { k: 'drop'; u: string; sock: number | null; hard: boolean }
  | { k: 'invite'; u: string; sock: number; rid: number; to: string[]; timeout: number; callType: 1 | 2 }
  | { k: 'accept'; u: string; sock: number; rid: number; inviteID: string }
  | { k: 'reject'; u: string; sock: number; rid: number; inviteID: string; busy: boolean }
  | { k: 'hangup'; u: string; sock: number; rid: number; inviteID: string }
  | { k: 'add'; u: string; sock: number; rid: number; inviteID: string; to: string[] }
  | { k: 'relay'; u: string; sock: number; rid: number; inviteID: string; to: string }
  | { k: 'advance'; ms: number };

export const Code = {
  INVALID_MESSAGE: 40002,
  NOT_LOGGED_IN: 40105,
  ALREADY_LOGGED_IN: 40106,
  NOT_A_PARTICIPANT: 40301,
  CALL_NOT_FOUND: 40401,
  PEER_UNAVAILABLE: 40402,
  INVALID_STATE: 40901,
  SELF_BUSY: 40902,
  TOO_MANY_PARTICIPANTS: 40903,
  RATE_LIMITED: 42901,
} as const;

/** A handler that wrote its own `res` (to order it among its events) returns this. */
const ANSWERED = Symbol('answered');
type Answer = Record<string, unknown> | undefined | typeof ANSWERED;

class Refused extends Error {
  constructor(readonly code: number, why: string) {
    super(why);
  }
}

export interface ModelOptions {
  /**
   * How the `timeout` of an `invited` frame is computed. 'batch' (the documented meaning,
   * "seconds left before this invitation times out"): from the invitee's own invitation batch.
   * 'call': from the call's creation, as the server does today (see docs/model-testing.md, bug 1).
   */
  invitedTimeout: 'batch' | 'call';
}

export const DEFAULT_MODEL_OPTIONS: ModelOptions = { invitedTimeout: 'batch' };

/** Applies one operation to a model state, given the server's `res` for it (if it is a request). */
export class Model {
  private out: Outcome = { frames: {}, closes: {} };

  constructor(
    readonly s: ModelState,
    private readonly opts: ModelOptions = DEFAULT_MODEL_OPTIONS,
  ) {}

  clone(): Model {
    return new Model(structuredClone(this.s), this.opts);
  }

  liveCalls(): MCall[] {
    return this.s.calls.filter((c) => c.endedAt === null);
  }

  callByInviteID(inviteID: string): MCall | undefined {
    return this.s.calls.find((c) => c.inviteID === inviteID && c.endedAt === null);
  }

  activeCallOf(u: string): MCall | undefined {
    const k = this.s.active[u];
    return k === undefined ? undefined : this.s.calls[k];
  }

  openSockets(): MSocket[] {
    return Object.values(this.s.sockets).filter((x) => x.open);
  }

  presences(): number {
    return Object.values(this.s.users).filter((u) => u.presence !== 'none').length;
  }

  /** A new (not logged in) socket for user u; becomes their current socket. */
  newSocket(u: string): number {
    const id = this.s.nextSock;
    this.addSocket(id, u);
    return id;
  }

  addSocket(id: number, u: string): void {
    this.s.nextSock = Math.max(this.s.nextSock, id + 1);
    this.s.sockets[id] = { id, user: u, open: true, loggedIn: false, everLoggedIn: false };
    this.s.users[u]!.sock = id;
  }

  /** A canonical text of the state, to merge possible worlds that ended up identical. */
  fingerprint(): string {
    return JSON.stringify(this.s);
  }

  /** Applies `op`; `res` is the server's answer to it (undefined for drop/advance). */
  apply(op: ROp, res: Frame | undefined): Outcome {
    this.out = { frames: {}, closes: {} };
    if (op.k === 'advance') this.advance(op.ms);
    else if (op.k === 'drop') this.drop(op);
    // A socket the server closed answers nothing (a request raced with the refusal that closed it).
    else if (this.s.sockets[op.sock]?.open === false) return this.out;
    else {
      try {
        const data = this.request(op, res);
        if (data !== ANSWERED) this.emit(op.sock, data === undefined ? { t: 'res', rid: op.rid, ok: true } : { t: 'res', rid: op.rid, ok: true, data });
      } catch (err) {
        if (!(err instanceof Refused)) throw err;
        this.emit(op.sock, { t: 'res', rid: op.rid, ok: false, code: err.code });
        // Before its first login a socket may only log in (or ping): the refusal is followed by a close.
        if (op.k !== 'login' && !this.s.sockets[op.sock]!.everLoggedIn) this.closeSocket(op.sock, 4003);
      }
    }
    return this.out;
  }

  // ---- requests -------------------------------------------------------------------------------

  private request(op: Exclude<ROp, { k: 'advance' } | { k: 'drop' }>, res: Frame | undefined): Answer {
    const sock = this.s.sockets[op.sock]!;
    if (op.k === 'login') return this.login(op, sock, res);
    if (!sock.loggedIn) throw new Refused(Code.NOT_LOGGED_IN, 'not logged in');
    const u = op.u;
    switch (op.k) {
      case 'logout': {
        this.dropPresence(u);
        sock.loggedIn = false;
        this.userGone(u, 'logout');
        return undefined;
      }
      case 'invite':
        return this.invite(u, op, res);
      case 'accept': {
        const { call, member } = this.memberOf(u, op.inviteID);
        if (member.state !== 'ringing') throw new Refused(Code.INVALID_STATE, `accept while ${member.state}`);
        member.state = 'joined';
        this.s.stints.push({ callKey: call.key, inviteID: call.inviteID, user: u, exit: null });
        call.connectedAt ??= this.s.now;
        this.notifyJoined(call, { t: 'accepted', inviteID: call.inviteID, userID: u, media: NO_MEDIA }, u);
        return {
          inviteID: call.inviteID,
          roomID: call.roomID,
          callType: call.callType,
          sponsor: call.sponsor,
          participants: this.inState(call, 'joined').filter((m) => m.user !== u).map((m) => ({ userID: m.user, media: NO_MEDIA })),
          ringing: this.inState(call, 'ringing').map((m) => m.user),
          userIDList: this.invitees(call),
        };
      }
      case 'reject': {
        const { call, member } = this.memberOf(u, op.inviteID);
        if (member.state !== 'ringing') throw new Refused(Code.INVALID_STATE, `reject while ${member.state}`);
        if (op.busy) this.s.busyLog.push({ inviteID: call.inviteID, user: u, why: 'the invitee answered busy (reject busy:true)' });
        this.decline(call, member, op.busy ? 'busy' : 'rejected');
        this.settle(call, op.busy ? 'busy' : 'rejected');
        return undefined;
      }
      case 'hangup': {
        const { call, member } = this.memberOf(u, op.inviteID);
        this.leave(call, member, 'hangup');
        return { ended: call.endedAt !== null, duration: this.durationOf(call) };
      }
      case 'add':
        return this.addInvitees(u, op);
      case 'relay': {
        const { call, member } = this.memberOf(u, op.inviteID);
        const target = call.members.find((m) => m.user === op.to);
        if (!target || op.to === u) throw new Refused(Code.NOT_A_PARTICIPANT, 'relay target not in the call');
        const activeStates = ['ringing', 'joined'];
        if (!activeStates.includes(member.state) || !activeStates.includes(target.state)) throw new Refused(Code.INVALID_STATE, 'relay with a party that left');
        if (member.state !== 'joined' && target.state !== 'joined') throw new Refused(Code.INVALID_STATE, 'relay between two ringing invitees');
        // Privacy: a ringing member takes relays only after opting into early media by relaying first.
        if (member.state !== 'ringing' && target.state === 'ringing' && !target.earlyMedia) throw new Refused(Code.INVALID_STATE, 'relay to a ringing invitee who did not opt into early media');
        if (member.state === 'ringing') member.earlyMedia = true;
        const delivered = this.deliver(op.to, { t: 'relay', inviteID: call.inviteID, from: u, payload: { kind: 'ready' } });
        // Whether an invitee still ringing is online is not told (privacy): only a participant's absence is.
        if (!delivered && target.state === 'joined') throw new Refused(Code.PEER_UNAVAILABLE, 'offline');
        return undefined;
      }
    }
  }

  private login(op: Extract<ROp, { k: 'login' }>, sock: MSocket, res: Frame | undefined): Answer {
    if (sock.loggedIn) throw new Refused(Code.ALREADY_LOGGED_IN, 'already logged in');
    const u = op.u;
    const p = this.s.users[u]!;
    if (op.resume && p.presence !== 'none' && op.resume.token === p.token && op.resume.lastSeq <= p.seq) {
      const first = p.backlog[0]?.seq ?? p.seq + 1;
      if (op.resume.lastSeq + 1 >= first) {
        if (p.presence === 'online' && p.conn !== null && p.conn !== sock.id) {
          // The connection that held the presence is closed quietly (1000), without a kick.
          this.closeSocket(p.conn, 1000);
        }
        p.presence = 'online';
        p.conn = sock.id;
        sock.loggedIn = true;
        sock.everLoggedIn = true;
        this.emit(sock.id, { t: 'res', rid: op.rid, ok: true, data: { userID: u, resumed: true } });
        for (const f of p.backlog) if (f.seq > op.resume.lastSeq) this.emit(sock.id, f);
        p.delivered = p.seq;
        return ANSWERED;
      }
    }
    const had = p.presence !== 'none';
    if (p.presence === 'online' && p.conn !== null && p.conn !== sock.id) {
      this.emit(p.conn, { t: 'kicked', reason: 'login_elsewhere' });
      this.closeSocket(p.conn, 4001);
    }
    this.dropPresence(u);
    p.presence = 'online';
    p.conn = sock.id;
    p.seq = 0;
    p.delivered = 0;
    p.backlog = [];
    p.token = res?.ok === true && typeof res.data?.resumeToken === 'string' ? res.data.resumeToken : null;
    sock.loggedIn = true;
    sock.everLoggedIn = true;
    if (had) this.userGone(u, 'kicked');
    this.emit(sock.id, { t: 'res', rid: op.rid, ok: true, data: { userID: u, resumed: false } });
    // userOnline: an invitation still ringing for the user rings again.
    const call = this.activeCallOf(u);
    const member = call?.members.find((m) => m.user === u);
    if (call && member?.state === 'ringing') {
      delete member.earlyMedia; // the device that rings now has not opted in
      this.ring(call, member);
    }
    return ANSWERED;
  }

  private invite(u: string, op: Extract<ROp, { k: 'invite' }>, res: Frame | undefined): Answer {
    if (this.s.active[u] !== undefined) throw new Refused(Code.SELF_BUSY, 'already active');
    const invitees = [...new Set(op.to)];
    if (invitees.includes(u)) throw new Refused(Code.INVALID_MESSAGE, 'self invite');
    if (invitees.length + 1 > MAX_PARTICIPANTS) throw new Refused(Code.TOO_MANY_PARTICIPANTS, 'too many');
    this.admitInvitation(u, invitees);
    const ok = res?.ok === true;
    const call: MCall = {
      key: this.s.calls.length,
      inviteID: ok ? String(res.data?.inviteID) : `?unknown-${this.s.calls.length}`,
      roomID: ok ? Number(res.data?.roomID) : -1,
      sponsor: u,
      callType: op.callType,
      timeoutMs: op.timeout === 0 ? MAX_RING_MS : Math.min(op.timeout * 1000, MAX_RING_MS),
      createdAt: this.s.now,
      connectedAt: null,
      endedAt: null,
      endReason: null,
      members: [{ user: u, state: 'joined', batch: -1 }],
      batches: [],
    };
    this.s.calls.push(call);
    this.s.stints.push({ callKey: call.key, inviteID: call.inviteID, user: u, exit: null });
    this.s.active[u] = call.key;
    const batch = this.newBatch(call);
    for (const x of invitees) {
      const busy = this.s.active[x] !== undefined;
      if (busy) this.s.busyLog.push({ inviteID: call.inviteID, user: x, why: this.whyBusy(x) });
      call.members.push({ user: x, state: busy ? 'busy' : 'ringing', batch: batch.idx });
      if (!busy) this.s.active[x] = call.key;
    }
    // The sponsor learns the inviteID before any LINE_BUSY for it.
    this.emit(op.sock, { t: 'res', rid: op.rid, ok: true, data: {} });
    for (const m of call.members) {
      if (m.state === 'ringing') this.ring(call, m);
      else if (m.state === 'busy') this.notifyJoined(call, { t: 'busy', inviteID: call.inviteID, userID: m.user });
    }
    this.armBatch(call, batch, this.inState(call, 'ringing').length > 0);
    this.settle(call, 'busy');
    return ANSWERED;
  }

  private addInvitees(u: string, op: Extract<ROp, { k: 'add' }>): Record<string, unknown> {
    const { call, member } = this.memberOf(u, op.inviteID);
    if (member.state !== 'joined') throw new Refused(Code.INVALID_STATE, 'only a participant may invite');
    const fresh = [...new Set(op.to)].filter((id) => !this.isActiveIn(call, id));
    if (fresh.length === 0) return { userIDList: this.invitees(call) };
    const active = this.inState(call, 'ringing').length + this.inState(call, 'joined').length;
    if (active + fresh.length > MAX_PARTICIPANTS) throw new Refused(Code.TOO_MANY_PARTICIPANTS, 'too many');
    this.admitInvitation(u, fresh);
    const batch = this.newBatch(call);
    const ringing: MMember[] = [];
    for (const id of fresh) {
      const busy = this.s.active[id] !== undefined;
      const m: MMember = { user: id, state: busy ? 'busy' : 'ringing', batch: batch.idx };
      call.members = call.members.filter((x) => x.user !== id);
      call.members.push(m);
      if (busy) {
        this.s.busyLog.push({ inviteID: call.inviteID, user: id, why: this.whyBusy(id) });
        this.notifyJoined(call, { t: 'busy', inviteID: call.inviteID, userID: id });
      } else {
        this.s.active[id] = call.key;
        ringing.push(m);
      }
    }
    const userIDList = this.invitees(call);
    this.notifyActive(call, { t: 'inviteeList', inviteID: call.inviteID, userIDList });
    for (const m of ringing) this.ring(call, m);
    this.armBatch(call, batch, ringing.length > 0);
    return { userIDList };
  }

  // ---- socket events --------------------------------------------------------------------------

  private drop(op: Extract<ROp, { k: 'drop' }>): void {
    if (op.sock === null) return;
    const sock = this.s.sockets[op.sock]!;
    sock.open = false;
    const p = this.s.users[sock.user]!;
    if (p.sock === sock.id) p.sock = null;
    if (!sock.loggedIn) return;
    sock.loggedIn = false;
    if (p.conn !== sock.id) return;
    if (this.s.grace) {
      p.presence = 'detached';
      p.conn = null;
    } else {
      this.dropPresence(p.id);
      this.userGone(p.id, 'disconnected');
    }
  }

  private advance(ms: number): void {
    const target = this.s.now + ms;
    for (;;) {
      let next: { call: MCall; batch: MBatch } | undefined;
      for (const call of this.s.calls) {
        for (const b of call.batches) {
          if (b.fired || b.due === null || b.due > target) continue;
          if (!next || b.due < next.batch.due! || (b.due === next.batch.due && b.order < next.batch.order)) next = { call, batch: b };
        }
      }
      if (!next) break;
      next.batch.fired = true;
      this.s.now = Math.max(this.s.now, next.batch.due!);
      this.expireBatch(next.call, next.batch.idx);
    }
    this.s.now = target;
  }

  // ---- engine rules ---------------------------------------------------------------------------

  private whyBusy(x: string): string {
    const c = this.activeCallOf(x)!;
    const st = c.members.find((m) => m.user === x)?.state;
    return `${x} was ${st} in call #${c.key}`;
  }

  private memberOf(u: string, inviteID: string): { call: MCall; member: MMember } {
    const call = this.callByInviteID(inviteID);
    if (!call) throw new Refused(Code.CALL_NOT_FOUND, 'no such call');
    const member = call.members.find((m) => m.user === u);
    // A stranger cannot tell a running call from none (privacy).
    if (!member) throw new Refused(Code.CALL_NOT_FOUND, 'not a party');
    return { call, member };
  }

  /**
   * The invitation rates: refused (nothing taken, nobody rung) when the caller has no whole token
   * left, or any callee's pair bucket has none; else one token from each. Buckets refill
   * continuously (rate per minute) up to their burst.
   */
  private admitInvitation(caller: string, callees: string[]): void {
    const now = this.s.now;
    if (!this.mayInvite(caller, callees)) throw new Refused(Code.RATE_LIMITED, 'invitation or ring rate');
    for (const c of callees) {
      const key = `${caller}>${c}`;
      this.s.ringBuckets[key] = { tokens: available(this.s.ringBuckets[key], RING_RATE, RING_RATE, now) - 1, at: now };
    }
    this.s.inviteBuckets[caller] = { tokens: available(this.s.inviteBuckets[caller], INVITE_RATE, INVITE_BURST, now) - 1, at: now };
  }

  /** Whether the invitation rates let `caller` ring `callees` now. */
  mayInvite(caller: string, callees: string[]): boolean {
    const now = this.s.now;
    if (available(this.s.inviteBuckets[caller], INVITE_RATE, INVITE_BURST, now) < 1) return false;
    return callees.every((c) => available(this.s.ringBuckets[`${caller}>${c}`], RING_RATE, RING_RATE, now) >= 1);
  }

  private newBatch(call: MCall): MBatch {
    const b: MBatch = { idx: call.batches.length, startedAt: this.s.now, due: null, order: 0, fired: false };
    call.batches.push(b);
    return b;
  }

  private armBatch(call: MCall, b: MBatch, anyRinging: boolean): void {
    if (call.timeoutMs > 0 && anyRinging && call.endedAt === null) {
      b.due = b.startedAt + call.timeoutMs;
      b.order = ++this.s.timerOrder;
    }
  }

  private ring(call: MCall, m: MMember): void {
    let timeout = 0;
    if (call.timeoutMs > 0) {
      const batch = call.batches[m.batch]!;
      const deadline = this.opts.invitedTimeout === 'batch' ? batch.startedAt + call.timeoutMs : call.createdAt + call.timeoutMs;
      timeout = Math.max(1, Math.ceil((deadline - this.s.now) / 1000));
    }
    this.deliver(m.user, {
      t: 'invited',
      inviteID: call.inviteID,
      roomID: call.roomID,
      sponsor: call.sponsor,
      userIDList: this.invitees(call),
      isFromGroup: false,
      callType: call.callType,
      timeout,
      media: NO_MEDIA,
      joined: this.inState(call, 'joined').map((x) => x.user),
    });
  }

  private expireBatch(call: MCall, idx: number): void {
    if (call.endedAt !== null) return;
    const expired = call.members.filter((m) => m.state === 'ringing' && m.batch === idx);
    if (expired.length === 0) return;
    for (const m of expired) {
      m.state = 'no_answer';
      delete this.s.active[m.user];
      this.deliver(m.user, { t: 'timedOut', inviteID: call.inviteID });
    }
    this.notifyJoined(call, { t: 'noResp', inviteID: call.inviteID, userIDList: expired.map((m) => m.user) });
    this.settle(call, 'no_answer');
  }

  private decline(call: MCall, m: MMember, outcome: 'rejected' | 'busy'): void {
    m.state = outcome;
    delete this.s.active[m.user];
    this.notifyJoined(call, { t: outcome, inviteID: call.inviteID, userID: m.user });
  }

  private userGone(u: string, reason: 'logout' | 'disconnected' | 'kicked'): void {
    const call = this.activeCallOf(u);
    const member = call?.members.find((m) => m.user === u);
    if (!call || !member || member.state !== 'joined') return;
    this.leave(call, member, reason);
  }

  private leave(call: MCall, m: MMember, reason: 'hangup' | 'logout' | 'disconnected' | 'kicked'): void {
    if (call.endedAt !== null) return;
    if (m.state === 'ringing') {
      this.decline(call, m, 'rejected');
      this.settle(call, 'rejected');
      return;
    }
    if (m.state !== 'joined') throw new Refused(Code.INVALID_STATE, `hangup while ${m.state}`);
    this.closeStint(call, m.user, reason);
    m.state = 'left';
    delete this.s.active[m.user];
    if (m.user === call.sponsor && call.connectedAt === null) {
      this.end(call, 'cancelled');
      return;
    }
    // A leave that ends the call is told in the `ended` frame (leftUserID), not in a `left` first.
    if (!this.canGoOn(call)) return this.end(call, reason, m.user);
    this.notifyJoined(call, { t: 'left', inviteID: call.inviteID, userID: m.user });
  }

  private settle(call: MCall, reason: string): void {
    if (call.endedAt === null && !this.canGoOn(call)) this.end(call, reason);
  }

  private canGoOn(call: MCall): boolean {
    const joined = this.inState(call, 'joined').length;
    return joined >= 2 || (joined === 1 && call.connectedAt === null && this.inState(call, 'ringing').length > 0);
  }

  private end(call: MCall, reason: string, leftUserID?: string): void {
    if (call.endedAt !== null) return;
    call.endedAt = this.s.now;
    call.endReason = reason;
    const duration = this.durationOf(call);
    for (const m of call.members) {
      if (m.state === 'ringing') {
        m.state = 'cancelled';
        this.deliver(m.user, { t: 'cancelled', inviteID: call.inviteID, sponsor: call.sponsor });
      } else if (m.state === 'joined') {
        m.state = 'left';
        this.closeStint(call, m.user, 'ended');
        this.deliver(m.user, {
          t: 'ended',
          inviteID: call.inviteID,
          roomID: call.roomID,
          callType: call.callType,
          connected: call.connectedAt !== null,
          duration,
          reason,
          ...(leftUserID !== undefined && { leftUserID }),
        });
      } else continue;
      if (this.s.active[m.user] === call.key) delete this.s.active[m.user];
    }
  }

  private durationOf(call: MCall): number {
    if (call.connectedAt === null) return 0;
    return Math.round(((call.endedAt ?? this.s.now) - call.connectedAt) / 1000);
  }

  private closeStint(call: MCall, user: string, exit: Exit): void {
    const st = this.s.stints.find((x) => x.callKey === call.key && x.user === user && x.exit === null);
    if (st) st.exit = exit;
  }

  private inState(call: MCall, state: MemberState): MMember[] {
    return call.members.filter((m) => m.state === state);
  }

  private invitees(call: MCall): string[] {
    return call.members.filter((m) => m.user !== call.sponsor).map((m) => m.user);
  }

  private isActiveIn(call: MCall, u: string): boolean {
    const st = call.members.find((m) => m.user === u)?.state;
    return st === 'ringing' || st === 'joined';
  }

  private notifyJoined(call: MCall, frame: Frame, except?: string): void {
    for (const m of call.members) if (m.state === 'joined' && m.user !== except) this.deliver(m.user, frame);
  }

  private notifyActive(call: MCall, frame: Frame): void {
    for (const m of call.members) if (m.state === 'joined' || m.state === 'ringing') this.deliver(m.user, frame);
  }

  // ---- delivery -------------------------------------------------------------------------------

  /** SessionRegistry.send: false when the user has no presence; buffered while detached. */
  private deliver(u: string, frame: Frame): boolean {
    const p = this.s.users[u]!;
    if (p.presence === 'none') return false;
    const f = { ...frame, seq: ++p.seq };
    p.backlog.push(f);
    if (p.backlog.length > BACKLOG_LIMIT) p.backlog.splice(0, p.backlog.length - BACKLOG_LIMIT);
    if (p.presence === 'online' && p.conn !== null) {
      this.emit(p.conn, f);
      p.delivered = f.seq;
    }
    return true;
  }

  private dropPresence(u: string): void {
    const p = this.s.users[u]!;
    p.presence = 'none';
    p.conn = null;
  }

  private closeSocket(id: number, code: number): void {
    const sock = this.s.sockets[id]!;
    sock.open = false;
    sock.loggedIn = false;
    const p = this.s.users[sock.user]!;
    if (p.sock === id) p.sock = null;
    this.out.closes[id] = code;
  }

  private emit(sock: number, frame: Frame): void {
    (this.out.frames[sock] ??= []).push(frame);
  }
}

/** Tokens of a bucket at `now` (none yet: full). */
function available(b: Bucket | undefined, perMinute: number, burst: number, now: number): number {
  return b === undefined ? burst : Math.min(burst, b.tokens + (Math.max(0, now - b.at) * perMinute) / 60_000);
}
