/**
 * `opencall-server init` flags: parsing and validation. Every value that ends up in a generated
 * file is checked here, so the templates can trust their input (no quoting surprises).
 */
import { isIP } from 'node:net';

/** What the generated deployment contains and where its parts listen. */
export interface DeployOptions {
  /** Public DNS name of the OpenCall server (TLS certificate, TURN realm). */
  domain: string;
  sfu: boolean;
  turn: boolean;
  redis: boolean;
  postgres: boolean;
  /** Folder the files are written to. */
  outDir: string;
  /** Overwrite files in a folder that already holds a deployment. */
  force: boolean;
  /** ACME account e-mail for Caddy (optional). */
  email: string | undefined;
  /** Public IPv4 behind 1:1 NAT (cloud VMs): coturn `external-ip`, Janus `nat_1_1_mapping`. */
  publicIp: string | undefined;
  /** Address and port OpenCall listens on (behind Caddy). */
  host: string;
  port: number;
  /** Host name clients use for STUN/TURN (default: the domain). */
  turnHost: string;
  turnPort: number;
  turnsPort: number;
  turnRelayPorts: [number, number];
  /** Janus WebSocket API: address, port, and the only client address allowed (ACL prefix). */
  janusIp: string;
  janusPort: number;
  janusAcl: string;
  rtpPorts: [number, number];
  redisPort: number;
  postgresPort: number;
  sdkAppId: number | undefined;
  /** npm spec install.sh installs (`@opencall/server@<version>`, or a tarball path). */
  packageSpec: string;
}

/** A bad flag: the message says which and why; the CLI exits 2. */
export class UsageError extends Error {}

export const INIT_USAGE = `Usage: opencall-server init --domain <name> [options]

Writes a complete, commented deployment of OpenCall into a folder: opencall.env with fresh
secrets, systemd units, a Caddyfile (automatic TLS), install.sh for a fresh Debian 12 machine,
compose.yaml + Containerfile, and with the flags below Janus, coturn, Redis and PostgreSQL configs.
Then: sudo ./opencall-deploy/install.sh

Parts:
  --domain <name>          public DNS name of the server (required); must point at the machine
  --sfu                    group calls through a Janus VideoRoom SFU on the same machine
  --turn                   a coturn TURN server with short-lived credentials from OpenCall
  --redis                  a password-protected Redis on loopback (several OpenCall nodes)
  --postgres               call records in PostgreSQL instead of SQLite
  --out <dir>              folder to write (default ./opencall-deploy)
  --force                  overwrite the files of an existing deployment in that folder
  --email <address>        ACME account e-mail Caddy registers with (optional)

Addresses and ports (defaults fit one machine):
  --public-ip <ipv4>       the public address when the machine is behind 1:1 NAT (cloud VMs):
                           coturn external-ip, Janus nat_1_1_mapping
  --host <ip>              address OpenCall listens on (default 127.0.0.1, Caddy in front)
  --port <n>               OpenCall's port (default 8080)
  --turn-host <name>       host name in the TURN URLs handed to clients (default: the domain)
  --turn-port <n>          TURN/STUN port, UDP and TCP (default 3478)
  --turns-port <n>         TURN over TLS port (default 5349)
  --turn-relay-ports <a-b> coturn's UDP relay range (default 49160-49999)
  --janus-ip <ip>          address of Janus's WebSocket API (default 127.0.0.1; keep it private)
  --janus-port <n>         its port (default 8188)
  --janus-acl <ip>         the only client address Janus accepts on it (default: 127.0.0.1, or
                           the --janus-ip when that is not loopback)
  --rtp-ports <a-b>        Janus's UDP media range (default 20000-20999)
  --redis-port <n>         Redis port (default 6379)
  --postgres-port <n>      PostgreSQL port (default 5432)
  --sdkappid <n>           keep your Tencent SDKAppID (default: a random one)
  --package <spec>         what install.sh installs with npm (default @opencall/server@<this version>)
  -h, --help               this text
`;

const BOOLEAN_FLAGS = ['sfu', 'turn', 'redis', 'postgres', 'force'] as const;
const VALUE_FLAGS = [
  'domain', 'out', 'email', 'public-ip', 'host', 'port', 'turn-host', 'turn-port', 'turns-port', 'turn-relay-ports',
  'janus-ip', 'janus-port', 'janus-acl', 'rtp-ports', 'redis-port', 'postgres-port', 'sdkappid', 'package',
] as const;

/** `--help` was asked for. */
export const HELP = Symbol('help');

