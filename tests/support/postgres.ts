/**
 * A real, throwaway PostgreSQL server for tests: the Debian `postgresql` package's binaries,
 * a cluster initialised in a temp dir (as the `postgres` OS user when we are root, since
 * initdb and postgres refuse to run as root), listening on 127.0.0.1 on a free port with its
 * unix socket in the temp dir. stop() shuts it down and removes everything.
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { freePort } from './ports.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';

export interface TestPostgres {
  /** Superuser URL of the `postgres` database (no password: trust auth on loopback). */
  url: string;
  port: number;
  /** Creates a fresh database and returns its URL. */
  createDatabase(name?: string): Promise<string>;
  /** SIGSTOP of the server and its backends: connections stay open but nothing answers (a hung database). */
  pause(): void;
  /** SIGCONT: answers again, connections intact. */
  resume(): void;
  stop(): Promise<void>;
}

/** The newest installed PostgreSQL's bin directory; installs the Debian package first if there is none (as root). */
export function postgresBinDir(): string {
  const find = () => {
    const base = '/usr/lib/postgresql';
    if (!existsSync(base)) return undefined;
    const versions = readdirSync(base)
      .filter((v) => existsSync(join(base, v, 'bin', 'initdb')))
      .sort((a, b) => Number(b) - Number(a));
    return versions[0] && join(base, versions[0], 'bin');
  };
  let dir = find();
  if (!dir && process.getuid?.() === 0) {
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    execFileSync('apt-get', ['update'], { stdio: 'ignore', env });
    execFileSync('apt-get', ['install', '-y', '--no-install-recommends', 'postgresql'], { stdio: 'ignore', env });
    // The package starts its own cluster on 5432; ours runs on a free port, so stop that one.
    spawnSync('service', ['postgresql', 'stop'], { stdio: 'ignore' });
    dir = find();
  }
  if (!dir) throw new Error('PostgreSQL is not installed: sudo apt-get install -y postgresql');
  return dir;
}

export { freePort };

function osUser(name: string): { uid: number; gid: number } {
  const uid = Number(execFileSync('id', ['-u', name], { encoding: 'utf8' }).trim());
  const gid = Number(execFileSync('id', ['-g', name], { encoding: 'utf8' }).trim());
  return { uid, gid };
}

let dbCounter = 0;

export async function startPostgres(): Promise<TestPostgres> {
  const bin = postgresBinDir();
  const root = mkdtempSync(join(tmpdir(), 'opencall-pg-'));
  const data = join(root, 'data');
  const sock = join(root, 'sock');
  mkdirSync(sock);
  // Root may not run PostgreSQL: hand the directory to the postgres user and run as them.
  const asUser = process.getuid?.() === 0 ? osUser('postgres') : undefined;
  if (asUser) for (const p of [root, sock]) chownSync(p, asUser.uid, asUser.gid);
  const env = { ...process.env, LC_ALL: 'C', LANG: 'C' };
  const init = spawnSync(join(bin, 'initdb'), ['-D', data, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--locale=C', '--no-sync'], {
    ...(asUser ?? {}),
    env,
    encoding: 'utf8',
    cwd: root,
  });
  if (init.status !== 0) {
    rmSync(root, { recursive: true, force: true });
    throw new Error(`initdb failed (${init.status}): ${init.stderr || init.stdout || init.error}`);
  }
  const port = await freePort();
  const child: ChildProcess = spawn(
    join(bin, 'postgres'),
    ['-D', data, '-p', String(port), '-k', sock, '-c', 'listen_addresses=127.0.0.1', '-c', 'max_connections=100', '-c', 'shared_buffers=32MB'],
    { ...(asUser ?? {}), env, cwd: root, stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-4000);
  });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  // If the test process goes away without stop(), do not leave a server and its files behind.
  const onExit = () => {
    try {
      child.kill('SIGKILL');
    } catch {
      /* gone */
    }
    rmSync(root, { recursive: true, force: true });
  };
  process.once('exit', onExit);

  const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
  const until = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) {
      onExit();
      throw new Error(`postgres exited (${child.exitCode}): ${stderr}`);
    }
    const c = new pg.Client({ connectionString: url });
    try {
      await c.connect();
      await c.query('SELECT 1');
      await c.end();
      break;
    } catch (err) {
      await c.end().catch(() => {});
      if (Date.now() > until) {
        onExit();
        throw new Error(`postgres did not come up on port ${port}: ${(err as Error).message}\n${stderr}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  let stopped = false;
  return {
    url,
    port,
    async createDatabase(name = `opencall_test_${process.pid}_${++dbCounter}`) {
      const c = new pg.Client({ connectionString: url });
      await c.connect();
      try {
        await c.query(`CREATE DATABASE "${name}"`);
      } finally {
        await c.end();
      }
      return `postgres://postgres@127.0.0.1:${port}/${name}`;
    },
    // The postmaster first: stopped, it cannot fork a backend that would escape the signal.
    pause: () => [child.pid!, ...childrenOf(child.pid!)].forEach((p) => process.kill(p, 'SIGSTOP')),
    resume: () => [...childrenOf(child.pid!), child.pid!].forEach((p) => process.kill(p, 'SIGCONT')),
    async stop() {
      if (stopped) return;
      // A paused server cannot shut down; a backend that already exited (ESRCH) needs nothing.
      if (child.pid) for (const p of [...childrenOf(child.pid), child.pid]) signalIfAlive(p, 'SIGCONT');
      stopped = true;
      child.kill('SIGINT'); // fast shutdown: disconnects clients, no waiting for them
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
      process.off('exit', onExit);
      rmSync(root, { recursive: true, force: true });
    },
  };
}

/** Processes whose parent is `pid` (from /proc: PostgreSQL's backends and workers). */
function childrenOf(pid: number): number[] {
  const kids: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      // Fields after the command name (which may hold spaces): state, ppid, ...
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid) kids.push(Number(d));
    } catch {
      /* exited meanwhile */
    }
  }
  return kids;
}

/** process.kill that ignores a process which has exited in the meantime (ESRCH). */
function signalIfAlive(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
  }
}
