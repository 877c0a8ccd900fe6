/**
 * Model-based tests of the call state machine (issue 6: correctness under races).
 *
 * fast-check generates sequences of login, logout, socket drops and reconnects (fresh or resumed),
 * 1:1 and group invitations, accept, reject (busy or not), hangup, addInvitees, relays, clock
 * advances (a ManualClock drives invitation timeouts) and races (two operations sent at the same
 * moment, glare among them), across 3-5 users. Each runs against a real server over real
 * WebSockets; after every step each socket's frames must be exactly what the model predicts
 * (in some order the server could have handled a race in), and global invariants must hold.
 * See docs/model-testing.md.
 *
 * OPENCALL_MODEL_RUNS (default 250) sets the number of sequences; OPENCALL_MODEL_SEED and
 * OPENCALL_MODEL_PATH replay a failure fast-check reported.
 */
import v8 from 'node:v8';
import vm from 'node:vm';
import { appendFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { World, opText, type Op, type Ref } from './driver.js';
import { DEFAULT_MODEL_OPTIONS, type ModelOptions } from './model.js';

const RUNS = Number(process.env.OPENCALL_MODEL_RUNS ?? 250);
const SEED = process.env.OPENCALL_MODEL_SEED !== undefined ? Number(process.env.OPENCALL_MODEL_SEED) : undefined;
const PATH = process.env.OPENCALL_MODEL_PATH;
const MAX_COMMANDS = Number(process.env.OPENCALL_MODEL_MAX_COMMANDS ?? 40);
/**
 * Known server bugs the random run tolerates (so it keeps looking for new ones); each has its own
 * strict test below. OPENCALL_MODEL_STRICT=1 tolerates nothing.
 */
const STRICT = process.env.OPENCALL_MODEL_STRICT === '1';
/**
 * Server metrics on (the default, as in production), except in runs of more than 2,000 sequences:
 * a closed server with metrics is never garbage collected (BUG 2, server-leak.test.ts), which adds
 * up to gigabytes over 10,000 servers. OPENCALL_MODEL_METRICS=1/0 decides explicitly.
 */
const METRICS = process.env.OPENCALL_MODEL_METRICS !== undefined ? process.env.OPENCALL_MODEL_METRICS === '1' : RUNS <= 2000;
/** Appends a progress line every 250 sequences to this file (long runs print nothing until the end). */
const PROGRESS = process.env.OPENCALL_MODEL_PROGRESS;
// BUG 1 is fixed: the model now checks the documented `timeout` everywhere (STRICT kept for the long-run script).
const MODEL_OPTIONS: ModelOptions = DEFAULT_MODEL_OPTIONS;

// ---- arbitraries ----------------------------------------------------------------------------

const user = fc.nat({ max: 4 });
const offset = fc.nat({ max: 3 });
const ref: fc.Arbitrary<Ref> = fc.oneof(
  { weight: 7, arbitrary: fc.constant<Ref>({ kind: 'mine' }) },
  { weight: 3, arbitrary: fc.nat({ max: 30 }).map<Ref>((n) => ({ kind: 'pick', n })) },
  { weight: 1, arbitrary: fc.constant<Ref>({ kind: 'bogus' }) },
);
const timeout = fc.constantFrom(0, 10, 30, 60);
const ms = fc.constantFrom(1, 999, 1000, 5000, 9_999, 10_000, 29_000, 30_000, 31_000, 60_000, 120_000);

const invite = fc.record({ k: fc.constant('invite' as const), u: user, to: fc.tuple(offset), timeout, callType: fc.constantFrom(1 as const, 2 as const) });
const groupInvite = fc.record({ k: fc.constant('invite' as const), u: user, to: fc.tuple(offset, offset), timeout, callType: fc.constantFrom(1 as const, 2 as const) });
const accept = fc.record({ k: fc.constant('accept' as const), u: user, ref });
const reject = fc.record({ k: fc.constant('reject' as const), u: user, ref, busy: fc.boolean() });
const hangup = fc.record({ k: fc.constant('hangup' as const), u: user, ref });
const add = fc.record({ k: fc.constant('add' as const), u: user, ref, to: fc.array(offset, { minLength: 1, maxLength: 3 }) });
const relay = fc.record({ k: fc.constant('relay' as const), u: user, ref, to: offset });
const logout = fc.record({ k: fc.constant('logout' as const), u: user });
const login = fc.record({ k: fc.constant('login' as const), u: user });
const resume = fc.record({ k: fc.constant('resume' as const), u: user, back: fc.constantFrom(0, 0, 0, 1, 2), badToken: fc.constantFrom(false, false, false, false, true) });
const drop = fc.record({ k: fc.constant('drop' as const), u: user, hard: fc.boolean() });
const advance = fc.record({ k: fc.constant('advance' as const), ms });

/** Operations that may race: requests, clock advances, and connections dropped or (re)made. */
const raceable: fc.Arbitrary<Op> = fc.oneof(invite, groupInvite, accept, accept, reject, hangup, hangup, add, relay, logout, advance, login, resume, drop);
const CONNECTION_OPS = new Set(['login', 'resume', 'drop']);

class StepCommand implements fc.AsyncCommand<object, World> {
  constructor(
    readonly ops: Op[],
    readonly gap: number,
  ) {}
  check = () => true;
  async run(_m: object, w: World): Promise<void> {
    const [a, b] = this.ops;
    // One user's socket cannot race with itself being closed or replaced: those run one after the other.
    const sameUser = a && b && 'u' in a && 'u' in b && a.u % w.userIDs.length === b.u % w.userIDs.length;
    if (sameUser && (CONNECTION_OPS.has(a.k) || CONNECTION_OPS.has(b.k))) {
      await w.run([a]);
      await w.run([b]);
    } else await w.run(this.ops, this.gap);
  }
  toString(): string {
    return this.ops.length === 1 ? opText(this.ops[0]!) : `race(${this.ops.map(opText).join(', ')}; gap ${this.gap})`;
  }
}

class GlareCommand implements fc.AsyncCommand<object, World> {
  constructor(
    readonly u: number,
    readonly offset: number,
    readonly timeout: number,
    readonly gap: number,
  ) {}
  check = () => true;
  async run(_m: object, w: World): Promise<void> {
    await w.glare(this.u, this.offset, this.timeout, this.gap);
  }
  toString(): string {
    return `glare(u${this.u}, +${this.offset}, ${this.timeout}s, gap ${this.gap})`;
  }
}

/**
 * Redial: u calls the same person and hangs up, `times` times in a row with no time passing, which
 * runs into the ring rate (5 a minute per caller→callee pair) and, over several, the invitation
 * rate (bursts of 10): the model predicts every RATE_LIMITED.
 */
class RedialCommand implements fc.AsyncCommand<object, World> {
  constructor(
    readonly u: number,
    readonly offset: number,
    readonly times: number,
  ) {}
  check = () => true;
  async run(_m: object, w: World): Promise<void> {
    for (let i = 0; i < this.times; i++) {
      await w.run([{ k: 'invite', u: this.u, to: [this.offset], timeout: 30, callType: 1 }]);
      await w.run([{ k: 'hangup', u: this.u, ref: { kind: 'mine' } }]);
    }
  }
  toString(): string {
    return `redial(u${this.u}, +${this.offset}, ×${this.times})`;
  }
}

const single = (a: fc.Arbitrary<Op>, weight: number) => ({ weight, arbitrary: a.map((op) => new StepCommand([op], 0) as fc.AsyncCommand<object, World>) });
const gap = fc.constantFrom(0, 1, 2);

const command: fc.Arbitrary<fc.AsyncCommand<object, World>> = fc.oneof(
  single(login, 3),
  single(resume, 2),
  single(logout, 2),
  single(drop, 2),
  single(invite, 6),
  single(groupInvite, 4),
  single(accept, 6),
  single(reject, 3),
  single(hangup, 5),
  single(add, 5),
  single(relay, 3),
  single(advance, 4),
  { weight: 5, arbitrary: fc.tuple(raceable, raceable, gap).map(([a, b, g]) => new StepCommand([a, b], g)) },
  { weight: 2, arbitrary: fc.tuple(user, offset, timeout, gap).map(([u, o, t, g]) => new GlareCommand(u, o, t, g)) },
  { weight: 2, arbitrary: fc.tuple(user, offset, fc.integer({ min: 2, max: 8 })).map(([u, o, n]) => new RedialCommand(u, o, n)) },
);

const config = fc.record({ users: fc.integer({ min: 3, max: 5 }), grace: fc.boolean() });

// ---- the property -----------------------------------------------------------------------------

/** process.memoryUsage() in MB after a forced GC (gc fetched at run time, no --expose-gc needed). */
async function memoryAfterGc(): Promise<{ heapUsed: number; external: number; rss: number }> {
  try {
    v8.setFlagsFromString('--expose-gc');
    const gc = vm.runInNewContext('gc') as () => void;
    for (let i = 0; i < 3; i++) {
      gc();
      await new Promise((r) => setTimeout(r, 20));
    }
  } catch {
    // no gc: report as is
  }
  const m = process.memoryUsage();
  const mb = (n: number) => Math.round(n / 1024 / 1024);
  return { heapUsed: mb(m.heapUsed), external: mb(m.external), rss: mb(m.rss) };
}

interface Totals {
  runs: number;
  outcomes: Record<string, number>;
  maxWorlds: number;
  steps: number;
  races: number;
  raceOrders: Record<string, number>;
  glare: number;
  glareBothIdle: number;
  frames: number;
  calls: number;
  busy: number;
  timeouts: number;
  rateLimited: number;
}

async function runSequence(cfg: { users: number; grace: boolean }, cmds: Iterable<fc.AsyncCommand<object, World>>, totals: Totals): Promise<void> {
  const world = new World({ ...cfg, modelOptions: MODEL_OPTIONS, metrics: METRICS }, '');
  await world.start();
  try {
    for (let i = 0; i < cfg.users; i++) await world.run([{ k: 'login', u: i }]);
    await fc.asyncModelRun(() => ({ model: {}, real: world }), cmds);
    await world.finish();
    await world.logoutAll();
  } finally {
    await world.close();
    totals.runs++;
    if (PROGRESS && totals.runs % 250 === 0) {
      appendFileSync(PROGRESS, `${new Date().toISOString()} ${totals.runs} sequences, ${totals.steps} steps, heapUsed ${Math.round(process.memoryUsage().heapUsed / 1e6)} MB\n`);
    }
    totals.maxWorlds = Math.max(totals.maxWorlds, world.stats.maxWorlds);
    for (const [k, v] of world.stats.outcomes) totals.outcomes[k] = (totals.outcomes[k] ?? 0) + v;
    totals.steps += world.stats.steps;
    totals.races += world.stats.races;
    for (const [k, v] of world.stats.raceOrders) totals.raceOrders[k] = (totals.raceOrders[k] ?? 0) + v;
    totals.glare += world.stats.glare;
    totals.glareBothIdle += world.stats.glareBothIdle;
    totals.frames += world.stats.frames;
    totals.calls += world.model.s.calls.length;
    totals.busy += world.model.s.busyLog.length;
    totals.timeouts += world.model.s.calls.reduce((n, c) => n + c.batches.filter((b) => b.fired).length, 0);
    totals.rateLimited += world.stats.rateLimited;
  }
}

describe('call state machine, model-based', () => {
  it(
    `${RUNS} random sequences against a real server: every socket gets exactly the model's frames, invariants hold`,
    async () => {
      const totals: Totals = { runs: 0, outcomes: {}, maxWorlds: 1, steps: 0, races: 0, raceOrders: {}, glare: 0, glareBothIdle: 0, frames: 0, calls: 0, busy: 0, timeouts: 0, rateLimited: 0 };
      const seed = SEED ?? (Date.now() ^ (Math.random() * 0x7fffffff)) | 0;
      const started = performance.now();
      let failure: unknown;
      try {
        await fc.assert(
          fc.asyncProperty(config, fc.commands([command], { maxCommands: MAX_COMMANDS, size: 'max' }), (cfg, cmds) => runSequence(cfg, cmds, totals)),
          { numRuns: RUNS, seed, ...(PATH !== undefined && { path: PATH }), endOnFailure: process.env.OPENCALL_MODEL_NO_SHRINK === '1' },
        );
      } catch (err) {
        failure = err;
      }
      const seconds = ((performance.now() - started) / 1000).toFixed(1);
      const mem = await memoryAfterGc();
      console.log(
        `model: seed ${seed}, ${totals.runs} runs (${RUNS} asked${METRICS ? '' : ', server metrics off'}${STRICT ? ', strict' : ''}) in ${seconds} s: ${totals.steps} steps, ${totals.calls} calls, ${totals.races} races ` +
          `(orders ${JSON.stringify(totals.raceOrders)}), ${totals.glare} glare (${totals.glareBothIdle} with both idle), ${totals.busy} busy, ` +
          `${totals.timeouts} batch timeouts, ${totals.rateLimited} invitations refused RATE_LIMITED, ${totals.frames} frames checked, at most ${totals.maxWorlds} possible states at once; ` +
          `process memory after GC: heapUsed ${mem.heapUsed} MB, external ${mem.external} MB, rss ${mem.rss} MB; ${failure ? 'FAILED' : 'passed'}`,
      );
      if (process.env.OPENCALL_MODEL_COVERAGE === '1' || RUNS >= 1000) {
        console.log(`model coverage (answers by operation, events by type): ${JSON.stringify(Object.fromEntries(Object.entries(totals.outcomes).sort()))}`);
      }
      if (failure) throw failure;
    },
    Math.max(120_000, RUNS * 3_000),
  );
});

// ---- fixed scenarios ---------------------------------------------------------------------------

/** Runs a scripted sequence through the same driver (every step checked against the model). */
async function scripted(cfg: { users: number; grace: boolean; strict?: boolean }, body: (w: World) => Promise<void>): Promise<World> {
  const world = new World({ users: cfg.users, grace: cfg.grace, modelOptions: cfg.strict ? DEFAULT_MODEL_OPTIONS : MODEL_OPTIONS }, '');
  await world.start();
  try {
    for (let i = 0; i < cfg.users; i++) await world.run([{ k: 'login', u: i }]);
    await body(world);
    await world.finish();
    await world.logoutAll();
  } finally {
    await world.close();
  }
  return world;
}

/** The `invited` frames a user's sockets received for a call. */
function invitedFrames(w: World, userID: string): Record<string, any>[] {
  return [...w.sockets.values()].filter((s) => s.label.startsWith(`${userID}#`)).flatMap((s) => s.frames.filter((f) => f.t === 'invited'));
}

describe('glare: two users call each other at the same moment', () => {
  it('exactly one call exists: the first invite handled rings the other user, whose own invite is refused SELF_BUSY; nobody gets busy', async () => {
    let outcomes = { firstWins: 0, secondWins: 0 };
    for (let i = 0; i < 40; i++) {
      await scripted({ users: 3, grace: false }, async (w) => {
        await w.glare(0, 0, i % 2 === 0 ? 30 : 0, i % 3);
        // World.glare asserted the outcome; record which invite won.
        const [a, b] = [invitedFrames(w, 'u0'), invitedFrames(w, 'u1')];
        expect(a.length + b.length, 'exactly one of them rings').toBe(1);
        if (b.length === 1) outcomes = { ...outcomes, firstWins: outcomes.firstWins + 1 };
        else outcomes = { ...outcomes, secondWins: outcomes.secondWins + 1 };
        expect(w.stats.glareBothIdle).toBe(1);
        // The loser answers the winner's call: a normal 1:1 call follows.
        const loser = b.length === 1 ? 1 : 0;
        await w.run([{ k: 'accept', u: loser, ref: { kind: 'mine' } }]);
        expect(w.server.stats().calls).toBe(1);
      });
    }
    console.log(`glare: first-sent invite won ${outcomes.firstWins} times, second-sent ${outcomes.secondWins} times`);
  });
});

describe('server bugs found by the model (fixed; kept as regression tests)', () => {
  // BUG 1 (docs/model-testing.md): `invited.timeout` is documented as the seconds left before the
  // invitation times out, but the server computes it from the call's creation, not from the
  // invitee's own invitation batch. An invitee added by addInvitees 25 s into a 30 s call is told
  // 5 s (and 1 s when it logs in later), while its invitation really times out 30 s after it was
  // added (the batch timer is right; only the frame is wrong).
  it('BUG 1 (fixed): an invitee added to a running call is told the seconds left of its own invitation', async () => {
    await scripted({ users: 4, grace: false }, async (w) => {
      await w.run([{ k: 'logout', u: 3 }]);
      await w.run([{ k: 'invite', u: 0, to: [0], timeout: 30, callType: 2 }]); // u0 calls u1, 30 s
      await w.run([{ k: 'advance', ms: 25_000 }]);
      await w.run([{ k: 'accept', u: 1, ref: { kind: 'mine' } }]);
      await w.run([{ k: 'add', u: 0, ref: { kind: 'mine' }, to: [1, 2] }]); // u0 adds u2 (online) and u3 (offline)
      await w.run([{ k: 'advance', ms: 10_000 }]); // t = 35 s: both still ring (their batch ends at 55 s)
      await w.run([{ k: 'login', u: 3 }]); // u3 comes online: rings with 20 s left
      const problems: string[] = [];
      const u2 = invitedFrames(w, 'u2').at(-1);
      const u3 = invitedFrames(w, 'u3').at(-1);
      if (u2?.timeout !== 30) problems.push(`u2, added at 25 s to a 30 s call, was told timeout ${u2?.timeout} (expected 30)`);
      if (u3?.timeout !== 20) problems.push(`u3, added at 25 s and online at 35 s, was told timeout ${u3?.timeout} (expected 20)`);
      await w.run([{ k: 'advance', ms: 19_999 }]); // t = 54.999 s: still ringing
      expect(w.model.activeCallOf('u2')).toBeDefined();
      await w.run([{ k: 'advance', ms: 1 }]); // t = 55 s: both time out (model and server agree)
      expect(w.model.activeCallOf('u2')).toBeUndefined();
      expect(problems).toEqual([]);
    });
  });
});
