/**
 * The kit's Redis and PostgreSQL parts with the real servers: the generated redis/opencall.conf
 * demands the password that opencall.env's OPENCALL_REDIS_URL carries, and postgres/setup.sql
 * (run twice, as install.sh may) makes the role and database OPENCALL_DATABASE_URL names, able to
 * create tables. Ports and Redis's dir are overridden on the command line (loopback test set-up).
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { connect } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postgresBinDir, startPostgres, type TestPostgres } from '../support/postgres.js';
import { freePort } from '../support/ports.js';
import { REDIS_BIN } from '../support/redis.js';
import { ensureServerBuilt, ServerProcess } from '../support/server-binary.js';
import { parseEnvFile, readKit, runInitBinary, startChild, stopChild, waitForTcp } from './kit.js';

describe('opencall-server init --redis --postgres, with the real servers', () => {
  let dir = '';
  let kit = '';
  let env: Record<string, string> = {};
  beforeAll(async () => {
    ensureServerBuilt();
    dir = await mkdtemp(join(tmpdir(), 'opencall-kit-stores-'));
    kit = join(dir, 'kit');
    const r = runInitBinary(['--domain', 'calls.example.com', '--redis', '--postgres', '--out', kit]);
    expect(r.status, r.stderr).toBe(0);
    env = parseEnvFile(readKit(kit, 'opencall.env'));
  });
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it.skipIf(!existsSync(REDIS_BIN))('Redis runs the generated config and answers only with the password from OPENCALL_REDIS_URL', async () => {
    const port = await freePort();
    const redis = startChild([REDIS_BIN, join(kit, 'redis/opencall.conf'), '--port', String(port), '--dir', dir]);
    const clients: Redis[] = [];
    try {
      await waitForTcp('127.0.0.1', port, redis.child, 'redis-server', redis.output);
      const url = new URL(env.OPENCALL_REDIS_URL!);
      url.port = String(port);
      const withPassword = new Redis(url.toString(), { lazyConnect: true, maxRetriesPerRequest: 0 });
      clients.push(withPassword);
      await withPassword.connect();
      expect(await withPassword.ping()).toBe('PONG');
      // Without it: a raw PING is refused.
      expect(await rawReply(port, 'PING\r\n')).toMatch(/^-NOAUTH/);
      // Renamed away: nobody reconfigures or wipes it over the wire.
      await expect(withPassword.call('CONFIG', 'GET', 'requirepass')).rejects.toThrow(/unknown command/i);
      // The server itself runs as a cluster node on it (no PostgreSQL here: records in the temp dir).
      const { OPENCALL_DATABASE_URL: _, ...rest } = env;
      const server = await ServerProcess.start({ ...rest, OPENCALL_REDIS_URL: url.toString(), OPENCALL_DATA_DIR: join(dir, 'data') });
      try {
        const health = await fetch(`${server.url}/healthz`);
        expect(health.status).toBe(200);
        expect((await withPassword.keys('{opencall}:*')).length).toBeGreaterThan(0);
      } finally {
        await server.stop('SIGTERM');
      }
    } finally {
      for (const c of clients) c.disconnect();
      await stopChild(redis.child);
    }
  });

  it.skipIf(!existsSync('/usr/lib/postgresql'))('setup.sql makes the role and database of OPENCALL_DATABASE_URL, and runs again cleanly', async () => {
    let postgres: TestPostgres | undefined;
    let client: pg.Client | undefined;
    try {
      postgres = await startPostgres();
      const psql = join(postgresBinDir(), 'psql');
      for (let run = 1; run <= 2; run++) {
        const r = spawnSync(psql, ['-q', '-v', 'ON_ERROR_STOP=1', postgres.url], { input: readKit(kit, 'postgres/setup.sql'), encoding: 'utf8' });
        expect(r.status, `run ${run}: ${r.stderr}`).toBe(0);
      }
      const url = new URL(env.OPENCALL_DATABASE_URL!);
      url.port = String(postgres.port);
      client = new pg.Client({ connectionString: url.toString() });
      await client.connect();
      const who = await client.query('SELECT current_user, current_database()');
      expect(who.rows[0]).toEqual({ current_user: 'opencall', current_database: 'opencall' });
      await client.query('CREATE TABLE kit_probe (id int)');
      const owner = await client.query("SELECT datdba::regrole::text AS owner FROM pg_database WHERE datname = 'opencall'");
      expect(owner.rows[0].owner).toBe('opencall');
    } finally {
      await client?.end();
      await postgres?.stop();
    }
  });
});

/** The first reply line of a Redis server to `command`, over a plain socket. */
function rawReply(port: number, command: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port }, () => s.write(command));
    s.setEncoding('utf8');
    s.once('data', (d: string) => {
      s.destroy();
      resolve(d.split('\r\n')[0]!);
    });
    s.once('error', reject);
  });
}
