#!/usr/bin/env node
/**
 * The load generator of `npm run load` (its own process; load/run.mjs starts the server and
 * this). Holds `users` logged-in WebSocket connections to the server and starts `rate` call
 * setups per second for `duration` seconds between random idle users:
 *
 *   caller: invite ─▶ callee: INVITED ─▶ callee: accept ─▶ caller: accepted
 *   (the call is held `hold` ms) ─▶ caller: hangup ─▶ callee: ended ─▶ both idle again
 *
 * Counts:
 *   lost        invite answered ok, but no INVITED at the callee within 5 s
 *   duplicated  a second INVITED for the same invitation at the same user
 *   stuck       a later step (accept answer, accepted, hang-up answer, ended) missing after 5 s
 * and measures invite → INVITED and invite → accepted latency, the server's CPU and memory
 * (/proc/<server-pid>), its own CPU and event-loop delay (to show whether it kept up).
 *
 * Loopback only; every phase has a deadline; prints one JSON line at the end.
 */
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import WebSocket from 'ws';
import { genUserSig } from '../packages/server/dist/auth/usersig.js';
import { parseArgs, peakRss, procStat, SDK_APP_ID, SECRET, summarize, systemBusyMs } from '../bench/lib.mjs';

const o = parseArgs(process.argv.slice(2), {
  url: '',
  users: 2000,
  rate: 200,
  duration: 20,
  hold: 1000,
  serverPid: 0,
  connectConcurrency: 250,
  connectTimeout: 90,
  lostAfter: 5000,
});
if (!o.url) throw new Error('--url is required');
const STEP_TIMEOUT = o.lostAfter;
const progress = (m) => console.error(`[load ${((performance.now() - T_START) / 1000).toFixed(1).padStart(5)} s] ${m}`);
const T_START = performance.now();
const loop = monitorEventLoopDelay({ resolution: 10 });

// ---------------------------------------------------------------- users
class User {
  constructor(i) {
    this.id = `u${process.pid}_${i}`;
    this.index = i;
    this.ws = null;
    this.rid = 0;
    this.pending = new Map();
    this.ready = false;
    this.idle = false;
    /** the setup this user is in, as caller or callee */
    this.setup = null;
    /** inviteIDs this user got INVITED for (duplicate detection) */
    this.seen = new Set();
  }

  request(frame, onRes) {
    const rid = ++this.rid;
    frame.rid = rid;
    this.pending.set(rid, onRes);
    this.ws.send(JSON.stringify(frame));
  }
}

const users = Array.from({ length: o.users }, (_, i) => new User(i));
const counts = {
  connectFailed: 0,
  loginFailed: 0,
  closedDuringRun: 0,
  started: 0,
  inviteOk: 0,
  inviteFailed: {},
  invited: 0,
  lost: 0,
  duplicated: 0,
  unexpectedInvited: 0,
  accepted: 0,
  completed: 0,
  stuck: {},
  skippedNoIdlePair: 0,
  otherFrames: {},
};
const bump = (obj, k) => (obj[k] = (obj[k] ?? 0) + 1);
const inviteToInvited = [];
/** invite → INVITED latencies of the current timeline window */
let windowLatencies = [];
const timeline = [];
const inviteToAccepted = [];

// Idle users: an array with swap-remove, and each user's position in it.
const idle = [];
function setIdle(u) {
  if (u.idle || !u.ready) return;
  u.idle = true;
  u.pos = idle.length;
  idle.push(u);
}
function takeIdle(u) {
  if (!u.idle) return;
  const last = idle.pop();
  if (last !== u) {
    idle[u.pos] = last;
    last.pos = u.pos;
  }
  u.idle = false;
}
function randomIdle() {
  return idle[Math.floor(Math.random() * idle.length)];
}

// ---------------------------------------------------------------- setups
const live = new Set();
let phase = 'connect';

function startSetup() {
  if (idle.length < 2) return bump(counts, 'skippedNoIdlePair');
  const caller = randomIdle();
  takeIdle(caller);
  const callee = randomIdle();
  takeIdle(callee);
  const s = { caller, callee, inviteID: null, stage: 'inviting', tInvite: performance.now(), tInvited: 0, deadline: 0, done: false };
  s.deadline = s.tInvite + STEP_TIMEOUT;
  caller.setup = callee.setup = s;
  live.add(s);
  counts.started++;
  caller.request({ t: 'invite', invitees: [callee.id], callType: 2, timeout: 30 }, (f) => {
    if (s.done) return;
    if (!f.ok) {
      bump(counts.inviteFailed, String(f.code));
      return finish(s);
    }
    counts.inviteOk++;
    s.inviteID = f.data.inviteID;
    if (s.stage === 'inviting') s.stage = 'ringing';
    if (s.early) onInvited(callee, s.early);
  });
}

