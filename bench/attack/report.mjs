/**
 * Section e of docs/benchmarks.md, "Under attack", from bench/results/under-attack.json
 * (written by bench/under-attack.mjs). Goals are the issue 11's:
 * - 300 anonymous junk-streaming sockets: honest setup p99 ≤ 3× its quiet p99, and ≥ 90 % of the
 *   flood's sockets closed within 15 s of opening;
 * - a client that stops reading is cut before the server holds 16 MiB for it;
 * - 10-minute mixed soak: RSS flat (± 64 MiB) and honest calls still completing.
 */
import { fmt } from '../lib.mjs';

const row = (cells) => `| ${cells.join(' | ')} |`;
const yes = (ok) => (ok === null ? '–' : ok ? '**met**' : '**not met**');
const MiB = 2 ** 20;

/** Share of the attack's sockets that the server closed within 15 s of their opening (null if not reported). */
export function closedWithin15s(attacker) {
  if (!attacker) return null;
  if (Number.isFinite(attacker.closedWithin15sPct)) return attacker.closedWithin15sPct / 100;
  const opened = attacker.opened ?? 0;
  const closed = Number.isFinite(attacker.closedWithin15s) ? attacker.closedWithin15s : null;
  return opened > 0 && closed !== null ? closed / opened : null;
}

/**
 * The highest RSS of each whole minute of the soak after the first. Every attacker restarts each
 * minute, so RSS rises and falls within a minute by what the wave's sockets hold; a leak shows as
 * minute peaks that climb.
 */
export function minutePeaks(soak) {
  const byMinute = new Map();
  for (const [sec, rss] of soak.rssSeries) {
    const m = Math.floor(sec / 60);
    if (m >= 1 && (m + 1) * 60 <= soak.seconds) byMinute.set(m, Math.max(byMinute.get(m) ?? 0, rss));
  }
  return [...byMinute.values()];
}

function goals(r) {
  const quiet = r.phases.find((p) => p.name === 'quiet');
  const junk = r.phases.find((p) => p.name === 'junk');
  const slow = r.phases.find((p) => p.name === 'slow-reader');
  const out = [];
  if (quiet && junk) {
    const ratio = junk.setups.p99 / quiet.setups.p99;
    out.push(['junk flood (300 sockets): honest setup p99, flood / quiet', `${fmt.ms(junk.setups.p99)} / ${fmt.ms(quiet.setups.p99)} ms = **${fmt.x(ratio)}**`, '≤ 3', yes(ratio <= 3)]);
    const share = closedWithin15s(junk.attacker);
    out.push(['junk flood: flood sockets closed within 15 s', share === null ? '–' : `**${(share * 100).toFixed(1)} %**`, '≥ 90 %', yes(share === null ? null : share >= 0.9)]);
  }
  if (slow) {
    const held = slow.server?.slowConsumerMaxBytes;
    out.push(['slow reader: bytes held for it when cut (most of 10)', held ? `**${fmt.mib(held)} MiB** (${fmt.int(held)} B)` : '–', '< 16 MiB', yes(held ? held < 16 * MiB : null)]);
  }
  if (r.soak) out.push(...soakGoals(r.soak, 'calls of 16, no history rate'));
  if (r.soakDefaults) out.push(...soakGoals(r.soakDefaults, 'every default'));
  return out;
}

function soakGoals(soak, config) {
  const { min, max } = soak.rssAfterFirstMinute;
  const peaks = minutePeaks(soak);
  const lo = Math.min(...peaks);
  const hi = Math.max(...peaks);
  return [
    [
      `${Math.round(soak.seconds / 60)}-minute mixed soak (${config}): server RSS, highest of each minute after the first`,
      `${fmt.mib(lo)}–${fmt.mib(hi)} MiB (**± ${fmt.mib((hi - lo) / 2)} MiB**); within a minute ${fmt.mib(min)}–${fmt.mib(max)} MiB as each wave's sockets come and go`,
      '± 64 MiB',
      yes(hi - lo <= 128 * MiB),
    ],
    [`soak (${config}): honest setups completed / failed`, `${fmt.int(soak.setups.n)} / ${fmt.int(soak.failed)}`, 'complete', yes(soak.setups.n > 0 && soak.failed === 0)],
  ];
}

