/**
 * Runs tests/abuse/attacker.mjs (a hostile client fleet) in its own process, so the flood does
 * not starve the honest clients of the test process. `startAttacker(spec)` starts it; `done`
 * resolves with its summary line when it stops by itself at `durationMs` (or is stopped); every
 * per-socket event line is in `events` as it arrives. `stopAllAttackers()` in afterAll ends any
 * still running.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { REPO_ROOT } from './server-binary.js';
import { onJsonLines } from './json-lines.js';

export const ATTACKER_SCRIPT = join(REPO_ROOT, 'tests/abuse/attacker.mjs');

/** The spec the script takes (see the comment at the top of attacker.mjs). */
export interface AttackSpec {
  url: string;
  attack: 'junk' | 'idle' | 'slow-reader' | 'connect-flood' | 'pong-only';
  sockets?: number;
  localAddresses?: string[];
  frameBytes?: number;
  durationMs?: number;
  userID?: string;
  userSig?: string;
  sdkAppId?: number;
  concurrency?: number;
  quiet?: boolean;
}

export interface AttackSummary {
  opened: number;
  refusedAtUpgrade: number;
  /** HTTP status of refused upgrades → count (0: no HTTP answer). */
  refusedStatus: Record<string, number>;
  /** Close code → count, for sockets the server closed (1006: cut without a close frame). */
  closedByServer: Record<string, number>;
  stillOpen: number;
  /** Time from open to the server's close, ms. */
  closeMs: { p50: number | null; p90: number | null; max: number | null };
  sent: { frames: number; bytes: number };
  ms: number;
}

export interface AttackEvent { ev: string; [k: string]: any }

export interface Attacker {
  readonly child: ChildProcess;
  readonly events: AttackEvent[];
  /** Resolves with the summary when the attacker stops. */
  readonly done: Promise<AttackSummary>;
  /** Ends it now (it still prints its summary). */
  stop(): Promise<AttackSummary>;
}

const running = new Set<ChildProcess>();

export function startAttacker(spec: AttackSpec): Attacker {
  const child = spawn(process.execPath, [ATTACKER_SCRIPT, JSON.stringify(spec)], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  const events: AttackEvent[] = [];
  let stderr = '';
  let summary: AttackSummary | undefined;
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  onJsonLines(child.stdout!, (j: AttackEvent) => {
    if (j.ev === 'summary') summary = j as unknown as AttackSummary;
    else events.push(j);
  });
  const done = new Promise<AttackSummary>((resolve, reject) => {
    child.once('exit', (code) => {
      running.delete(child);
      if (summary) resolve(summary);
      else reject(new Error(`attacker exited (${code}) without a summary: ${stderr.slice(0, 2000)}`));
    });
  });
  done.catch(() => undefined);
  return {
    child,
    events,
    done,
    stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      return done;
    },
  };
}

/** Kills every attacker still running (afterAll). */
export function stopAllAttackers(): void {
  for (const c of running) c.kill('SIGKILL');
  running.clear();
}

/** `count` loopback source addresses: 127.0.0.`first`, the next ones, then 127.0.1.2 … (Linux routes all of 127/8 to lo). */
export function loopbackAddresses(count: number, first = 2): string[] {
  return Array.from({ length: count }, (_, i) => {
    const n = i + first - 2;
    return `127.0.${Math.floor(n / 253)}.${2 + (n % 253)}`;
  });
}
