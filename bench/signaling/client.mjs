#!/usr/bin/env node
/**
 * Load client of the signaling benchmark (its own process, started by bench/run.mjs).
 *
 * Opens 2×pairs raw WebSocket connections to the server, logs each in (a UserSig made with
 * genUserSig), then every pair does `setups` call setups one after the other, as fast as the
 * server answers, all pairs at once:
 *
 *   caller: invite → (callee gets invited) → callee: accept → (caller gets accepted)
 *   caller: hangup → (callee gets ended)
 *
 * The two users of a pair swap caller and callee at every setup (so each connection sends 1.5
 * frames per setup and stays far under OpenCall's 200 frames/s per-connection limit).
 *
 * Latency of one setup: invite sent → `accepted` received by the caller (the call is up on both
 * sides). Cycle: invite sent → caller has the hangup answer and the callee has `ended`.
 * Server CPU comes from /proc/<server-pid>/stat over the measured phase only (after login and
 * warm-up). Prints one JSON line.
 */
import { performance } from 'node:perf_hooks';
import WebSocket from 'ws';
import { genUserSig } from '../../packages/server/dist/auth/usersig.js';
import { parseArgs, procStat, SDK_APP_ID, SECRET, summarize, systemBusyMs, threadStat } from '../lib.mjs';

const o = parseArgs(process.argv.slice(2), { url: '', pairs: 100, setups: 100, warmup: 10, serverPid: 0, timeout: 120, connectConcurrency: 200, announce: 0 });
if (!o.url) throw new Error('--url is required');

const watchdog = setTimeout(() => {
  console.error(`signaling client: gave up after ${o.timeout} s`);
  console.log(JSON.stringify({ error: `timeout after ${o.timeout} s`, ...partial() }));
  process.exit(3);
}, o.timeout * 1000);

const errors = new Map();
const extraFrames = new Map();
function countError(what) {
  errors.set(what, (errors.get(what) ?? 0) + 1);
}

class Conn {
  constructor(userID) {
    this.userID = userID;
    this.rid = 0;
    this.pending = new Map();
    /** type → one-shot waiters (resolve functions), oldest first */
    this.waiters = new Map();
  }

  open(url) {
    return new Promise((resolve, reject) => {
      const ws = (this.ws = new WebSocket(url, { perMessageDeflate: false }));
      ws.once('open', resolve);
      ws.once('error', reject);
      ws.on('message', (data) => this.onFrame(JSON.parse(data.toString())));
      ws.on('close', () => {
        for (const p of this.pending.values()) p.reject(new Error(`${this.userID}: connection closed`));
        this.pending.clear();
      });
    });
  }

  onFrame(f) {
    if (f.t === 'res') {
      const p = this.pending.get(f.rid);
      if (!p) return countError('res for an unknown rid');
      this.pending.delete(f.rid);
      if (f.ok) p.resolve(f.data);
      else p.reject(Object.assign(new Error(`${f.code} ${f.message}`), { code: f.code }));
      return;
    }
    const q = this.waiters.get(f.t);
    const w = q?.shift();
    if (w) w(f);
    else if (f.t === 'error') countError(`error frame ${f.code}`);
    // OpenCall also tells the callee `left` (the caller left) before `ended`: counted, not waited for.
    else extraFrames.set(f.t, (extraFrames.get(f.t) ?? 0) + 1);
  }

  request(frame) {
    const rid = ++this.rid;
    frame.rid = rid;
    return new Promise((resolve, reject) => {
      this.pending.set(rid, { resolve, reject });
      this.ws.send(JSON.stringify(frame));
    });
  }

  next(type) {
    return new Promise((resolve) => {
      let q = this.waiters.get(type);
      if (!q) this.waiters.set(type, (q = []));
      q.push(resolve);
    });
  }

  login() {
    return this.request({ t: 'login', sdkAppId: SDK_APP_ID, userID: this.userID, userSig: genUserSig(SDK_APP_ID, SECRET, this.userID, 86400) });
  }
}

/** One call setup and hang-up between two logged-in connections; returns [setupMs, cycleMs]. */
async function setup(caller, callee) {
  const t0 = performance.now();
  const invited = callee.next('invited');
  const accepted = caller.next('accepted');
  const r = await caller.request({ t: 'invite', invitees: [callee.userID], callType: 2, timeout: 30 });
  const inv = await invited;
  if (inv.inviteID !== r.inviteID) countError('invited for another call');
  const ended = callee.next('ended');
  await callee.request({ t: 'accept', inviteID: inv.inviteID });
  await accepted;
  const t1 = performance.now();
  await caller.request({ t: 'hangup', inviteID: r.inviteID });
  await ended;
  return [t1 - t0, performance.now() - t0];
}