/** Rows for the summary table at the top of docs/benchmarks.md. */
export function attackSummaryRows(r) {
  return goals(r);
}

export function renderAttackSection(r) {
  const lines = [];
  lines.push(`## e. Under attack (issue 11)

Measured by \`node bench/under-attack.mjs${r.options.soak ? ` --soak ${r.options.soak}` : ''}\` on ${r.at.replace('T', ' ').slice(0, 19)} UTC: one real server process with its
default limits but two (records in SQLite; calls of up to 16, and no history rate, \`OPENCALL_HISTORY_RATE=0\`, so that the
slow readers get every page they ask for and only the send-buffer cap stops them), ${r.options.pairs} honest loops on 127.0.0.1 making a call setup every
${r.options.every} ms each (invite → INVITED → accept → accepted, timed; bench/attack/honest.mjs, its own process), and each
attack in its own process from other loopback addresses (tests/abuse/attacker.mjs), ${r.options.phaseSeconds} s per phase.
`);
  lines.push(row(['goal', 'measured', 'target', '']));
  lines.push(row(['---', '---:', '---', '---']));
  for (const g of goals(r)) lines.push(row(g));
  lines.push(`
### Honest call setups per phase
`);
  lines.push(row(['phase', 'setups', 'p50 ms', 'p99 ms', 'max ms', 'failed', 'server RSS MiB (min–max)', 'attack: sockets opened / refused at upgrade / closed by the server (codes)']));
  lines.push(row(['---', '---:', '---:', '---:', '---:', '---:', '---:', '---']));
  for (const p of r.phases) {
    const a = p.attacker;
    const codes = a?.closedByServer ? Object.entries(a.closedByServer).map(([c, n]) => `${c}×${n}`).join(', ') : '';
    const server = p.server?.counts ? Object.entries(p.server.counts).map(([k, n]) => `${k.split(':')[1]} ${fmt.int(n)}`).join(', ') : '';
    const spam = a?.invites ? `; invitations sent ${fmt.int(a.invites.sent)}, rang the victim ${a.invites.victimRang}` : '';
    const attack = a ? `${fmt.int(a.opened)} / ${fmt.int(a.refusedAtUpgrade ?? 0)} / ${codes || '–'}${Number.isFinite(a.stillOpen) ? `; still open at the end ${a.stillOpen}` : ''}${spam}${server ? `; server counted: ${server}` : ''}` : '–';
    lines.push(row([p.name, fmt.int(p.setups.n), fmt.ms(p.setups.p50), fmt.ms(p.setups.p99), fmt.ms(p.setups.max), fmt.int(p.failed), `${fmt.mib(p.rssMin)}–${fmt.mib(p.rssMax)}`, attack]));
  }
  const extra = r.phases.filter((p) => p.attacker?.note || p.errors?.length);
  if (extra.length) {
    lines.push('');
    for (const p of extra) lines.push(`- ${p.name}: ${[p.attacker?.note, p.errors?.length ? `honest errors: ${p.errors.join('; ')}` : ''].filter(Boolean).join('; ')}`);
  }
  for (const [soak, config] of [[r.soak, 'as in the phases above'], [r.soakDefaults, 'every default (`--defaults`, its own run)']]) {
    if (!soak) continue;
    const series = minutePeaks(soak).map((b, i) => `${i + 2}: ${fmt.mib(b)}`).join(' · ');
    lines.push(`
### ${Math.round(soak.seconds / 60)}-minute soak, every attack at once: ${config}

${fmt.int(soak.waves)} attacker runs (each attack restarted every minute). Honest setups: ${fmt.int(soak.setups.n)} completed, ${fmt.int(soak.failed)} failed,
p50 ${fmt.ms(soak.setups.p50)} ms, p99 ${fmt.ms(soak.setups.p99)} ms. Highest server RSS of each minute (MiB): ${series}.
What the server counted over the soak: ${Object.entries(soak.server?.counts ?? {}).map(([k, n]) => `${k.replace(':', ' ')} ${fmt.int(n)}`).join(', ')}.
`);
  }
  return lines.join('\n') + '\n';
}