/** Parses `init`'s arguments (after the word `init`). Throws {@link UsageError} on a bad flag. */
export function parseInitArgs(argv: readonly string[], version: string): DeployOptions | typeof HELP {
  const flags = new Set<string>();
  const values = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '-h' || arg === '--help') return HELP;
    const m = /^--([a-z0-9-]+)(?:=(.*))?$/s.exec(arg);
    if (!m) throw new UsageError(`unexpected argument "${arg}" (flags start with --)`);
    const name = m[1]!;
    if ((BOOLEAN_FLAGS as readonly string[]).includes(name)) {
      if (m[2] !== undefined) throw new UsageError(`--${name} takes no value`);
      flags.add(name);
    } else if ((VALUE_FLAGS as readonly string[]).includes(name)) {
      const value = m[2] ?? argv[++i];
      if (value === undefined || value === '' || (m[2] === undefined && value.startsWith('--'))) throw new UsageError(`--${name} needs a value`);
      if (values.has(name)) throw new UsageError(`--${name} given twice`);
      values.set(name, value);
    } else {
      throw new UsageError(`unknown flag --${name}`);
    }
  }
  const domain = values.get('domain');
  if (!domain) throw new UsageError('--domain is required (the DNS name clients reach the server at, e.g. --domain calls.example.com)');
  const janusIp = ip(values, 'janus-ip', '127.0.0.1');
  const opts: DeployOptions = {
    domain: hostName('--domain', domain),
    sfu: flags.has('sfu'),
    turn: flags.has('turn'),
    redis: flags.has('redis'),
    postgres: flags.has('postgres'),
    outDir: values.get('out') ?? 'opencall-deploy',
    force: flags.has('force'),
    email: email(values.get('email')),
    publicIp: values.has('public-ip') ? ip(values, 'public-ip', '', 4) : undefined,
    host: ip(values, 'host', '127.0.0.1'),
    port: port(values, 'port', 8080),
    turnHost: hostName('--turn-host', values.get('turn-host') ?? domain),
    turnPort: port(values, 'turn-port', 3478),
    turnsPort: port(values, 'turns-port', 5349),
    turnRelayPorts: range(values, 'turn-relay-ports', [49160, 49999]),
    janusIp,
    janusPort: port(values, 'janus-port', 8188),
    janusAcl: ip(values, 'janus-acl', janusIp.startsWith('127.') ? '127.0.0.1' : janusIp),
    rtpPorts: range(values, 'rtp-ports', [20000, 20999]),
    redisPort: port(values, 'redis-port', 6379),
    postgresPort: port(values, 'postgres-port', 5432),
    sdkAppId: values.has('sdkappid') ? sdkAppId(values.get('sdkappid')!) : undefined,
    packageSpec: packageSpec(values.get('package') ?? `@opencall/server@${version}`),
  };
  if (opts.turnPort === opts.turnsPort) throw new UsageError('--turn-port and --turns-port must differ');
  if (!opts.sfu) for (const f of ['janus-ip', 'janus-port', 'janus-acl', 'rtp-ports']) unused(values, f, '--sfu');
  if (!opts.turn) for (const f of ['turn-host', 'turn-port', 'turns-port', 'turn-relay-ports']) unused(values, f, '--turn');
  if (!opts.redis) unused(values, 'redis-port', '--redis');
  if (!opts.postgres) unused(values, 'postgres-port', '--postgres');
  return opts;
}

function unused(values: Map<string, string>, flag: string, needs: string): void {
  if (values.has(flag)) throw new UsageError(`--${flag} only applies with ${needs}`);
}

function hostName(flag: string, v: string): string {
  // A DNS name (at least one dot, or localhost), or an IP address: it goes into several config syntaxes unquoted.
  const ok = isIP(v) !== 0 || (v.length <= 253 && /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/i.test(v));
  if (!ok) throw new UsageError(`${flag} "${v}" is not a host name (letters, digits, dots and dashes, e.g. calls.example.com)`);
  return v.toLowerCase();
}

function ip(values: Map<string, string>, flag: string, dflt: string, family?: 4): string {
  const v = values.get(flag) ?? dflt;
  const kind = isIP(v);
  if (kind === 0 || (family && kind !== family)) throw new UsageError(`--${flag} "${v}" is not an IP${family ? 'v4' : ''} address`);
  return v;
}

function port(values: Map<string, string>, flag: string, dflt: number): number {
  const v = values.get(flag);
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!/^\d+$/.test(v) || n < 1 || n > 65535) throw new UsageError(`--${flag} "${v}" is not a port (1-65535)`);
  return n;
}

function range(values: Map<string, string>, flag: string, dflt: [number, number]): [number, number] {
  const v = values.get(flag);
  if (v === undefined) return dflt;
  const m = /^(\d+)-(\d+)$/.exec(v);
  const [a, b] = m ? [Number(m[1]), Number(m[2])] : [NaN, NaN];
  if (!m || a < 1024 || b > 65535 || a > b) throw new UsageError(`--${flag} "${v}" is not a port range like 20000-20999 (within 1024-65535)`);
  return [a, b];
}

function email(v: string | undefined): string | undefined {
  if (v !== undefined && !/^[^\s@"{}]+@[^\s@"{}]+\.[^\s@"{}]+$/.test(v)) throw new UsageError(`--email "${v}" is not an e-mail address`);
  return v;
}

function sdkAppId(v: string): number {
  const n = Number(v);
  if (!/^\d+$/.test(v) || n < 1 || n >= 2 ** 32) throw new UsageError(`--sdkappid "${v}" is not a positive 32-bit integer`);
  return n;
}

function packageSpec(v: string): string {
  // Goes into a shell script: allow what npm specs and file paths use, nothing that needs quoting.
  if (!/^[A-Za-z0-9@/._:~^=<>+-]+$/.test(v)) throw new UsageError(`--package "${v}" has characters npm specs do not use`);
  return v;
}