const latencies = [];
const cycles = [];
let measured = null;

function partial() {
  return { setupsDone: latencies.length, errors: Object.fromEntries(errors), extraFrames: Object.fromEntries(extraFrames), measured };
}

async function pairLoop(a, b, count, record) {
  for (let i = 0; i < count; i++) {
    const [caller, callee] = i % 2 === 0 ? [a, b] : [b, a];
    try {
      const [s, c] = await setup(caller, callee);
      if (record) {
        latencies.push(s);
        cycles.push(c);
      }
    } catch (err) {
      countError(err.code ? `res ${err.code}` : err.message);
      return; // this pair's state is unknown now: stop it, the others go on
    }
  }
}

const run = `b${process.pid}`;
const conns = [];
for (let i = 0; i < o.pairs * 2; i++) conns.push(new Conn(`${run}_${i}`));

// Connect and log in, at most connectConcurrency handshakes at a time.
const tConnect = performance.now();
for (let i = 0; i < conns.length; i += o.connectConcurrency) {
  await Promise.all(conns.slice(i, i + o.connectConcurrency).map(async (c) => {
    await c.open(o.url);
    await c.login();
  }));
}
const connectMs = performance.now() - tConnect;

const pairs = [];
for (let i = 0; i < o.pairs; i++) pairs.push([conns[2 * i], conns[2 * i + 1]]);

// Warm-up (JIT, allocations), not measured.
await Promise.all(pairs.map(([a, b]) => pairLoop(a, b, o.warmup, false)));

// Tell a profiler attached by the parent that the measured phase starts (and wait for it).
if (o.announce) {
  console.error('measure:start');
  await new Promise((r) => setTimeout(r, o.announce));
}
const serverBefore = o.serverPid ? procStat(o.serverPid) : null;
const mainBefore = o.serverPid ? threadStat(o.serverPid) : null;
const selfBefore = process.cpuUsage();
const systemBefore = systemBusyMs();
const t0 = performance.now();
await Promise.all(pairs.map(([a, b]) => pairLoop(a, b, o.setups, true)));
const wallMs = performance.now() - t0;
const selfCpu = process.cpuUsage(selfBefore);
const serverAfter = o.serverPid ? procStat(o.serverPid) : null;
const mainAfter = o.serverPid ? threadStat(o.serverPid) : null;
const systemMs = systemBusyMs() - systemBefore;
if (o.announce) console.error('measure:end');

const setups = latencies.length;
measured = {
  pairs: o.pairs,
  setupsPerPair: o.setups,
  setups,
  wallMs,
  setupsPerSec: (setups / wallMs) * 1000,
  setupMs: summarize(latencies),
  cycleMs: summarize(cycles),
  serverCpuMs: serverBefore ? serverAfter.cpuMs - serverBefore.cpuMs : null,
  serverCpuPct: serverBefore ? ((serverAfter.cpuMs - serverBefore.cpuMs) / wallMs) * 100 : null,
  serverCpuUsPerSetup: serverBefore ? ((serverAfter.cpuMs - serverBefore.cpuMs) * 1000) / setups : null,
  /** Of that, the main thread's (the event loop: the part that limits throughput). */
  serverMainCpuUsPerSetup: mainBefore ? ((mainAfter.cpuMs - mainBefore.cpuMs) * 1000) / setups : null,
  serverMainCpuPct: mainBefore ? ((mainAfter.cpuMs - mainBefore.cpuMs) / wallMs) * 100 : null,
  serverSysUsPerSetup: serverBefore ? ((serverAfter.sysMs - serverBefore.sysMs) * 1000) / setups : null,
  serverRssBytes: serverAfter?.rssBytes ?? null,
  clientCpuPct: ((selfCpu.user + selfCpu.system) / 1000 / wallMs) * 100,
  /** CPU used on this machine by anything else than the server and this client (percent of one core). */
  otherCpuPct: serverBefore ? ((systemMs - (serverAfter.cpuMs - serverBefore.cpuMs) - (selfCpu.user + selfCpu.system) / 1000) / wallMs) * 100 : null,
  connectMs,
};

clearTimeout(watchdog);
for (const c of conns) c.ws.terminate();
console.log(JSON.stringify({ ...partial() }));
process.exit(0);
