#!/usr/bin/env node
/**
 * The signaling part of the benchmark alone, for quick before/after comparisons: interleaved
 * rounds of the bare `ws` relay and OpenCall (production configuration: records in an SQLite
 * file), each a fresh server process driven by bench/signaling/client.mjs, as `npm run bench`
 * does. Prints each run and the ratio of the medians; compare only ratios from the same run.
 *
 *   node bench/signaling/ab.mjs [--rounds 3] [--pairs 100] [--setups 150] [--memory]
 *                               [--skip-bare] [--cpu-prof <dir>]   (OpenCall runs under node --cpu-prof)
 *                               [--dist <dir>,<dir>] (also runs these other builds of packages/server as 'opencall@<dir>',
 *                                                 e.g. copies of dist inside packages/server so that their imports resolve)
 *                               [--variants 'name:K=V,K=V;name2:K=V'] (also runs OpenCall with these environments,
 *                                                 e.g. 'no-metrics:OPENCALL_METRICS=0' to price one part)
 *
 * Does not build: run `npx tsc -b packages/protocol packages/server` first.
 */
import { fmt, median, parseArgs, root, runNodeJson, startServerProcess, waitForQuiet } from '../lib.mjs';

const o = parseArgs(process.argv.slice(2), { rounds: 3, pairs: 100, setups: 150, memory: false, cpuProf: '', quietWait: 30, dist: '', variants: '', json: false, skipBare: false });
const CLIENT = root('bench/signaling/client.mjs');
const configs = [
  ...(o.skipBare ? [] : [{ label: 'bare', kind: 'bare' }]),
  ...(o.dist ? o.dist.split(',').map((d) => ({ label: `opencall@${d.split('/').pop()}`, kind: 'opencall', env: {}, script: root(`${d}/bin.js`) })) : []),
  { label: 'opencall', kind: 'opencall', env: {} },
  ...(o.memory ? [{ label: 'opencall-memory-records', kind: 'opencall', env: { OPENCALL_DATA_DIR: '' } }] : []),
  ...(o.variants ? o.variants.split(';').filter(Boolean).map(parseVariant) : []),
];

/** `name:K=V,K=V` → an OpenCall configuration with those environment variables. */
function parseVariant(spec) {
  const i = spec.indexOf(':');
  const name = i < 0 ? spec : spec.slice(0, i);
  const env = Object.fromEntries((i < 0 ? '' : spec.slice(i + 1)).split(',').filter(Boolean).map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));
  return { label: `opencall-${name}`, kind: 'opencall', env };
}
const runs = [];
for (let r = 1; r <= o.rounds; r++) {
  for (const c of configs) {
    const quiet = await waitForQuiet({ maxWaitMs: o.quietWait * 1000 });
    const nodeArgs = c.kind === 'opencall' && o.cpuProf ? ['--cpu-prof', `--cpu-prof-dir=${o.cpuProf}`] : [];
    const server = await startServerProcess(c.kind, { env: c.env, nodeArgs, script: c.script });
    let m;
    try {
      const res = await runNodeJson(CLIENT, ['--url', server.wsUrl, '--pairs', String(o.pairs), '--setups', String(o.setups), '--warmup', '5', '--server-pid', String(server.pid)], { timeoutMs: 180_000 });
      m = res.measured;
      runs.push({ round: r, label: c.label, quietBefore: quiet.busyPct, errors: res.errors, ...m });
    } finally {
      await server.stop();
    }
    console.error(
      `round ${r} ${c.label.padEnd(24)} ${fmt.int(m?.setupsPerSec).padStart(7)} setups/s  server ${fmt.int(m?.serverCpuUsPerSetup)} µs CPU/setup (${fmt.pct(m?.serverCpuPct)}; main thread ${fmt.int(m?.serverMainCpuUsPerSetup)} µs, ${fmt.pct(m?.serverMainCpuPct)})  client ${fmt.pct(m?.clientCpuPct)}  other ${fmt.pct(m?.otherCpuPct)}`,
    );
  }
}
const med = (label, f) => median(runs.filter((x) => x.label === label).map(f).filter(Number.isFinite));
const bare = med('bare', (x) => x.setupsPerSec);
const summary = {};
for (const c of configs) summary[c.label] = { setupsPerSec: med(c.label, (x) => x.setupsPerSec), cpuUsPerSetup: med(c.label, (x) => x.serverCpuUsPerSetup), mainCpuUsPerSetup: med(c.label, (x) => x.serverMainCpuUsPerSetup), ratio: med(c.label, (x) => x.setupsPerSec) / bare };
for (const [k, v] of Object.entries(summary)) console.error(`${k.padEnd(24)} median ${fmt.int(v.setupsPerSec)} setups/s, ${fmt.int(v.cpuUsPerSetup)} µs CPU/setup (main thread ${fmt.int(v.mainCpuUsPerSetup)}), ratio to bare ${fmt.x(v.ratio)}`);
if (o.json) console.log(JSON.stringify({ options: o, runs, summary }));