function finish(s) {
  if (s.done) return;
  s.done = true;
  live.delete(s);
  for (const u of [s.caller, s.callee]) {
    if (u.setup === s) u.setup = null;
    setIdle(u);
  }
}

function onInvited(u, f) {
  if (u.seen.has(f.inviteID)) return counts.duplicated++;
  const s = u.setup;
  if (!s || s.callee !== u || s.caller.id !== f.sponsor) return counts.unexpectedInvited++;
  if (s.inviteID === null) {
    s.early = f; // INVITED overtook the invite's answer (two sockets): handled when it comes
    return;
  }
  if (f.inviteID !== s.inviteID) return counts.unexpectedInvited++;
  u.seen.add(f.inviteID);
  if (s.stage === 'lost') {
    // arrived after we gave up on it: counted lost already; the cancel is on its way
    return;
  }
  counts.invited++;
  s.tInvited = performance.now();
  inviteToInvited.push(s.tInvited - s.tInvite);
  windowLatencies.push(s.tInvited - s.tInvite);
  s.stage = 'accepting';
  s.deadline = s.tInvited + STEP_TIMEOUT;
  u.request({ t: 'accept', inviteID: f.inviteID }, (r) => {
    if (s.done) return;
    if (!r.ok) {
      bump(counts.stuck, `accept refused ${r.code}`);
      return hangupAndFinish(s);
    }
  });
}

function onAccepted(u, f) {
  const s = u.setup;
  if (!s || s.caller !== u || s.inviteID !== f.inviteID || s.stage !== 'accepting') return bump(counts.otherFrames, 'accepted (unexpected)');
  counts.accepted++;
  inviteToAccepted.push(performance.now() - s.tInvite);
  s.stage = 'holding';
  s.deadline = Infinity;
  setTimeout(() => hangupAndFinish(s, true), o.hold);
}

/** Caller hangs up; done when its answer and the callee's `ended` (or `cancelled`) are in. */
function hangupAndFinish(s, normal = false) {
  if (s.done || s.stage === 'hangingUp') return;
  if (!s.inviteID) return finish(s);
  s.stage = 'hangingUp';
  s.deadline = performance.now() + STEP_TIMEOUT;
  s.waitRes = true;
  s.waitEnd = normal;
  s.caller.request({ t: 'hangup', inviteID: s.inviteID }, (r) => {
    s.waitRes = false;
    if (!r.ok && r.code !== 40401) bump(counts.stuck, `hangup refused ${r.code}`);
    if (!s.waitEnd) {
      if (normal) counts.completed++;
      finish(s);
    }
  });
}

function onEnded(u, f) {
  const s = u.setup;
  if (!s || s.inviteID !== f.inviteID) return bump(counts.otherFrames, `${f.t} (late)`);
  if (s.stage !== 'hangingUp') return bump(counts.otherFrames, `${f.t} (early)`);
  s.waitEnd = false;
  if (!s.waitRes) {
    counts.completed++;
    finish(s);
  }
}

/** Gives up on steps that did not happen in time. */
function sweep() {
  const now = performance.now();
  for (const s of live) {
    if (now < s.deadline) continue;
    if (s.stage === 'ringing' || s.stage === 'inviting') {
      if (s.inviteID) {
        counts.lost++;
        s.stage = 'lost';
        const inviteID = s.inviteID;
        // cancel it so that the callee is free again
        s.caller.request({ t: 'hangup', inviteID }, () => finish(s));
        s.deadline = Infinity;
        setTimeout(() => finish(s), STEP_TIMEOUT).unref();
      } else {
        bump(counts.stuck, 'no answer to invite');
        finish(s);
      }
    } else {
      bump(counts.stuck, `no ${s.stage === 'accepting' ? 'accept answer / accepted' : 'hang-up answer / ended'}`);
      finish(s);
    }
  }
}

