/**
 * Package lint (issue 12, item 2) on the tarballs `npm publish` would upload:
 *
 * - publint: package.json fields, exports, files, formats — every message counts, suggestions too;
 * - are-the-types-wrong (attw): each export resolves to types that match its JavaScript, for
 *   Node 16+ ESM and bundlers. `--profile esm-only` because the packages are ESM only (Node ≥
 *   20.19 loads them with require() too); the IIFE bundle is a <script> file, not a module, so
 *   it has no types and is left out.
 *
 * Plus the point of the client's export conditions: Node resolves `@opencall/client` to the
 * Node entry's types, bundlers to the browser entry's.
 */
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { publint } from 'publint';
import { formatMessage } from 'publint/utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT, packWorkspaces, type PackedPackages } from '../support/packed-packages.js';

const run = promisify(execFile);
const ATTW = join(REPO_ROOT, 'node_modules/@arethetypeswrong/cli/dist/index.js');
/** Resolutions `--profile esm-only` does not judge (CommonJS and pre-exports Node 10). */
const IGNORED_RESOLUTIONS = new Set(['node10', 'node16-cjs']);

interface AttwProblem {
  kind: string;
  entrypoint?: string;
  resolutionKind?: string;
}
interface AttwJson {
  analysis: { entrypoints: Record<string, { resolutions: Record<string, { resolution?: { fileName: string } }> }>; problems: AttwProblem[] };
}

let packed: PackedPackages;
beforeAll(async () => {
  packed = await packWorkspaces();
}, 120_000);
afterAll(() => packed?.cleanup());

/** attw on a tarball: its exit code and JSON report. */
async function attw(tarball: string): Promise<{ code: number; report: AttwJson }> {
  const args = [ATTW, tarball, '--profile', 'esm-only', '--format', 'json', '--exclude-entrypoints', 'browser/iife'];
  const r = await run(process.execPath, args, { maxBuffer: 64 * 1024 * 1024 }).then(
    (ok) => ({ code: 0, stdout: ok.stdout }),
    (err: { code?: number; stdout?: string }) => ({ code: err.code ?? 1, stdout: err.stdout ?? '' }),
  );
  return { code: r.code, report: JSON.parse(r.stdout) as AttwJson };
}

describe.each(['protocol', 'client', 'server'] as const)('@opencall/%s tarball', (name) => {
  it('publint reports nothing', async () => {
    const tarball = (await readFile(packed[name])).buffer as ArrayBuffer;
    const { messages, pkg } = await publint({ pack: { tarball }, level: 'suggestion', strict: true });
    expect(messages.map((m) => `${m.type}: ${formatMessage(m, pkg) ?? m.code}`)).toEqual([]);
  });

  it('are-the-types-wrong reports nothing for ESM and bundlers', async () => {
    const { code, report } = await attw(packed[name]);
    const problems = report.analysis.problems.filter((p) => !p.resolutionKind || !IGNORED_RESOLUTIONS.has(p.resolutionKind));
    expect(problems).toEqual([]);
    expect(code, 'attw exit code').toBe(0);
  });
});

describe('@opencall/client types per environment', () => {
  it('Node gets the Node entry and its types; bundlers the browser entry; the subpaths their own', async () => {
    const { report } = await attw(packed.client);
    const typesOf = (entry: string, resolution: string) => report.analysis.entrypoints[entry]?.resolutions[resolution]?.resolution?.fileName;
    const at = (f: string) => `/node_modules/@opencall/client/${f}`;
    expect(typesOf('.', 'node16-esm')).toBe(at('dist/node.d.ts'));
    expect(typesOf('.', 'bundler')).toBe(at('dist/index.d.ts'));
    expect(typesOf('./node', 'node16-esm')).toBe(at('dist/node.d.ts'));
    expect(typesOf('./node', 'bundler')).toBe(at('dist/node.d.ts'));
    expect(typesOf('./browser/esm', 'bundler')).toBe(at('dist/index.d.ts'));
  });
});
