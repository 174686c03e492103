#!/usr/bin/env node
// Thin launcher: the CLI lives in dist/ (compiled from src/ by `npm install` / `npm run build`).
// It loads the esbuild bundle of it (dist/bundle, scripts/bundle.mjs: a faster start) when that
// is at least as new as the tsc output, else the tsc output itself (a `tsc` run without the
// bundle step, or esbuild unavailable) — never stale code.
import { statSync } from 'node:fs';

function mtime(rel) {
  try {
    return statSync(new URL(rel, import.meta.url)).mtimeMs;
  } catch {
    return -1;
  }
}

const bundleTime = mtime('../dist/bundle/main.js');
const bundled = bundleTime >= 0 && bundleTime >= mtime('../dist/cli/main.js');
const { main } = await (bundled ? import('../dist/bundle/main.js') : import('../dist/cli/main.js'));

// `lvsaudit decode big.pcap | head` closes the pipe early: that ends the run quietly, as in tcpdump.
process.stdout.on('error', (err) => {
  if (err.code === 'EPIPE') process.exit(0);
  throw err;
});

process.exitCode = await main(process.argv.slice(2));
