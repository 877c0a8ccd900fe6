#!/usr/bin/env node
/**
 * `npm run bench`: builds what it measures, runs the benchmarks one after the other (this
 * machine has 2 cores: nothing is measured in parallel) and writes docs/benchmarks.md, plus the
 * raw numbers in bench/results/latest.json.
 *
 *   a. signaling: OpenCall's server (its own process, production configuration; also with the
 *      call records in memory) against a bare `ws` relay doing the same message pattern, driven
 *      by the same load client (another process); rounds interleaved; then where the server's
 *      time goes: node --cpu-prof (V8, per JS function) and perf record (on-CPU, by category)
 *   b. media: accept → first remote video frame on both sides in Chromium, OpenCall vs PeerJS
 *      (bench/media/media-bench.mjs), then how fast Chromium goes live (bench/media/go-live.mjs)
 *   c. bundle size (scripts/size.mjs) next to Tencent's 336,810 B
 *   d. with --sfu only: the largest SFU call (bench/sfu-capacity.mjs, up to 10 more minutes; root + janus);
 *      without it, section d shows the last bench/results/sfu-capacity.json
 *
 * Options: --rounds 3 --pairs 100 --setups 150 --calls 20 --warmup-calls 2 --rings 2000,0
 *          --no-build --skip-signaling --skip-media --quick (a fast smoke run)
 *          --quiet-wait 60 (s to wait for other load to calm down) --out docs/benchmarks.md --sfu
 *
 * Everything listens on 127.0.0.1 and every step is bounded in count and time.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { runMediaBench } from './media/media-bench.mjs';
import { summarizeProfile } from './signaling/profile-top.mjs';
import { distStamp, fmt, machine, median, parseArgs, root, runNodeJson, startServerProcess, waitForQuiet } from './lib.mjs';

const argv = process.argv.slice(2);
const o = parseArgs(argv, {
  rounds: 3,
  pairs: 100,
  setups: 150,
  calls: 20,
  warmupCalls: 2,
  rings: '2000,0',
  noBuild: false,
  skipSignaling: false,
  skipMedia: false,
  quick: false,
  out: 'docs/benchmarks.md',
  quietWait: 60,
  sfu: false,
});
if (o.quick) Object.assign(o, { rounds: 1, pairs: 20, setups: 50, calls: 3, warmupCalls: 1 });
// Backstop: every step has its own limits; the whole run never exceeds an hour.
setTimeout(() => {
  console.error('bench: still running after 60 min: giving up');
  process.exit(1);
}, 60 * 60_000).unref();
const command = `npm run bench${argv.length ? ' -- ' + argv.join(' ') : ''}`;
const started = new Date();
const log = (m) => console.error(`[bench ${((Date.now() - started.getTime()) / 1000).toFixed(0).padStart(4)} s] ${m}`);
const CLIENT = root('bench/signaling/client.mjs');

const results = { command, date: started.toISOString(), machine: machine(), options: o };
log(`machine: ${JSON.stringify(results.machine)}`);

// ---- build ----
if (!o.noBuild) {
  log('building: npx tsc -b packages/protocol packages/server packages/client; node packages/client/build.mjs');
  try {
    execFileSync('npx', ['tsc', '-b', 'packages/protocol', 'packages/server', 'packages/client'], { cwd: root('.'), stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });
  } catch (err) {
    console.error(`the TypeScript build failed; nothing was measured:\n${err.stdout ?? ''}${err.stderr ?? ''}`);
    process.exit(1);
  }
  const { build } = await import(pathToFileURL(root('packages/client/build.mjs')).href);
  await build();
}
results.distBuiltAt = distStamp();
results.gitHead = safe(() => execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: root('.'), encoding: 'utf8' }).trim());
results.gitDirty = safe(() => execFileSync('git', ['status', '--porcelain', 'packages'], { cwd: root('.'), encoding: 'utf8' }).trim().split('\n').filter(Boolean).length);

function safe(fn) {
  try {
    return fn();
  } catch {
    return null;
  }
}

/** One load-client run against a fresh server process. */
async function signalingRun(kind, { env = {}, nodeArgs = [], pairs = o.pairs, setups = o.setups, unloaded = true } = {}) {
  const quiet = await waitForQuiet({ maxWaitMs: o.quietWait * 1000 });
  const server = await startServerProcess(kind, { env, nodeArgs });
  try {
    const args = (p, s, w) => ['--url', server.wsUrl, '--pairs', String(p), '--setups', String(s), '--warmup', String(w), '--server-pid', String(server.pid)];
    const idle = unloaded ? await runNodeJson(CLIENT, args(1, 300, 30), { timeoutMs: 120_000 }) : null;
    const load = await runNodeJson(CLIENT, args(pairs, setups, 5), { timeoutMs: 180_000 });
    return { kind, builtAt: server.builtAt, quietBefore: quiet, unloaded: idle, saturated: load };
  } finally {
    await server.stop();
  }
}

