#!/usr/bin/env node
/**
 * OpenCall under attack (issue 11): honest call setups measured while attackers, each in its
 * own process, abuse a real server process with its default limits.
 *
 *   node bench/under-attack.mjs [--phase-seconds 30] [--quiet-seconds 30] [--soak 0] [--pairs 4] [--every 200]
 *                               [--only junk,idle,...|none] [--defaults] [--out bench/results/under-attack.json]
 *
 * --defaults runs the server with every default (see below for the two it changes otherwise);
 * `--only none --soak 600 --defaults --out bench/results/under-attack-soak-defaults.json` is the
 * soak on the defaults alone.
 *
 * Phases, one after the other, each with the honest users going on (bench/attack/honest.mjs:
 * `pairs` pairs, one setup every `every` ms per pair, from 127.0.0.1):
 *   quiet          nobody else
 *   junk           300 sockets that never log in and stream 60 KB junk frames
 *   idle           300 sockets that connect and never log in
 *   slow-reader    10 logged-in sockets that stop reading and ask for their history non-stop
 *   connect-flood  one address opening sockets as fast as it can
 *   invite-spam    a logged-in caller ringing the same victim in an invite + hang-up loop
 * Attackers connect from 127.0.0.2 … (tests/abuse/attacker.mjs), so per-address limits apply to
 * them and not to the honest users. With `--soak S` it then runs every attack at once, in waves,
 * for S seconds (the 10-minute soak is --soak 600) and samples the server's RSS every second.
 *
 * Writes the JSON results (default bench/results/under-attack.json); bench/report.mjs renders
 * them as section e of docs/benchmarks.md. Does not build: run `npm run build` first.
 */
import { spawn } from 'node:child_process';
import WebSocket from 'ws';
import { writeFileSync } from 'node:fs';
import { fmt, machine, parseArgs, procStat, root, sleep, startServerProcess, summarize } from './lib.mjs';

const o = parseArgs(process.argv.slice(2), { phaseSeconds: 30, quietSeconds: 30, soak: 0, pairs: 4, every: 200, only: '', defaults: false, out: 'bench/results/under-attack.json' });
const ATTACKER = root('tests/abuse/attacker.mjs');
const HONEST = root('bench/attack/honest.mjs');
/** 127.0.0.2 …: the attackers' source addresses (the honest users are on 127.0.0.1). */
const addresses = (from, n) => Array.from({ length: n }, (_, i) => `127.0.0.${from + i}`);

/** What each phase sends; `spec` gets the server's URLs. */
const ATTACKS = {
  junk: (s) => ({ attack: 'junk', url: s.wsUrl, sockets: 300, frameBytes: 60_000, localAddresses: addresses(2, 10) }),
  idle: (s) => ({ attack: 'idle', url: s.wsUrl, sockets: 300, localAddresses: addresses(12, 10) }),
  'slow-reader': (s) => ({ attack: 'slow-reader', url: s.wsUrl, sockets: 10, localAddresses: addresses(22, 1), sdkAppId: s.sdkAppId, users: Array.from({ length: 10 }, (_, i) => ({ userID: `slow${i}`, userSig: s.sig(`slow${i}`) })) }),
  'connect-flood': (s) => ({ attack: 'connect-flood', url: s.wsUrl, sockets: 5000, localAddresses: addresses(23, 1) }),
  'invite-spam': (s) => ({ attack: 'invite-spam', url: s.wsUrl, sockets: 1, localAddresses: addresses(24, 1), victim: 'victim', victimSig: s.sig('victim'), ...attackerUser(s, 'spammer') }),
};

/**
 * Gives a slow reader a history worth asking for: 10 calls (the default invitation burst) to 15
 * people each, all different (within the ring rate), so a page is about 10 KB.
 */
async function seedHistory(s, userID) {
  const ws = new WebSocket(s.wsUrl, { perMessageDeflate: false });
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  let rid = 0;
  const pending = new Map();
  ws.on('message', (d) => {
    const f = JSON.parse(d.toString());
    if (f.t === 'res') pending.get(f.rid)?.(f);
  });
  const request = (frame) => new Promise((resolve) => {
    pending.set(++rid, resolve);
    ws.send(JSON.stringify({ ...frame, rid }));
  });
  await request({ t: 'login', sdkAppId: s.sdkAppId, userID, userSig: s.sig(userID) });
  for (let c = 0; c < 10; c++) {
    // 15 people a call, or 3 on the defaults (a mesh of 4 without an SFU).
    const per = o.defaults ? 3 : 15;
    const r = await request({ t: 'invite', invitees: Array.from({ length: per }, (_, k) => `${userID}_callee${c * per + k}`), callType: 2, timeout: 30 });
    if (r.ok) await request({ t: 'hangup', inviteID: r.data.inviteID });
  }
  const page = JSON.stringify(await request({ t: 'history', limit: 100 })).length;
  ws.close();
  return page;
}

