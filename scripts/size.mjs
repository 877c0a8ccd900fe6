#!/usr/bin/env node
/**
 * Size report of the browser bundles: minified bytes and minified+gzip bytes (node:zlib,
 * level 9), and the ratio to Tencent's client stack (trtc-calling-js + tsignaling +
 * trtc-js-sdk + tim-js-sdk = 336,810 B min+gzip, see shared/spec/compat-facts.md).
 *
 *   node scripts/size.mjs             rebuilds the bundles first
 *   node scripts/size.mjs --no-build  measures what is in packages/client/dist/browser
 *   node scripts/size.mjs --json      machine-readable output
 */
import { existsSync, readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { gzipSync, constants } from 'node:zlib';
import { build, ESM_FILE, IIFE_FILE } from '../packages/client/build.mjs';

export const TENCENT_MIN_GZIP = 336_810;

/** Minified and gzip (level 9) sizes of a file. */
export function measure(file) {
  const bytes = readFileSync(file);
  const gzip = gzipSync(bytes, { level: constants.Z_BEST_COMPRESSION }).length;
  return { file: basename(file), min: bytes.length, gzip, ratio: gzip / TENCENT_MIN_GZIP };
}

const args = new Set(process.argv.slice(2));
if (!args.has('--no-build') || !existsSync(ESM_FILE) || !existsSync(IIFE_FILE)) await build();
const rows = [measure(IIFE_FILE), measure(ESM_FILE)];

if (args.has('--json')) {
  console.log(JSON.stringify({ tencentMinGzip: TENCENT_MIN_GZIP, bundles: rows }, null, 2));
} else {
  const n = (x) => x.toLocaleString('en-US');
  console.log(`${'bundle'.padEnd(18)} ${'min'.padStart(9)} ${'min+gzip'.padStart(9)}  vs Tencent (${n(TENCENT_MIN_GZIP)} B min+gzip)`);
  for (const r of rows) {
    console.log(`${r.file.padEnd(18)} ${n(r.min).padStart(9)} ${n(r.gzip).padStart(9)}  ${(r.ratio * 100).toFixed(1)}% (${(1 / r.ratio).toFixed(1)}x smaller)`);
  }
}
