#!/usr/bin/env node
'use strict';
// Thin launcher (CommonJS: bin/package.json; the ESM loader alone costs a short run ~10 ms).
// The CLI lives in dist/ (compiled from src/ by `npm install` / `npm run build`). This loads the
// esbuild bundle of it (dist/bundle/main.js, scripts/bundle.mjs) with its V8 code cache when the
// bundle is at least as new as the tsc output, else the tsc output itself (a `tsc` run without
// the bundle step, or esbuild unavailable) — never stale code.
const fs = require('node:fs');
const path = require('node:path');

const dist = path.join(__dirname, '..', 'dist');
const bundleFile = path.join(dist, 'bundle', 'main.js');
const tscFile = path.join(dist, 'cli', 'main.js');
const cacheFile = `${bundleFile}.code-cache`;

function mtime(file) {
  try {
    return fs.statSync(file).mtimeMs;
  } catch {
    return -1;
  }
}

/**
 * Compiles and runs the CommonJS bundle as `require` would, but through `vm.Script` so that V8
 * can use the bytecode cached by the build (`cachedData`; V8 checks that it matches this source,
 * V8 version and flags, and compiles as usual when not). Returns its exports and the script
 * (for LVSAUDIT_WRITE_CODE_CACHE, the build's hook that records the cache).
 * LVSAUDIT_CODE_CACHE_DEBUG=1 says on stderr whether the cache was used.
 */
function loadBundle() {
  const vm = require('node:vm');
  const { createRequire } = require('node:module');
  // Release builds of V8 skip the cache's payload checksum, and a damaged payload is a fatal
  // error, not a refusal: turned on, a damaged cache is refused like a stale one. It is on only
  // while the cache is read or written (checksumCheck): left on, it also checks the start-up
  // snapshot of every worker thread, which made a `decode --summary` worker start ~25 ms later.
  // The flag is part of the cache's flag hash, so both sides set it the same way.
  const checksumCheck = (on) => require('node:v8').setFlagsFromString(on ? '--verify-snapshot-checksum' : '--no-verify-snapshot-checksum');
  checksumCheck(true);
  const source = fs.readFileSync(bundleFile, 'utf8');
  let cachedData;
  try {
    cachedData = fs.readFileSync(cacheFile);
  } catch {
    cachedData = undefined;
  }
  const script = new vm.Script(`(function (exports, require, module, __filename, __dirname) {${source}\n})`, {
    filename: bundleFile,
    // No `import()` may reach the bundle's code at run time: a vm.Script has no module loader
    // (esbuild turns the CLI's own lazy imports into function calls; `cap` is required).
    cachedData,
  });
  checksumCheck(false);
  if (process.env.LVSAUDIT_CODE_CACHE_DEBUG === '1') {
    const state = cachedData === undefined ? 'none' : script.cachedDataRejected ? 'rejected' : 'accepted';
    process.stderr.write(`lvsaudit: code cache ${state} (${cacheFile})\n`);
  }
  const module = { exports: {} };
  script.runInThisContext()(module.exports, createRequire(bundleFile), module, bundleFile, path.dirname(bundleFile));
  return { main: module.exports.main, script, checksumCheck };
}

async function start() {
  const bundleTime = mtime(bundleFile);
  const bundled = bundleTime >= 0 && bundleTime >= mtime(tscFile);
  const loaded = bundled ? loadBundle() : { main: (await import(require('node:url').pathToFileURL(tscFile).href)).main, script: null };

  // `lvsaudit decode big.pcap | head` closes the pipe early: that ends the run quietly, as in tcpdump.
  process.stdout.on('error', (err) => {
    if (err.code === 'EPIPE') process.exit(0);
    throw err;
  });

  process.exitCode = await loaded.main(process.argv.slice(2));
  if (process.env.LVSAUDIT_WRITE_CODE_CACHE === '1' && loaded.script) {
    // Whole or not at all: a reader never sees a half-written cache.
    const tmp = `${cacheFile}.${process.pid}.tmp`;
    loaded.checksumCheck(true);
    fs.writeFileSync(tmp, loaded.script.createCachedData());
    fs.renameSync(tmp, cacheFile);
  }
}

start().catch((err) => {
  // main() reports every expected failure itself; this is a broken install or an internal error.
  const debug = process.argv.includes('--debug') && err && err.stack;
  process.stderr.write(`lvsaudit: ${debug ? err.stack : `cannot start: ${err && err.message ? err.message : String(err)}`}\n`);
  process.exitCode = 2;
});