/** Credentials for attackers that log in (their UserSigs are real: an attacker can be a registered user). */
function attackerUser(s, name) {
  return { sdkAppId: s.sdkAppId, userID: name, userSig: s.sig(name) };
}

/** Calls `onJson` with every line of `stream` that is JSON (a child process's stdout). */
function onJsonLines(stream, onJson) {
  let buf = '';
  stream.on('data', (d) => {
    buf += d;
    let nl;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      try {
        onJson(JSON.parse(line));
      } catch {
        /* not JSON */
      }
    }
  });
}

/** Runs the attacker process with `spec` for `seconds`; resolves with its summary line. */
function runAttacker(spec, seconds) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [ATTACKER, JSON.stringify({ quiet: true, ...spec, durationMs: seconds * 1000 })], { stdio: ['ignore', 'pipe', 'inherit'] });
    let last = null;
    onJsonLines(child.stdout, (j) => {
      if (j.ev === 'summary') last = j;
    });
    const kill = setTimeout(() => child.kill('SIGKILL'), (seconds + 30) * 1000);
    child.once('exit', () => {
      clearTimeout(kill);
      resolve(last);
    });
  });
}

/** The honest users for the whole run; their setups are kept with start times, to be cut into phases. */
function startHonest(wsUrl, seconds) {
  const setups = [];
  const child = spawn(process.execPath, [HONEST, '--url', wsUrl, '--pairs', String(o.pairs), '--every', String(o.every), '--seconds', String(seconds)], { stdio: ['ignore', 'pipe', 'inherit'] });
  onJsonLines(child.stdout, (j) => {
    if (j.at) setups.push(j);
  });
  const done = new Promise((r) => child.once('exit', r));
  return { setups, done, stop: () => child.kill('SIGTERM') };
}

/** RSS of the server every second, with the time. */
function sampleRss(pid) {
  const samples = [];
  const timer = setInterval(() => {
    try {
      samples.push({ at: Date.now(), rss: procStat(pid).rssBytes });
    } catch {
      /* exited */
    }
  }, 1000);
  return { samples, stop: () => clearInterval(timer) };
}

function window(honest, rss, from, to) {
  const inside = honest.setups.filter((s) => s.at >= from && s.at < to);
  const ok = inside.filter((s) => s.ms !== undefined).map((s) => s.ms);
  const r = rss.samples.filter((s) => s.at >= from && s.at < to).map((s) => s.rss);
  return {
    seconds: (to - from) / 1000,
    setups: summarize(ok),
    failed: inside.length - ok.length,
    errors: [...new Set(inside.filter((s) => s.error).map((s) => s.error))].slice(0, 5),
    rssMin: r.length ? Math.min(...r) : null,
    rssMax: r.length ? Math.max(...r) : null,
  };
}

/** The server's own counts of what it refused, from /metrics: sockets closed by a limit and upgrades refused, by reason. */
async function serverCounts(httpUrl) {
  const text = await (await fetch(`${httpUrl}/metrics`)).text();
  const counts = {};
  for (const m of text.matchAll(/^opencall_(sockets_closed|upgrades_refused)_total\{reason="([a-z_]+)"\} (\d+)/gm)) counts[`${m[1]}:${m[2]}`] = Number(m[3]);
  const rateLimited = /^opencall_errors_total\{code="42901"[^}]*\} (\d+)/m.exec(text);
  if (rateLimited) counts['errors:RATE_LIMITED'] = Number(rateLimited[1]);
  return counts;
}

/** What changed between two serverCounts. */
const countsSince = (before, after) => Object.fromEntries(Object.entries(after).map(([k, v]) => [k, v - (before[k] ?? 0)]).filter(([, v]) => v > 0));

