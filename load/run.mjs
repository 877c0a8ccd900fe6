#!/usr/bin/env node
/**
 * `npm run load`: one OpenCall server (its own process, production configuration: call records
 * in SQLite in a temporary data directory, log level warn) and the load generator
 * (load/generator.mjs, another process) on 127.0.0.1.
 *
 *   npm run load                                   2000 users, 200 setups/s for 20 s (< 60 s in all)
 *   npm run load -- --users 10000 --rate 500 --duration 30   the issue's goal
 *
 * Options: --users N  --rate M (setups/s)  --duration S  --hold MS (call length, default 1000)
 *          --connect-concurrency C  --json (print the raw result)  --no-build
 *
 * The npm script raises the open-files limit first (`ulimit -n 65536`, or the hard limit);
 * each process needs one descriptor per connection. Both processes stop by themselves: the
 * generator has a hard deadline, and this script kills both after it.
 */
import { execFileSync, spawn } from 'node:child_process';
import { distStamp, fmt, machine, parseArgs, root, startServerProcess } from '../bench/lib.mjs';

const argv = process.argv.slice(2);
const o = parseArgs(argv, { users: 2000, rate: 200, duration: 20, hold: 1000, connectConcurrency: 250, json: false, noBuild: false });
const log = (m) => console.error(`[load] ${m}`);

const limit = Number(execFileSync('sh', ['-c', 'ulimit -n'], { encoding: 'utf8' }).trim());
const need = o.users + 500;
if (Number.isFinite(limit) && limit < need) {
  console.error(`open-files limit is ${limit}, ${o.users} users need about ${need} per process: run through \`npm run load\` (it raises the limit) or \`ulimit -n ${need}\` first`);
  process.exit(2);
}

if (!o.noBuild) {
  log('building the server (npx tsc -b packages/protocol packages/server)');
  execFileSync('npx', ['tsc', '-b', 'packages/protocol', 'packages/server'], { cwd: root('.'), stdio: 'inherit' });
}

const m = machine();
const head = (() => {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: root('.'), encoding: 'utf8' }).trim();
  } catch {
    return '?';
  }
})();
const build = `server dist built ${distStamp()} (git HEAD ${head})`;
log(`machine: ${m.nproc} cores, ${m.cpu}, Node ${m.node}, open-files limit ${limit}; ${build}`);
const server = await startServerProcess('opencall');
log(`server pid ${server.pid} at ${server.url}`);

const args = ['--url', server.wsUrl, '--server-pid', String(server.pid), '--users', String(o.users), '--rate', String(o.rate), '--duration', String(o.duration), '--hold', String(o.hold), '--connect-concurrency', String(o.connectConcurrency)];
const gen = spawn(process.execPath, [root('load/generator.mjs'), ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
let out = '';
gen.stdout.on('data', (d) => (out += d));
// The generator stops itself; this is the backstop.
const budgetS = 90 + o.duration + 45 + 30;
const killer = setTimeout(() => {
  log(`generator still running after ${budgetS} s: killing it`);
  gen.kill('SIGKILL');
}, budgetS * 1000);
const code = await new Promise((r) => gen.once('exit', (c, s) => r(c ?? s)));
clearTimeout(killer);
const serverOutput = server.output();
await server.stop();

let r;
try {
  r = JSON.parse(out.trim().split('\n').pop());
} catch {
  console.error(`the generator exited with ${code} and no result:\n${out}`);
  process.exit(1);
}
if (o.json) {
  console.log(JSON.stringify({ command: `npm run load${argv.length ? ' -- ' + argv.join(' ') : ''}`, date: new Date().toISOString(), machine: m, build, result: r, serverOutput: serverOutput.slice(-2000) }));
  process.exit(r.error ? 1 : 0);
}

const c = r.counts;
const inviteFailed = Object.entries(c.inviteFailed).map(([k, v]) => `${k}×${v}`).join(', ') || '0';
const stuck = Object.entries(c.stuck).map(([k, v]) => `${k}: ${v}`).join(', ') || '0';
const lines = [
  `${new Date().toISOString().slice(0, 19)} UTC, ${m.nproc} cores ${m.cpu}, Node ${m.node}; ${build}`,
  `users ${o.users}, target ${o.rate} setups/s for ${o.duration} s, calls held ${o.hold} ms${r.error ? `  (STOPPED: ${r.error})` : ''}`,
  `connections: ${fmt.int(r.connect.connected)} logged in, in ${fmt.ms(r.connect.ms / 1000)} s (${fmt.int(r.connect.perSec)}/s); held at the end ${fmt.int(r.held.atEnd)}; closed during the run ${c.closedDuringRun}; server says ${JSON.stringify(r.held.server)}`,
  `setups: started ${fmt.int(c.started)} (${fmt.int(r.setups.startedPerSec)}/s), accepted ${fmt.int(c.accepted)} (${fmt.int(r.setups.acceptedPerSec)}/s), completed with hang-up ${fmt.int(c.completed)}; skipped (no idle pair) ${c.skippedNoIdlePair}`,
  `invite → INVITED: p50 ${fmt.ms(r.inviteToInvitedMs.p50, 2)} ms, p99 ${fmt.ms(r.inviteToInvitedMs.p99, 2)} ms, max ${fmt.ms(r.inviteToInvitedMs.max)} ms (n ${fmt.int(r.inviteToInvitedMs.n)}; over 100 ms: ${fmt.int(r.inviteToInvitedOver100ms)})`,
  `invite → accepted: p50 ${fmt.ms(r.inviteToAcceptedMs.p50, 2)} ms, p99 ${fmt.ms(r.inviteToAcceptedMs.p99, 2)} ms`,
  `lost invitations: ${c.lost}; duplicated: ${c.duplicated}; unexpected INVITED: ${c.unexpectedInvited}; invite refused: ${inviteFailed}; stuck: ${stuck}`,
  `server: CPU ${fmt.pct(r.server?.cpuPct)} of a core during setups (worst second ${fmt.pct(r.server?.cpuPctMaxSecond)}), RSS ${fmt.mib(r.server?.rssAfterConnectBytes)} MiB after login → ${fmt.mib(r.server?.rssEndBytes)} MiB at the end, peak ${fmt.mib(r.server?.peakRssBytes)} MiB`,
  `generator: CPU ${fmt.pct(r.generator?.cpuPct)}, event-loop delay p99 ${fmt.ms(r.generator?.eventLoopDelayMs.p99)} ms (max ${fmt.ms(r.generator?.eventLoopDelayMs.max)})`,
  `other frames: ${JSON.stringify(c.otherFrames)}`,
  `timeline (every 10 s): ${r.timeline?.length ? '' : 'none'}`,
  ...(r.timeline ?? []).map((w) => `  ${String(w.atS).padStart(4)} s  invited ${fmt.int(w.invited).padStart(6)}  p50 ${fmt.ms(w.p50, 2).padStart(6)} ms  p99 ${fmt.ms(w.p99).padStart(6)} ms  max ${fmt.ms(w.max).padStart(6)} ms  server CPU ${fmt.pct(w.serverCpuPct).padStart(4)}  RSS ${fmt.int(w.rssMiB).padStart(4)} MiB  other load ${fmt.pct(w.otherCpuPct)}`),
];
console.log(lines.join('\n'));
process.exit(r.error ? 1 : 0);