// ---------------------------------------------------------------- frames
function onFrame(u, data) {
  const f = JSON.parse(data.toString());
  switch (f.t) {
    case 'res': {
      const cb = u.pending.get(f.rid);
      if (!cb) return bump(counts.otherFrames, 'res (unknown rid)');
      u.pending.delete(f.rid);
      return cb(f);
    }
    case 'invited':
      return onInvited(u, f);
    case 'accepted':
      return onAccepted(u, f);
    case 'ended':
    case 'cancelled':
      return onEnded(u, f);
    default:
      return bump(counts.otherFrames, f.t);
  }
}

function connect(u) {
  return new Promise((resolve) => {
    const ws = (u.ws = new WebSocket(o.url, { perMessageDeflate: false, handshakeTimeout: 20_000 }));
    let settled = false;
    const settle = (ok) => {
      if (!settled) {
        settled = true;
        resolve(ok);
      }
    };
    ws.on('open', () => {
      u.request({ t: 'login', sdkAppId: SDK_APP_ID, userID: u.id, userSig: genUserSig(SDK_APP_ID, SECRET, u.id, 86400) }, (r) => {
        if (!r.ok) {
          counts.loginFailed++;
          return settle(false);
        }
        u.ready = true;
        setIdle(u);
        settle(true);
      });
    });
    ws.on('message', (d) => onFrame(u, d));
    ws.on('error', () => {
      if (!settled) counts.connectFailed++;
      settle(false);
    });
    ws.on('close', () => {
      if (u.ready && phase !== 'closing') counts.closedDuringRun++;
      if (u.idle) takeIdle(u);
      u.ready = false;
      settle(false);
    });
  });
}

// ---------------------------------------------------------------- server sampling
const samples = [];
function sampleServer() {
  if (!o.serverPid) return;
  try {
    samples.push({ t: performance.now(), phase, systemMs: systemBusyMs(), selfMs: (process.cpuUsage().user + process.cpuUsage().system) / 1000, ...procStat(o.serverPid) });
  } catch {
    /* gone */
  }
}
const sampler = setInterval(sampleServer, 1000);

// ---------------------------------------------------------------- run
// Results, filled in as the phases go (report() may run early, from the hard deadline).
let connectMs = null;
let connected = null;
let setupsWallMs = null;
let cpuStart = null;
let cpuEnd = null;
let selfCpu = null;
let loopDelay = null;
let heldAtEnd = null;
let healthz = null;
const hardStop = setTimeout(() => {
  progress('hard deadline reached: stopping');
  report('hard deadline');
}, (o.connectTimeout + o.duration + 3 * STEP_TIMEOUT / 1000 + 30) * 1000);

loop.enable();
sampleServer();
progress(`connecting ${o.users} users to ${o.url} (${o.connectConcurrency} at a time)`);
const tConnect = performance.now();
const connectDeadline = tConnect + o.connectTimeout * 1000;
let next = 0;
let lastReport = tConnect;
await new Promise((resolve) => {
  let inFlight = 0;
  const pump = () => {
    while (inFlight < o.connectConcurrency && next < users.length && performance.now() < connectDeadline) {
      const u = users[next++];
      inFlight++;
      connect(u).then(() => {
        inFlight--;
        if (performance.now() - lastReport > 2000) {
          lastReport = performance.now();
          progress(`${idle.length} logged in`);
        }
        if ((next >= users.length || performance.now() >= connectDeadline) && inFlight === 0) resolve();
        else pump();
      });
    }
  };
  pump();
});
connectMs = performance.now() - tConnect;
connected = users.filter((u) => u.ready).length;
progress(`${connected}/${o.users} logged in after ${(connectMs / 1000).toFixed(1)} s; starting ${o.rate} setups/s for ${o.duration} s`);

