/**
 * The deployment kit's files, for every combination of --sfu/--turn/--redis/--postgres: complete,
 * consistent (every shared secret equal wherever it appears), no placeholder left, secrets only in
 * mode-0600 files; the env file accepted by the server's own config loader; the Caddyfile by
 * `caddy validate` and the units by `systemd-analyze verify` where those tools are installed.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, cpSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfigFromEnv } from '@opencall/server';
import { renderDeployment, type DeployFile } from '../../packages/server/src/deploy/generate.js';
import { parseInitArgs, type DeployOptions } from '../../packages/server/src/deploy/options.js';
import { generateSecrets } from '../../packages/server/src/deploy/secrets.js';
import { ensureServerBuilt } from '../support/server-binary.js';
import { confValue, parseEnvFile, runInitBinary } from './kit.js';

const PARTS = ['sfu', 'turn', 'redis', 'postgres'] as const;
/** All 16 combinations of the optional parts. */
const COMBOS = Array.from({ length: 16 }, (_, n) => PARTS.filter((_, i) => n & (1 << i)));

function render(flags: string[]): { o: DeployOptions; files: Map<string, DeployFile>; env: Record<string, string> } {
  const o = parseInitArgs(['--domain', 'calls.example.com', ...flags], '9.9.9') as DeployOptions;
  const files = new Map(renderDeployment(o, generateSecrets(o), '9.9.9').map((f) => [f.path, f]));
  return { o, files, env: parseEnvFile(files.get('opencall.env')!.content) };
}

