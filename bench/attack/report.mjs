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
  if (r.soak) {
    const { min, max } = r.soak.rssAfterFirstMinute;
    out.push([`${Math.round(r.soak.seconds / 60)}-minute mixed soak: server RSS after the first minute`, `${fmt.mib(min)}–${fmt.mib(max)} MiB (spread **${fmt.mib(max - min)} MiB**)`, '± 64 MiB', yes(max - min <= 128 * MiB)]);
    out.push(['soak: honest setups completed / failed', `${fmt.int(r.soak.setups.n)} / ${fmt.int(r.soak.failed)}`, 'complete', yes(r.soak.setups.n > 0)]);
  }
  return out;
}

/** Rows for the summary table at the top of docs/benchmarks.md. */
export function attackSummaryRows(r) {
  return goals(r);
}

export function renderAttackSection(r) {
  const lines = [];
  lines.push(`## e. Under attack (issue 11)

Measured by \`node bench/under-attack.mjs${r.options.soak ? ` --soak ${r.options.soak}` : ''}\` on ${r.at.replace('T', ' ').slice(0, 19)} UTC: one real server process with its
default limits (records in SQLite), ${r.options.pairs} honest pairs on 127.0.0.1 making a call setup every
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
  if (r.soak) {
    const series = r.soak.rssSeries.filter((_, i) => i % 60 === 0).map(([s, b]) => `${Math.round(s / 60)} min ${fmt.mib(b)}`).join(' · ');
    lines.push(`
### ${Math.round(r.soak.seconds / 60)}-minute soak, every attack at once

${fmt.int(r.soak.waves)} attacker runs (each attack restarted every minute). Honest setups: ${fmt.int(r.soak.setups.n)} completed, ${fmt.int(r.soak.failed)} failed,
p50 ${fmt.ms(r.soak.setups.p50)} ms, p99 ${fmt.ms(r.soak.setups.p99)} ms. Server RSS each minute: ${series}.
`);
  }
  return lines.join('\n') + '\n';
}