// ---- a. signaling ----
const CONFIGS = [
  { label: 'bare', kind: 'bare' },
  { label: 'opencall', kind: 'opencall' },
  { label: 'opencall-memory-records', kind: 'opencall', env: { OPENCALL_DATA_DIR: '' } },
];
if (!o.skipSignaling) {
  const rounds = [];
  for (let r = 0; r < o.rounds; r++) {
    for (const c of CONFIGS) {
      log(`signaling round ${r + 1}/${o.rounds}: ${c.label}`);
      const run = await signalingRun(c.kind, { env: c.env, unloaded: c.label !== 'opencall-memory-records' });
      const m = run.saturated.measured;
      log(`  ${c.label}: ${fmt.int(m?.setupsPerSec)} setups/s, server ${fmt.int(m?.serverCpuUsPerSetup)} µs CPU/setup, client ${fmt.pct(m?.clientCpuPct)}, other load ${fmt.pct(m?.otherCpuPct)}; errors ${JSON.stringify(run.saturated.errors)}`);
      rounds.push({ round: r + 1, label: c.label, ...run });
    }
  }

  // V8's view: self time per JS function (wall-clock samples of the main thread).
  log('signaling profile: OpenCall under node --cpu-prof');
  const profDir = mkdtempSync(join(os.tmpdir(), 'opencall-prof-'));
  const profiled = await signalingRun('opencall', { nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${profDir}`], unloaded: false });
  // One file per thread (CPU.<date>.<time>.<pid>.<thread>.<seq>.cpuprofile): the main thread is 0;
  // the records writer thread has its own.
  const profFiles = readdirSync(profDir).filter((f) => f.endsWith('.cpuprofile'));
  const profFile = profFiles.find((f) => /\.\d+\.0\.\d+\.cpuprofile$/.test(f)) ?? profFiles[0];
  let profile = null;
  if (profFile) {
    mkdirSync(root('bench/results'), { recursive: true });
    const kept = root('bench/results/opencall-server.cpuprofile');
    writeFileSync(kept, readFileSync(join(profDir, profFile)));
    const s = summarizeProfile(JSON.parse(readFileSync(kept, 'utf8')));
    profile = { file: 'bench/results/opencall-server.cpuprofile', totalMs: s.totalMs, busyMs: s.busyMs, origins: s.origins.slice(0, 15), functions: s.functions.slice(0, 25), setups: profiled.saturated.measured?.setups };
  }
  rmSync(profDir, { recursive: true, force: true });

  // The kernel's view: on-CPU samples of every thread of the server, by category (needs perf).
  const perf = {};
  if (perfWorks()) {
    for (const c of CONFIGS.filter((x) => x.kind === 'opencall').concat([{ label: 'bare', kind: 'bare' }])) {
      log(`signaling profile: ${c.label} under perf record`);
      perf[c.label] = await perfRun(c);
    }
  } else log('perf is not available: skipping the on-CPU profile');
  results.signaling = { rounds, profiled: { ...profiled, profile }, perf };
}

function perfWorks() {
  try {
    execFileSync('perf', ['stat', '-e', 'cpu-clock', 'true'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** One saturated run with `perf record -e cpu-clock -g -p <server>`; returns the categories. */
async function perfRun(c) {
  const { spawn } = await import('node:child_process');
  const { categorize } = await import('./signaling/perf-categories.mjs');
  await waitForQuiet({ maxWaitMs: o.quietWait * 1000 });
  const server = await startServerProcess(c.kind, { env: c.env, nodeArgs: ['--perf-basic-prof'] });
  const data = join(os.tmpdir(), `opencall-perf-${process.pid}-${c.label}.data`);
  try {
    // perf is attached for the measured phase only (the client announces it), not logins and warm-up.
    let rec = null;
    let recording = Promise.resolve();
    const onLine = (line) => {
      if (line === 'measure:start') {
        rec = spawn('perf', ['record', '-q', '-e', 'cpu-clock', '-F', '1999', '-g', '-p', String(server.pid), '-o', data], { stdio: 'ignore' });
        recording = new Promise((r) => rec.once('exit', r));
        return true;
      }
      if (line === 'measure:end') {
        rec?.kill('SIGINT');
        return true;
      }
      return false;
    };
    const run = await runNodeJson(CLIENT, ['--url', server.wsUrl, '--pairs', String(o.pairs), '--setups', String(o.setups), '--warmup', '5', '--server-pid', String(server.pid), '--announce', '300'], { timeoutMs: 180_000, onLine });
    rec?.kill('SIGINT');
    await recording;
    return { measured: run.measured, ...categorize(data) };
  } finally {
    await server.stop();
    rmSync(data, { force: true });
    rmSync(`/tmp/perf-${server.pid}.map`, { force: true });
  }
}

// ---- b. media ----
if (!o.skipMedia) {
  log(`media: ${o.calls} calls per variant and ring delay (${o.rings}), ${o.warmupCalls} warm-up`);
  const quiet = await waitForQuiet({ maxWaitMs: o.quietWait * 1000 });
  const { systemBusyMs } = await import('./lib.mjs');
  const b0 = systemBusyMs();
  const t0 = Date.now();
  const media = await runMediaBench({ calls: o.calls, warmup: o.warmupCalls, rings: o.rings.split(',').map(Number), progress: log });
  media.machineBusyPct = ((systemBusyMs() - b0) / (Date.now() - t0)) * 100;
  media.quietBefore = quiet;
  media.durationS = (Date.now() - t0) / 1000;
  results.media = media;
  log('media diagnostic: going live, by mechanism (bench/media/go-live.mjs)');
  const { runGoLive } = await import('./media/go-live.mjs');
  const tries = o.quick ? 2 : 8;
  results.goLive = [
    ...(await runGoLive({ tries, fps: [15, 30], variants: ['one-page'] })),
    ...(await runGoLive({ tries, fps: [15], variants: ['one-page-new-element', 'two-pages'] })),
  ];
}

// ---- c. size ----
log('size: node scripts/size.mjs --no-build --json');
results.size = JSON.parse(execFileSync(process.execPath, [root('scripts/size.mjs'), '--no-build', '--json'], { cwd: root('.'), encoding: 'utf8' }));

// ---- d. largest SFU call (opt-in) ----
if (o.sfu) {
  log('sfu: largest call through Janus (bench/sfu-capacity.mjs)');
  const { runSfuCapacity } = await import('./sfu-capacity.mjs');
  const sfu = await runSfuCapacity({ calibrate: '3,5,7', start: 9, step: 2, max: 41, budget: o.quick ? 120 : 600, window: 10, settle: 5, settleTimeout: 30, camera: 'sdk', procs: 2, quietWait: o.quietWait }, log);
  sfu.command = command;
  mkdirSync(root('bench/results'), { recursive: true });
  writeFileSync(root('bench/results/sfu-capacity.json'), JSON.stringify(sfu, null, 1));
}

results.finished = new Date().toISOString();
results.gitHeadAtEnd = safe(() => execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: root('.'), encoding: 'utf8' }).trim());
mkdirSync(root('bench/results'), { recursive: true });
writeFileSync(root('bench/results/latest.json'), JSON.stringify(results, null, 1));
const { renderReport } = await import('./report.mjs');
writeFileSync(root(o.out), renderReport(results));
log(`wrote ${o.out} and bench/results/latest.json`);
process.exit(0);