describe('opencall-server init: generated files', () => {
  it.each(COMBOS.map((c) => [c.join(' ') || '(none)', c] as const))('%s: complete and consistent', (_, parts) => {
    const { files, env } = render(parts.map((p) => `--${p}`));
    const has = (p: (typeof PARTS)[number]) => parts.includes(p);
    const text = (path: string) => files.get(path)!.content;

    // The file set follows the flags.
    for (const [path, on] of [
      ['janus/janus.jcfg', has('sfu')], ['janus/janus.transport.websockets.jcfg', has('sfu')], ['systemd/janus.service.d/opencall.conf', has('sfu')],
      ['coturn/turnserver.conf', has('turn')], ['systemd/opencall-turn-cert.timer', has('turn')], ['redis/opencall.conf', has('redis')],
      ['postgres/setup.sql', has('postgres')], ['opencall.env', true], ['Caddyfile', true], ['systemd/opencall.service', true],
      ['compose.yaml', true], ['Containerfile', true], ['install.sh', true], ['README.md', true],
    ] as const) expect(files.has(path), path).toBe(on);

    // The server's own loader accepts the env file as is (a wrong value would throw).
    const config = loadConfigFromEnv(env);
    expect(config.options).toMatchObject({ host: '127.0.0.1', port: 8080, secretKey: env.OPENCALL_SECRET, sdkAppId: Number(env.OPENCALL_SDKAPPID) });
    expect(env.OPENCALL_SECRET!.length).toBeGreaterThanOrEqual(32);
    expect(env.OPENCALL_ADMIN_TOKEN!.length).toBeGreaterThanOrEqual(32);
    expect(env.OPENCALL_METRICS_TOKEN!.length).toBeGreaterThanOrEqual(32);
    expect(env.OPENCALL_DEV_USERSIG).toBe('0');

    // Every shared secret is the same on both sides.
    expect('OPENCALL_JANUS_SECRET' in env).toBe(has('sfu'));
    if (has('sfu')) {
      expect(confValue(text('janus/janus.jcfg'), 'api_secret')).toBe(env.OPENCALL_JANUS_SECRET);
      const ws = text('janus/janus.transport.websockets.jcfg');
      expect(env.OPENCALL_JANUS_URL).toBe(`ws://${confValue(ws, 'ws_ip')}:${confValue(ws, 'ws_port')}`);
      expect(confValue(ws, 'admin_ws')).toBe('false');
      expect(confValue(ws, 'ws_acl')).toBe('127.0.0.1');
    }
    expect('OPENCALL_TURN_SECRET' in env).toBe(has('turn'));
    if (has('turn')) {
      const conf = text('coturn/turnserver.conf');
      expect(confValue(conf, 'static-auth-secret')).toBe(env.OPENCALL_TURN_SECRET);
      expect(confValue(conf, 'realm')).toBe('calls.example.com');
      for (const line of ['use-auth-secret', 'no-cli', 'fingerprint', 'no-multicast-peers', 'denied-peer-ip=127.0.0.0-127.255.255.255', 'denied-peer-ip=10.0.0.0-10.255.255.255',
        'denied-peer-ip=169.254.0.0-169.254.255.255', 'denied-peer-ip=192.168.0.0-192.168.255.255', 'denied-peer-ip=::1-::1', 'cert=/etc/opencall/turn-tls/cert.pem']) {
        expect(conf.split('\n'), line).toContain(line);
      }
      expect(conf).not.toMatch(/^\s*allow-loopback-peers|^\s*allowed-peer-ip/m);
      expect(env.OPENCALL_ICE_SERVERS).toContain('turn:calls.example.com:3478?transport=udp');
    }
    expect('OPENCALL_REDIS_URL' in env).toBe(has('redis'));
    if (has('redis')) {
      expect(new URL(env.OPENCALL_REDIS_URL!).password).toBe(confValue(text('redis/opencall.conf'), 'requirepass'));
      expect(text('redis/opencall.conf')).toMatch(/^bind 127\.0\.0\.1 -::1$/m);
    }
    expect('OPENCALL_DATABASE_URL' in env).toBe(has('postgres'));
    if (has('postgres')) {
      const password = new URL(env.OPENCALL_DATABASE_URL!).password;
      expect(text('postgres/setup.sql')).toContain(`PASSWORD '${password}'`);
      expect(text('compose.yaml')).toContain(`POSTGRES_PASSWORD: "${password}"`);
    }

    // install.sh installs what the flags need, and is valid shell.
    const install = text('install.sh');
    expect(install).toMatch(/npm install --prefix \/opt\/opencall --omit=dev .*"\$PKG" better-sqlite3/);
    expect(/"\$PKG" .*\bpg\b/.test(install)).toBe(has('postgres'));
    expect(/"\$PKG" .*\bioredis\b/.test(install)).toBe(has('redis'));
    expect(install.includes(' janus ')).toBe(has('sfu'));
    expect(spawnSync('bash', ['-n'], { input: install }).status).toBe(0);

    const secrets = [env.OPENCALL_SECRET, env.OPENCALL_ADMIN_TOKEN, env.OPENCALL_METRICS_TOKEN, env.OPENCALL_JANUS_SECRET, env.OPENCALL_TURN_SECRET,
      env.OPENCALL_REDIS_URL && new URL(env.OPENCALL_REDIS_URL).password, env.OPENCALL_DATABASE_URL && new URL(env.OPENCALL_DATABASE_URL).password].filter((s): s is string => !!s);
    for (const f of files.values()) {
      // No template left anything unfilled.
      expect(f.content, f.path).not.toMatch(/undefined|NaN|\[object |@[A-Z_]{3,}@|\$\{[a-z]|CHANGEME|change-me/);
      // A file holding any secret is private.
      if (secrets.some((s) => f.content.includes(s))) expect(f.mode, `${f.path} holds a secret`).toBe(0o600);
    }
  });

  it('makes fresh secrets every time', () => {
    const a = render(['--sfu', '--turn', '--redis', '--postgres']).env;
    const b = render(['--sfu', '--turn', '--redis', '--postgres']).env;
    for (const k of ['OPENCALL_SECRET', 'OPENCALL_SDKAPPID', 'OPENCALL_ADMIN_TOKEN', 'OPENCALL_METRICS_TOKEN', 'OPENCALL_JANUS_SECRET', 'OPENCALL_TURN_SECRET', 'OPENCALL_REDIS_URL', 'OPENCALL_DATABASE_URL']) {
      expect(a[k], k).not.toBe(b[k]);
    }
  });

  it('puts the address and port flags into every file that uses them', () => {
    const { files, env } = render(['--sfu', '--turn', '--public-ip', '203.0.113.7', '--port', '9000', '--turn-port', '3479', '--turns-port', '5350',
      '--turn-relay-ports', '50000-50100', '--janus-ip', '10.0.0.5', '--janus-port', '8200', '--rtp-ports', '20000-20100', '--sdkappid', '1400012345']);
    expect(env.OPENCALL_PORT).toBe('9000');
    expect(env.OPENCALL_SDKAPPID).toBe('1400012345');
    expect(env.OPENCALL_JANUS_URL).toBe('ws://10.0.0.5:8200');
    expect(files.get('Caddyfile')!.content).toContain('reverse_proxy 127.0.0.1:9000');
    const janus = files.get('janus/janus.jcfg')!.content;
    expect(confValue(janus, 'rtp_port_range')).toBe('20000-20100');
    expect(confValue(janus, 'nat_1_1_mapping')).toBe('203.0.113.7');
    expect(confValue(files.get('janus/janus.transport.websockets.jcfg')!.content, 'ws_acl')).toBe('10.0.0.5');
    const turn = files.get('coturn/turnserver.conf')!.content;
    expect([confValue(turn, 'listening-port'), confValue(turn, 'tls-listening-port'), confValue(turn, 'min-port'), confValue(turn, 'max-port'), confValue(turn, 'external-ip')])
      .toEqual(['3479', '5350', '50000', '50100', '203.0.113.7']);
    expect(env.OPENCALL_ICE_SERVERS).toContain('turns:calls.example.com:5350?transport=tcp');
    const install = files.get('install.sh')!.content;
    for (const p of ['3479/udp', '5350/tcp', '50000:50100/udp', '20000:20100/udp']) expect(install).toContain(p);
  });
});

describe('opencall-server init: the command', () => {
  let dir = '';
  beforeAll(async () => {
    ensureServerBuilt();
    dir = await mkdtemp(join(tmpdir(), 'opencall-init-'));
  });
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('--help prints every flag; bad flags exit 2 naming the flag', () => {
    const help = runInitBinary(['--help']);
    expect(help.status).toBe(0);
    for (const f of ['--domain', '--sfu', '--turn', '--redis', '--postgres', '--out', '--public-ip', '--port', '--turn-port', '--janus-port', '--rtp-ports']) expect(help.stdout).toContain(f);
    for (const [args, message] of [
      [[], /--domain is required/],
      [['--domain', 'calls.example.com', '--bogus'], /unknown flag --bogus/],
      [['--domain', 'not a name'], /--domain "not a name" is not a host name/],
      [['--domain', 'calls.example.com', '--port', '70000'], /--port "70000" is not a port/],
      [['--domain', 'calls.example.com', '--sfu', '--rtp-ports', '30000-20000'], /--rtp-ports "30000-20000" is not a port range/],
      [['--domain', 'calls.example.com', '--janus-port', '8188'], /--janus-port only applies with --sfu/],
      [['--domain', 'calls.example.com', '--public-ip', '::1'], /--public-ip "::1" is not an IPv4 address/],
      [['--domain'], /--domain needs a value/],
    ] as const) {
      const r = runInitBinary([...args]);
      expect(r.status, args.join(' ')).toBe(2);
      expect(r.stderr).toMatch(message);
    }
  });

  it('writes the folder with secret files at mode 0600, and refuses to overwrite it without --force', () => {
    const out = join(dir, 'kit');
    const r = runInitBinary(['--domain', 'calls.example.com', '--sfu', '--turn', '--redis', '--postgres', '--out', out]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain(`sudo ${out}/install.sh`);
    const mode = (p: string) => statSync(join(out, p)).mode & 0o777;
    for (const p of ['opencall.env', 'janus/janus.jcfg', 'coturn/turnserver.conf', 'redis/opencall.conf', 'postgres/setup.sql', 'compose.yaml']) expect(mode(p), p).toBe(0o600);
    for (const p of ['install.sh', 'coturn/turn-cert-sync.sh']) expect(mode(p), p).toBe(0o755);
    expect(mode('Caddyfile')).toBe(0o644);
    const secret = parseEnvFile(readFileSync(join(out, 'opencall.env'), 'utf8')).OPENCALL_SECRET;

    const again = runInitBinary(['--domain', 'calls.example.com', '--out', out]);
    expect(again.status).toBe(1);
    expect(again.stderr).toMatch(/is not empty; .*--force/);
    expect(parseEnvFile(readFileSync(join(out, 'opencall.env'), 'utf8')).OPENCALL_SECRET).toBe(secret);
    expect(runInitBinary(['--domain', 'calls.example.com', '--out', out, '--force']).status).toBe(0);
    expect(parseEnvFile(readFileSync(join(out, 'opencall.env'), 'utf8')).OPENCALL_SECRET).not.toBe(secret);
  });

  it.skipIf(!existsSync('/usr/bin/caddy'))('caddy accepts the Caddyfile: TLS for the domain, operator routes answered 404 before any proxying', () => {
    const out = join(dir, 'caddy');
    expect(runInitBinary(['--domain', 'calls.example.com', '--out', out]).status).toBe(0);
    execFileSync('caddy', ['validate', '--config', join(out, 'Caddyfile'), '--adapter', 'caddyfile'], { stdio: 'pipe' });
    const json = JSON.parse(execFileSync('caddy', ['adapt', '--config', join(out, 'Caddyfile'), '--adapter', 'caddyfile'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }));
    const server = Object.values(json.apps.http.servers as Record<string, any>)[0];
    expect(server.listen).toEqual([':443']);
    const site = server.routes[0];
    expect(site.match).toEqual([{ host: ['calls.example.com'] }]);
    // Inside the site: the handle blocks in order; the first whose matcher fits wins.
    const routes: any[] = site.handle[0].routes.filter((r: any) => r.group);
    const summary = (r: any) => ({ match: r.match?.[0]?.path ?? null, handler: r.handle[0].routes[0].handle[0].handler, status: r.handle[0].routes[0].handle[0].status_code });
    const order = routes.map(summary);
    expect(order).toEqual([
      { match: ['/metrics', '/metrics/*', '/v1/admin', '/v1/admin/*', '/healthz', '/readyz'], handler: 'static_response', status: 404 },
      { match: ['/ws'], handler: 'reverse_proxy', status: undefined },
      { match: null, handler: 'reverse_proxy', status: undefined },
    ]);
  });

  it.skipIf(!existsSync('/usr/bin/systemd-analyze'))('systemd-analyze verify accepts the units and drop-ins', () => {
    // A stub root: the system's unit files, the generated ones in /etc, and the programs they run
    // (verify checks that ExecStart= is executable).
    const kit = join(dir, 'units');
    expect(runInitBinary(['--domain', 'calls.example.com', '--sfu', '--turn', '--out', kit]).status).toBe(0);
    const root = join(dir, 'root');
    mkdirSync(join(root, 'usr/lib/systemd'), { recursive: true });
    cpSync('/usr/lib/systemd/system', join(root, 'usr/lib/systemd/system'), { recursive: true });
    cpSync(join(kit, 'systemd'), join(root, 'etc/systemd/system'), { recursive: true });
    for (const name of ['janus', 'coturn']) {
      if (!existsSync(join(root, `usr/lib/systemd/system/${name}.service`))) throw new Error(`${name}.service missing: install Debian's ${name} package`);
    }
    for (const exe of ['opt/opencall/node_modules/.bin/opencall-server', 'etc/opencall/turn-cert-sync.sh', 'usr/bin/janus', 'usr/bin/turnserver']) {
      mkdirSync(join(root, exe, '..'), { recursive: true });
      writeFileSync(join(root, exe), '#!/bin/sh\n', { mode: 0o755 });
    }
    copyFileSync(join(kit, 'coturn/turn-cert-sync.sh'), join(root, 'etc/opencall/turn-cert-sync.sh'));
    const r = spawnSync('systemd-analyze', ['verify', '--man=no', `--root=${root}`, 'opencall.service', 'opencall-turn-cert.service', 'opencall-turn-cert.timer', 'janus.service', 'coturn.service'], { encoding: 'utf8', timeout: 60_000 });
    // Warnings (unknown keys, bad values) go to stderr with status 0: both must be clean.
    expect(r.stderr + r.stdout).toBe('');
    expect(r.status).toBe(0);
  });
});
