/**
 * Our TRTCCalling against the published trtc-calling-js (issue 13, item 1): every static key and
 * value, every public prototype method with its arity (`.length`), and the public instance
 * properties that any published version (0.5.0-1.0.6) exposes. The fixtures are extracted from
 * the npm tarballs by tests/fixtures/trtc-calling-js-surface/extract.mjs (no Tencent code is kept).
 * Checked: the browser entry (source), the IIFE bundle (its global), and the Node entry.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import vm from 'node:vm';
import { describe, expect, it } from 'vitest';
import { TRTCCalling as NodeTRTCCalling } from '@opencall/client/node';
import { TRTCCalling as BrowserTRTCCalling } from '../packages/client/src/index.js';
// @ts-expect-error -- a plain .mjs build script without typings
import { build, IIFE_FILE } from '../packages/client/build.mjs';

interface Surface {
  version: string;
  constructorLength: number;
  statics: Record<string, unknown>;
  methods: Record<string, number>;
  instanceProperties: Record<string, unknown>;
}

const DIR = join(import.meta.dirname, 'fixtures/trtc-calling-js-surface');
const published: Surface[] = readdirSync(DIR)
  .filter((f) => f.endsWith('.json'))
  .map((f) => JSON.parse(readFileSync(join(DIR, f), 'utf8')) as Surface);

/** Methods whose names start with `_` are private by convention in trtc-calling-js; not part of the surface. */
const isPrivate = (name: string) => name.startsWith('_');

async function iifeClass(): Promise<any> {
  await build();
  const context = vm.createContext({ console, setTimeout, clearTimeout, setInterval, clearInterval });
  vm.runInContext(readFileSync(IIFE_FILE, 'utf8'), context);
  return context.TRTCCalling;
}

/** Every mismatch between `ours` and the published surfaces, as readable lines (empty: none). */
function gaps(ours: any): string[] {
  const out: string[] = [];
  const arities = new Map<string, Set<number>>();
  for (const s of published) {
    if (ours.length !== s.constructorLength) out.push(`${s.version}: constructor takes ${s.constructorLength} argument(s), ours ${ours.length}`);
    for (const [key, value] of Object.entries(s.statics)) {
      if (value !== null && typeof value === 'object') {
        for (const [k, v] of Object.entries(value)) {
          if (ours[key]?.[k] !== v) out.push(`${s.version}: TRTCCalling.${key}[${JSON.stringify(k)}] is ${JSON.stringify(v)}, ours ${JSON.stringify(ours[key]?.[k])}`);
        }
      } else if (ours[key] !== value) out.push(`${s.version}: TRTCCalling.${key} is ${JSON.stringify(value)}, ours ${JSON.stringify(ours[key])}`);
    }
    for (const [name, length] of Object.entries(s.methods)) {
      if (!isPrivate(name)) (arities.get(name) ?? arities.set(name, new Set()).get(name)!).add(length);
    }
    const instance = new ours({ SDKAppID: 1400000000 });
    for (const key of Object.keys(s.instanceProperties)) if (!(key in instance)) out.push(`${s.version}: instance property ${key} missing`);
  }
  for (const [name, lengths] of arities) {
    const method = ours.prototype[name];
    if (typeof method !== 'function') out.push(`method ${name}() missing`);
    else if (!lengths.has(method.length)) out.push(`method ${name}() takes ${method.length} argument(s), published: ${[...lengths].join(' or ')}`);
  }
  return out;
}

describe('the published trtc-calling-js surface', () => {
  it('fixtures of every published version are present and agree on every value they share', () => {
    expect(published.map((s) => s.version).sort()).toEqual(['0.10.2', '0.5.0', '0.6.0', '1.0.3', '1.0.4', '1.0.5', '1.0.6']);
    const seen = new Map<string, unknown>();
    for (const s of published) {
      for (const [key, value] of Object.entries(s.statics)) {
        for (const [k, v] of Object.entries(value as object)) {
          const id = `${key}.${k}`;
          if (seen.has(id)) expect(v, id).toEqual(seen.get(id));
          seen.set(id, v);
        }
      }
    }
    // The static apps crashed on (issue 13): CALL_TYPE, in every version.
    expect(published.every((s) => (s.statics.CALL_TYPE as Record<string, unknown>).VIDEO_CALL === 2)).toBe(true);
  });

  it('the browser entry has all of it', () => {
    expect(gaps(BrowserTRTCCalling)).toEqual([]);
  });

  it('the browser bundle (IIFE global TRTCCalling) has all of it', async () => {
    expect(gaps(await iifeClass())).toEqual([]);
  });

  it('the Node entry has all of it', () => {
    expect(gaps(NodeTRTCCalling)).toEqual([]);
  });

  it("the getters read the SDK's state before any call (values as trtc-calling-js's idle ones)", () => {
    const sdk = new NodeTRTCCalling({ SDKAppID: 1400000000, tim: { mine: true } });
    expect(sdk.tim).toEqual({ mine: true });
    expect(new NodeTRTCCalling({ SDKAppID: 1400000000 }).tim).toBeNull();
    expect([sdk.getUserID(), sdk.getCallStatus(), sdk.getCallType(), sdk.getGroupID(), sdk.getInviteeList(), sdk.isInviter(), sdk.isGroupCall()]).toEqual(['', 'idle', 0, '', [], false, false]);
    expect([sdk.getRemoteStreamCount(), sdk.hasRemoteConnectedUsers(), sdk.getVideoQuality(), sdk.getInviterInviteID()]).toEqual([0, false, '480p', []]);
    expect(() => sdk.setLogLevel(0)).not.toThrow();
    expect(sdk.extractCallingInfoFromMessage({ type: 'TIMCustomElem' })).toBe('');
  });
});