/** The largest buffered byte count the server reported when it cut a slow consumer since `from` (its warn log line). */
function slowConsumerBytes(output, from) {
  let max = 0;
  for (const line of output().split('\n')) {
    if (!line.includes('session.slow_consumer')) continue;
    try {
      const j = JSON.parse(line);
      if (j.time >= from) max = Math.max(max, j.bytes ?? 0);
    } catch {
      /* not JSON */
    }
  }
  return max;
}

const { genUserSig } = await import(root('packages/server/dist/auth/usersig.js'));
const { SDK_APP_ID, SECRET } = await import('./lib.mjs');
const server = await startServerProcess('opencall', {
  // Default limits but two: calls of 16 (a mesh of 4 otherwise), so the slow readers' seeded
  // history pages are worth reading (~25 KB); and no history rate, so that a slow reader gets
  // every page it asks for and the send-buffer cap alone must stop it (with the default rate it
  // gets a page a second and would take minutes to fill 4 MiB). Harsher than the defaults.
  env: { OPENCALL_LOG_LEVEL: 'info', ...(!o.defaults && { OPENCALL_MESH_MAX: '16', OPENCALL_HISTORY_RATE: '0' }) },
  defaultLimits: true,
});
const s = { wsUrl: server.wsUrl, sdkAppId: SDK_APP_ID, sig: (u) => genUserSig(SDK_APP_ID, SECRET, u, 86400) };
const phases = o.only === 'none' ? [] : o.only ? o.only.split(',') : Object.keys(ATTACKS);
const total = o.quietSeconds + phases.length * (o.phaseSeconds + 5) + o.soak + 30;
const rss = sampleRss(server.pid);
const honest = startHonest(server.wsUrl, total);
const results = { at: new Date().toISOString(), machine: machine(), options: o, phases: [] };
try {
  await sleep(2000); // honest users logged in
  let t = Date.now();
  await sleep(o.quietSeconds * 1000);
  results.phases.push({ name: 'quiet', ...window(honest, rss, t, Date.now()) });
  for (let i = 0; i < 10; i++) results.slowReaderPageBytes = await seedHistory(s, `slow${i}`);
  for (const name of phases) {
    const spec = ATTACKS[name](s);
    const before = await serverCounts(server.url);
    t = Date.now();
    const attacker = await runAttacker(spec, o.phaseSeconds);
    const end = Date.now();
    const server_ = { counts: countsSince(before, await serverCounts(server.url)), slowConsumerMaxBytes: slowConsumerBytes(server.output, t) };
    results.phases.push({ name, spec: { ...spec, userSig: undefined, victimSig: undefined, users: spec.users?.map((u) => u.userID) }, ...window(honest, rss, t, end), attacker, server: server_ });
    console.error(`${name}: honest p50 ${fmt.ms(results.phases.at(-1).setups.p50)} p99 ${fmt.ms(results.phases.at(-1).setups.p99)} ms, failed ${results.phases.at(-1).failed}; attacker ${JSON.stringify(attacker)}`);
    await sleep(5000); // the server settles before the next phase
  }
  if (o.soak > 0) {
    const before = await serverCounts(server.url);
    t = Date.now();
    const waves = [];
    // Every attack at once, again and again: each attacker runs for a minute, then starts anew.
    const soakEnd = t + o.soak * 1000;
    await Promise.all(Object.keys(ATTACKS).map(async (name) => {
      while (Date.now() < soakEnd - 5000) {
        const seconds = Math.min(60, Math.round((soakEnd - Date.now()) / 1000));
        waves.push({ name, summary: await runAttacker(ATTACKS[name](s), seconds) });
      }
    }));
    const w = window(honest, rss, t, Date.now());
    // Flat means: after the first minute (the allocator's and V8's heaps reach their working size), RSS stays within ± 64 MiB.
    const after = rss.samples.filter((x) => x.at >= t + 60_000 && x.at < Date.now()).map((x) => x.rss);
    results.soak = { ...w, waves: waves.length, rssSeries: rss.samples.filter((x) => x.at >= t).map((x) => [Math.round((x.at - t) / 1000), x.rss]), rssAfterFirstMinute: { min: Math.min(...after), max: Math.max(...after) }, server: { counts: countsSince(before, await serverCounts(server.url)), slowConsumerMaxBytes: slowConsumerBytes(server.output, t) } };
  }
} finally {
  honest.stop();
  rss.stop();
  await honest.done;
  await server.stop();
}
writeFileSync(root(o.out), JSON.stringify(results, null, 2) + '\n');
console.error(`wrote ${o.out}`);
