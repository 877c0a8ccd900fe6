/**
 * Test helper: a throw-away redis-server (Debian's `redis-server`) on 127.0.0.1 and a free
 * port, no persistence, in a temp dir. Cluster tests give every cluster its own key prefix, so
 * one Redis serves a whole test file.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createConnection } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { readFileSync } from 'node:fs';
import { freePort } from './ports.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface RedisInstance {
  url: string;
  port: number;
  /** SIGKILL and removes the temp dir. Idempotent. */
  stop(): Promise<void>;
}

export const REDIS_BIN = '/usr/bin/redis-server';

export interface StartRedisOptions {
  /** `requirepass`: the URL then carries it (`redis://:password@…`). */
  password?: string;
  /** TLS only (no plain port): the URL is `rediss://`; clients must trust `caFile`. */
  tls?: { certFile: string; keyFile: string; caFile: string };
  /** Listen on this port (e.g. to start again in place of a stopped instance). Default: a free one. */
  port?: number;
}

export async function startRedis(options: StartRedisOptions = {}): Promise<RedisInstance> {
  const dir = await mkdtemp(join(tmpdir(), 'opencall-redis-'));
  const port = options.port ?? (await freePort());
  const { password, tls } = options;
  const listen = tls
    ? ['--port', '0', '--tls-port', String(port), '--tls-cert-file', tls.certFile, '--tls-key-file', tls.keyFile, '--tls-ca-cert-file', tls.caFile, '--tls-auth-clients', 'no']
    : ['--port', String(port)];
  const args = [...listen, '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--protected-mode', 'yes', ...(password ? ['--requirepass', password] : [])];
  const child: ChildProcess = spawn(REDIS_BIN, args, {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (d) => (output += d));
  child.stderr!.on('data', (d) => (output += d));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const until = Date.now() + 10_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`redis-server exited: ${output}`);
    if (await answersPing(port, password, tls && readFileSync(tls.caFile, 'utf8'))) break;
    if (Date.now() > until) {
      child.kill('SIGKILL');
      throw new Error(`redis-server did not start: ${output}`);
    }
    await new Promise((r) => setTimeout(r, 30));
  }
  let stopped: Promise<void> | undefined;
  return {
    url: `${tls ? 'rediss' : 'redis'}://${password ? `:${encodeURIComponent(password)}@` : ''}127.0.0.1:${port}`,
    port,
    stop: () =>
      (stopped ??= (async () => {
        child.kill('SIGKILL');
        await exited;
        await rm(dir, { recursive: true, force: true });
      })()),
  };
}

function answersPing(port: number, password?: string, ca?: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = ca ? tlsConnect({ port, host: '127.0.0.1', ca }) : createConnection({ port, host: '127.0.0.1' });
    s.once('error', () => resolve(false));
    // With a password, AUTH first: the first reply is AUTH's (+OK), then PING's.
    s.once(ca ? 'secureConnect' : 'connect', () => s.write(password ? `AUTH ${password}\r\nPING\r\n` : 'PING\r\n'));
    let got = '';
    s.on('data', (d) => {
      got += String(d);
      if (!got.includes('\r\n', password && got.startsWith('+OK') ? 5 : 0)) return;
      s.destroy();
      resolve(got.endsWith('+PONG\r\n'));
    });
  });
}