// Setups phase: open loop, `rate` per second, scheduled every 10 ms.
phase = 'setups';
sampleServer();
cpuStart = samples.at(-1);
const selfStart = process.cpuUsage();
loop.reset();
const t0 = performance.now();
const tEnd = t0 + o.duration * 1000;
let lastTick = t0;
let lastLog = t0;
let lastWindow = t0;
let windowStart = samples.at(-1);
windowLatencies = [];
/** One timeline row: the last 10 s of latency, server CPU and memory, and other load on the machine. */
function window10s() {
  sampleServer();
  const end = samples.at(-1);
  const wall = end.t - windowStart.t;
  const lat = summarize(windowLatencies);
  timeline.push({
    atS: Math.round((end.t - t0) / 1000),
    invited: lat.n,
    p50: lat.p50,
    p99: lat.p99,
    max: lat.max,
    serverCpuPct: ((end.cpuMs - windowStart.cpuMs) / wall) * 100,
    rssMiB: end.rssBytes / 2 ** 20,
    otherCpuPct: ((end.systemMs - windowStart.systemMs - (end.cpuMs - windowStart.cpuMs) - (end.selfMs - windowStart.selfMs)) / wall) * 100,
  });
  windowLatencies = [];
  windowStart = end;
}
await new Promise((resolve) => {
  const tick = setInterval(() => {
    const now = performance.now();
    const target = Math.floor(((Math.min(now, tEnd) - t0) / 1000) * o.rate);
    while (counts.started + counts.skippedNoIdlePair < target) startSetup();
    sweep();
    if (now - lastWindow >= 10_000) {
      lastWindow = now;
      window10s();
    }
    if (now - lastLog >= 5000) {
      lastLog = now;
      progress(`started ${counts.started}, completed ${counts.completed}, in flight ${live.size}, lost ${counts.lost}, idle users ${idle.length}`);
    }
    lastTick = now;
    if (now >= tEnd) {
      clearInterval(tick);
      resolve();
    }
  }, 10);
});
setupsWallMs = performance.now() - t0;
if (windowLatencies.length) window10s();
sampleServer();
cpuEnd = samples.at(-1);
selfCpu = process.cpuUsage(selfStart);
loopDelay = { p50: loop.percentile(50) / 1e6, p99: loop.percentile(99) / 1e6, max: loop.max / 1e6 };
heldAtEnd = users.filter((u) => u.ready && u.ws.readyState === 1).length;
try {
  healthz = await (await fetch(o.url.replace(/^ws/, 'http').replace(/\/ws$/, '/healthz'))).json();
} catch {
  /* not essential */
}

// Drain: let setups in flight finish (or time out) before counting.
phase = 'drain';
progress(`draining ${live.size} setups in flight`);
const drainDeadline = performance.now() + o.hold + 3 * STEP_TIMEOUT;
while (live.size > 0 && performance.now() < drainDeadline) {
  sweep();
  await new Promise((r) => setTimeout(r, 50));
}
report();

function report(error) {
  phase = 'closing';
  clearInterval(sampler);
  clearTimeout(hardStop);
  const setupSamples = samples.filter((s) => s.phase === 'setups');
  const rss = samples.map((s) => s.rssBytes);
  let peak = NaN;
  try {
    peak = peakRss(o.serverPid);
  } catch {
    /* gone */
  }
  const result = {
    ...(error && { error }),
    options: o,
    connect: { ms: connectMs ?? null, connected: connected ?? null, perSec: connected ? (connected / connectMs) * 1000 : null },
    held: { atEnd: heldAtEnd ?? null, closedDuringRun: counts.closedDuringRun, server: healthz },
    setups: {
      wallMs: setupsWallMs ?? null,
      started: counts.started,
      startedPerSec: setupsWallMs ? (counts.started / setupsWallMs) * 1000 : null,
      acceptedPerSec: setupsWallMs ? (counts.accepted / setupsWallMs) * 1000 : null,
      completed: counts.completed,
      inFlightLeft: live.size,
    },
    inviteToInvitedMs: summarize(inviteToInvited),
    inviteToInvitedOver100ms: inviteToInvited.filter((x) => x > 100).length,
    timeline,
    inviteToAcceptedMs: summarize(inviteToAccepted),
    counts,
    server: cpuStart && cpuEnd
      ? {
          cpuPct: ((cpuEnd.cpuMs - cpuStart.cpuMs) / (cpuEnd.t - cpuStart.t)) * 100,
          cpuPctMaxSecond: Math.max(...setupSamples.slice(1).map((s, i) => ((s.cpuMs - setupSamples[i].cpuMs) / (s.t - setupSamples[i].t)) * 100), 0),
          rssAfterConnectBytes: cpuStart.rssBytes,
          rssEndBytes: cpuEnd.rssBytes,
          rssMaxSampledBytes: Math.max(...rss),
          peakRssBytes: peak,
        }
      : null,
    generator: setupsWallMs && selfCpu ? { cpuPct: ((selfCpu.user + selfCpu.system) / 1000 / setupsWallMs) * 100, eventLoopDelayMs: loopDelay } : null,
  };
  for (const u of users) u.ws?.terminate();
  console.log(JSON.stringify(result));
  process.exit(error ? 3 : 0);
}
