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

/** The bundle's build id (scripts/bundle.mjs), in its first line; the cache file starts with it. */
const BUILD_ID = /^'use strict';\/\*lvsaudit-build ([0-9a-f]{40})\*\//;

/**
 * Compiles and runs the CommonJS bundle as `require` would, but through `vm.Script` so that V8
 * can use the bytecode cached by the build (`cachedData`). V8 itself checks only the source's
 * length, its own version and its flags (a same-length edit of the bundle with an old cache ran
 * the old code), so the cache is offered only when it heads with this bundle's build id and is
 * not older than the bundle file (an edit after the build). Hashing the source here instead
 * would cost ~3 ms of a ~75 ms start (node:crypto alone is 2.6 ms). Returns the bundle's exports
 * and what LVSAUDIT_WRITE_CODE_CACHE, the build's hook that records the cache, needs.
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
  const source = fs.readFileSync(bundleFile, 'utf8');
  const idMatch = BUILD_ID.exec(source);
  const id = idMatch ? Buffer.from(idMatch[1], 'hex') : null;
  let state = 'none';
  let cachedData;
  try {
    const file = fs.readFileSync(cacheFile);
    const fresh = mtime(cacheFile) >= mtime(bundleFile);
    if (id !== null && fresh && file.length > id.length && file.subarray(0, id.length).equals(id)) cachedData = file.subarray(id.length);
    else state = 'stale';
  } catch {
    cachedData = undefined;
  }
  checksumCheck(true);
  const script = new vm.Script(`(function (exports, require, module, __filename, __dirname) {${source}\n})`, {
    filename: bundleFile,
    // No `import()` may reach the bundle's code at run time: a vm.Script has no module loader
    // (esbuild turns the CLI's own lazy imports into function calls; `cap` is required).
    cachedData,
  });
  checksumCheck(false);
  if (cachedData !== undefined) state = script.cachedDataRejected ? 'rejected' : 'accepted';
  if (process.env.LVSAUDIT_CODE_CACHE_DEBUG === '1') process.stderr.write(`lvsaudit: code cache ${state} (${cacheFile})\n`);
  const module = { exports: {} };
  script.runInThisContext()(module.exports, createRequire(bundleFile), module, bundleFile, path.dirname(bundleFile));
  const writeCache = () => {
    if (id === null) return;
    // Whole or not at all: a reader never sees a half-written cache.
    const tmp = `${cacheFile}.${process.pid}.tmp`;
    try {
      checksumCheck(true);
      fs.writeFileSync(tmp, Buffer.concat([id, script.createCachedData()]));
      fs.renameSync(tmp, cacheFile);
    } catch (err) {
      fs.rmSync(tmp, { force: true });
      process.stderr.write(`lvsaudit: code cache not written: ${err.message}\n`);
    }
  };
  return { main: module.exports.main, writeCache };
}

async function start() {
  const bundleTime = mtime(bundleFile);
  const bundled = bundleTime >= 0 && bundleTime >= mtime(tscFile);
  let loaded;
  if (!bundled) loaded = { main: (await import(require('node:url').pathToFileURL(tscFile).href)).main, writeCache: null };
  else if (process.argv.includes('--debug')) {
    // Stack traces through the bundle's source map (TypeScript lines); Node applies maps to
    // what its own loader compiles, not to a vm.Script. Start-up time does not matter here.
    process.setSourceMapsEnabled(true);
    loaded = { main: require(bundleFile).main, writeCache: null };
  } else loaded = loadBundle();

  // `lvsaudit decode big.pcap | head` closes the pipe early: that ends the run quietly, as in tcpdump.
  process.stdout.on('error', (err) => {
    if (err.code === 'EPIPE') process.exit(0);
    throw err;
  });

  process.exitCode = await loaded.main(process.argv.slice(2));
  if (process.env.LVSAUDIT_WRITE_CODE_CACHE === '1' && loaded.writeCache) loaded.writeCache();
}

start().catch((err) => {
  // main() reports every expected failure itself; this is a broken install or an internal error.
  const debug = process.argv.includes('--debug') && err && err.stack;
  process.stderr.write(`lvsaudit: ${debug ? err.stack : `cannot start: ${err && err.message ? err.message : String(err)}`}\n`);
  process.exitCode = 2;
});
