#!/usr/bin/env node
/**
 * Browser bundles of @opencall/client, from src/index.ts (the browser entry):
 *
 *   dist/browser/opencall.esm.js   ES module: `import TRTCCalling from './opencall.esm.js'`
 *   dist/browser/opencall.iife.js  <script> tag: a global `TRTCCalling`, the class itself, so
 *                                  `new TRTCCalling({...})` and `TRTCCalling.EVENT` work as with
 *                                  trtc-calling.js
 *
 * Both are minified with eventemitter3 bundled in, and take the protocol from its zod-free
 * part (@opencall/protocol/lite, read from source). The build fails if anything Node-only
 * (node.ts, ws, zod, wrtc, node: built-ins) gets pulled in.
 *
 * Usage: node packages/client/build.mjs      (also exports build() for scripts and tests);
 * `npm run build` (here or at the root) and `npm pack` run it.
 */
import { build as esbuild } from 'esbuild';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = (p) => fileURLToPath(new URL(p, import.meta.url));

export const OUT_DIR = here('./dist/browser');
export const ESM_FILE = `${OUT_DIR}/opencall.esm.js`;
export const IIFE_FILE = `${OUT_DIR}/opencall.iife.js`;

/** Browsers with unified-plan WebRTC and replaceTrack; newer syntax is lowered for them. */
const TARGET = ['chrome74', 'edge79', 'firefox78', 'safari14.1'];

const LITE = here('../protocol/src/lite.ts');

/** '@opencall/protocol/lite' from source, and a hard stop for anything that is not for browsers. */
const browserOnly = {
  name: 'opencall-browser-only',
  setup(b) {
    b.onResolve({ filter: /^@opencall\/protocol\/lite$/ }, () => ({ path: LITE }));
    b.onResolve({ filter: /^(ws|zod|@roamhq\/wrtc|@opencall\/protocol)$|^node:|(^|\/)node(\.js|\.ts)?$|\/node\// }, (args) => ({
      errors: [{ text: `"${args.path}" (imported by ${args.importer}) is not for the browser bundle: the browser entry must use only @opencall/protocol/lite and DOM APIs` }],
    }));
  },
};

const common = {
  entryPoints: [here('./src/index.ts')],
  bundle: true,
  minify: true,
  sourcemap: 'external',
  target: TARGET,
  platform: 'browser',
  legalComments: 'none',
  logLevel: 'warning',
  plugins: [browserOnly],
  banner: { js: '/*! OpenCall client (TRTCCalling-compatible) | MIT */' },
  // Written by writeAtomically(): tests and `npm pack` may build while another process reads the bundles.
  write: false,
};

/** Each output to a temp file renamed over the old one, so a reader never sees half a bundle. */
async function writeAtomically(result) {
  await Promise.all(
    result.outputFiles.map(async (f) => {
      const tmp = `${f.path}.${process.pid}.tmp`;
      await writeFile(tmp, f.contents);
      await rename(tmp, f.path);
    }),
  );
}

/** Builds both bundles; resolves to their paths. */
export async function build() {
  await mkdir(OUT_DIR, { recursive: true });
  await Promise.all([
    esbuild({ ...common, format: 'esm', outfile: ESM_FILE }).then(writeAtomically),
    esbuild({
      ...common,
      format: 'iife',
      globalName: 'TRTCCalling',
      // The global is the class itself, not the module namespace.
      footer: { js: 'TRTCCalling=TRTCCalling.default;' },
      outfile: IIFE_FILE,
    }).then(writeAtomically),
  ]);
  return { esm: ESM_FILE, iife: IIFE_FILE };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const started = Date.now();
  build().then(
    (out) => console.log(`built ${out.esm} and ${out.iife} in ${Date.now() - started} ms`),
    (err) => {
      // esbuild has printed its errors already
      if (!Array.isArray(err?.errors)) console.error(err);
      process.exit(1);
    },
  );
}
