/**
 * tests/support/netns.ts: the private network namespace the SFU tests run Janus in.
 * Needs root + iproute2 (skipped otherwise).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { createNetns, netnsSupported } from '../../../tests/support/netns.js';

const ip = (...args: string[]) => execFileSync('ip', args, { encoding: 'utf8' });
const exists = (name: string) => ip('netns', 'list').split('\n').some((l) => l.split(' ')[0] === name);
const linkExists = (dev: string) => {
  try {
    execFileSync('ip', ['link', 'show', 'dev', dev], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
};

describe.skipIf(!netnsSupported())('test network namespaces', () => {
  it('creates isolated namespaces concurrently and removes them without a trace', async () => {
    const [a, b] = await Promise.all([createNetns(), createNetns()]);
    try {
      expect(a.name).not.toBe(b.name);
      expect(a.subnet).not.toBe(b.subnet);
      expect(a.hostIf).not.toBe(b.hostIf);
      for (const ns of [a, b]) {
        expect(ns.name).toMatch(new RegExp(`^oc-janus-[0-9a-f]{4}-${process.pid}$`));
        expect(exists(ns.name)).toBe(true);
        expect(ip('-4', '-o', 'addr', 'show', 'dev', ns.hostIf)).toContain(`${ns.hostIp}/30`);
        expect(ip('-n', ns.name, '-4', '-o', 'addr', 'show', 'dev', ns.nsIf)).toContain(`${ns.nsIp}/30`);
        expect(ip('-n', ns.name, '-br', 'link', 'show', 'dev', 'lo')).toMatch(/UNKNOWN|UP/);
        // Only the /30 is routable from inside: nothing else on the machine can be reached.
        expect(ip('-n', ns.name, 'route')).not.toMatch(/default/);
        expect(() => execFileSync('ip', ['-n', ns.name, 'route', 'get', '192.0.2.2'], { stdio: 'ignore' })).toThrow();
        expect(readFileSync(`/proc/sys/net/ipv4/conf/${ns.hostIf}/arp_ignore`, 'utf8').trim()).toBe('1');
        const [cmd, ...args] = ns.wrap(['cat', '/proc/sys/net/ipv4/conf/all/rp_filter']);
        expect(execFileSync(cmd!, args, { encoding: 'utf8' }).trim()).toBe('1');
        // The host reaches the namespace end over the veth.
        expect(ip('route', 'get', ns.nsIp)).toContain(`dev ${ns.hostIf}`);
      }
    } finally {
      await Promise.all([a.remove(), b.remove()]);
    }
    for (const ns of [a, b]) {
      expect(exists(ns.name)).toBe(false);
      expect(linkExists(ns.hostIf)).toBe(false);
      await ns.remove(); // idempotent
    }
  });

  it('sweeps namespaces left behind by a process that was SIGKILLed', async () => {
    // A pid that is certainly not running: above every pid in use and below pid_max.
    const pidMax = Number(readFileSync('/proc/sys/kernel/pid_max', 'utf8'));
    let dead = pidMax - 1;
    while (dead > 1 && existsPid(dead)) dead--;
    const stale = `oc-janus-fffe-${dead}`;
    ip('netns', 'add', stale);
    ip('link', 'add', 'ocjfffeh', 'type', 'veth', 'peer', 'name', 'ocjfffen');
    ip('link', 'set', 'ocjfffen', 'netns', stale);
    const ns = await createNetns();
    try {
      expect(exists(stale)).toBe(false);
      expect(linkExists('ocjfffeh')).toBe(false);
    } finally {
      await ns.remove();
      try {
        execFileSync('ip', ['netns', 'del', stale], { stdio: 'ignore' });
      } catch {
        // swept, as expected
      }
    }
  });
});

function existsPid(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
