#!/usr/bin/env node
/**
 * Bundles the compiled CLI (dist/, from tsc) into dist/bundle/ with esbuild, and records a V8
 * code cache for it: both for start-up time.
 *
 * A short `lvsaudit` run is dominated by start-up. Measured on the 2-core bench machine, node
 * itself takes ~58 ms; on top of that, loading the tsc output module by module through Node's
 * ESM loader took ~45 ms (resolve, read, link and a facade per built-in for ~60 files), an ESM
 * bundle split per subcommand ~30 ms. What is left after bundling is compiling the code, so:
 *
 *  - the bundle is one CommonJS file (dist/bundle/main.js; dist/bundle/package.json marks the
 *    folder "commonjs"), which bin/lvsaudit.js compiles itself through `vm.Script` with
 *    `cachedData`: V8 then deserialises the bytecode of every function the recorded runs
 *    compiled instead of parsing and compiling it again. Node 22 has this built in
 *    (module.enableCompileCache); Node 20, the supported minimum, does not.
 *  - the cache (main.js.code-cache) is written here, after the bundle, by running the launcher on
 *    bundled fixtures with LVSAUDIT_WRITE_CODE_CACHE=1 (decode, --summary, --json, verify, arp),
 *    each run starting from the previous run's cache so that it holds the functions of all of
 *    them. It starts with the bundle's build id (the SHA-1 of the bundle as built, in its first
 *    line); the launcher uses it only for that build and only when the cache file is not older
 *    than the bundle (V8 itself compares just the source's length). V8 refuses a cache made by
 *    another V8 version or with other flags; either way the CLI then simply compiles as usual.
 *    It is never written at run time (the install may be read-only).
 *  - commander loads node:child_process eagerly (~4 ms with net and stream) for executable
 *    subcommands, which lvsaudit does not have; the build makes that require lazy.
 *
 * Entry points: the CLI (main.js), the parallel summary's worker (worker.js, which
 * src/decode/parallel/index.ts finds next to the running code: both land in dist/bundle/) and
 * the split verify's helper (verify-worker.js) and verify's feeder thread (feeder-worker.js), both
 * found the same way by src/verify/parallel/plan.ts.
 * `import.meta.url` becomes the bundle file's own URL. Children run as separate processes (lab
 * director child, VM guest) stay unbundled in dist/ and are found through src/package-root.ts.
 * bin/lvsaudit.js loads the bundle only when it is at least as new as dist/cli/main.js, so a plain
 * `tsc` never runs stale bundled code.
 *
 *   node scripts/bundle.mjs        (npm run build runs it after tsc)
 */
import { build } from 'esbuild';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const outdir = path.join(root, 'dist', 'bundle');
const BUILD_ID_PLACEHOLDER = '0'.repeat(40);

/** commander's eager `require('node:child_process')`, made lazy (see above). When a commander
 *  upgrade changes that line, the bundle keeps the eager require and the build says so. */
const lazyChildProcess = {
  name: 'lazy-child-process',
  setup(b) {
    b.onLoad({ filter: /[\\/]commander[\\/]lib[\\/]command\.js$/ }, (args) => {
      const eager = "const childProcess = require('node:child_process');";
      const text = readFileSync(args.path, 'utf8');
      if (!text.includes(eager)) {
        return { contents: text, loader: 'js', warnings: [{ text: 'commander no longer has the eager child_process require this build makes lazy' }] };
      }
      const lazy = "const childProcess = { spawn: (...a) => require('node:child_process').spawn(...a) };";
      return { contents: text.replace(eager, lazy), loader: 'js' };
    });
  },
};

rmSync(outdir, { recursive: true, force: true });
await build({
  entryPoints: [
    path.join(root, 'dist', 'cli', 'main.js'),
    path.join(root, 'dist', 'decode', 'parallel', 'worker.js'),
    path.join(root, 'dist', 'verify', 'parallel', 'verify-worker.js'),
    path.join(root, 'dist', 'verify', 'parallel', 'feeder-worker.js'),
  ],
  entryNames: '[name]',
  outdir,
  bundle: true,
  format: 'cjs',
  platform: 'node',
  target: 'node20',
  // The optional native binding is loaded by name at run time (src/live/*); never bundled.
  // echarts is loaded only for --format html (report/html/charts.ts): bundled, it would be compiled at every start.
  external: ['cap', 'echarts'],
  define: { 'import.meta.url': '__lvsauditModuleUrl' },
  // "use strict" first: the sources are ES modules, always strict, and esbuild's own directive
  // would come after this banner and so not be one.
  // The build id placeholder is replaced below by the SHA-1 of the output (same length: the
  // source map stays right); the launcher matches it against the cache's head.
  banner: { js: `'use strict';/*lvsaudit-build ${BUILD_ID_PLACEHOLDER}*/\nconst __lvsauditModuleUrl = require('node:url').pathToFileURL(__filename).href;` },
  plugins: [lazyChildProcess],
  // Minified: ~4 ms less to read and scan per run. `--debug` runs load the bundle with Node's
  // source maps on (bin/lvsaudit.js), so their stack traces name the TypeScript lines (esbuild
  // chains the tsc maps); the maps carry no source text.
  minifyWhitespace: true,
  minifySyntax: true,
  sourcemap: 'linked',
  sourcesContent: false,
  logLevel: 'warning',
});
writeFileSync(path.join(outdir, 'package.json'), `${JSON.stringify({ type: 'commonjs' })}\n`);
for (const f of ['main.js', 'worker.js', 'verify-worker.js', 'feeder-worker.js']) {
  const file = path.join(outdir, f);
  const text = readFileSync(file, 'utf8');
  writeFileSync(file, text.replace(BUILD_ID_PLACEHOLDER, createHash('sha1').update(text).digest('hex')));
}

// The code cache: runs that together touch what users run most (see above).
const fixture = (...p) => path.join(root, 'fixtures', ...p);
const drOk = (f) => fixture('verify', 'dr-ok', f);
const runs = [
  ['decode', '--summary', fixture('arp', 'clean.pcap')],
  ['decode', drOk('client.pcap')],
  ['decode', '--json', drOk('client.pcap')],
  ['verify', '--config', drOk('service.conf'), '--client', drOk('client.pcap'), '--director', drOk('director.pcap'),
    '--rs-capture', drOk('rs1.pcap'), '--rs-capture', drOk('rs2.pcap')],
  ['arp', fixture('arp', 'vip-answered-by-rs.pcap')],
];
// NODE_OPTIONS flags would enter V8's flag hash of the cache, which users' runs would then refuse.
const lvsaudit = (args, env) => spawnSync(process.execPath, [path.join(root, 'bin', 'lvsaudit.js'), ...args], {
  env: { ...process.env, NODE_OPTIONS: '', ...env },
  encoding: 'utf8',
});
for (const args of runs) {
  const r = lvsaudit(args, { LVSAUDIT_WRITE_CODE_CACHE: '1' });
  // Exit 1 is a finding (the ARP fixture has one); anything else means the bundle is broken.
  if (r.status !== 0 && r.status !== 1) {
    process.stderr.write(`bundle: lvsaudit ${args.join(' ')} exited ${r.status}:\n${r.stderr}`);
    process.exit(1);
  }
}
const check = lvsaudit(['--version'], { LVSAUDIT_CODE_CACHE_DEBUG: '1' });
if (!check.stderr.includes('code cache accepted')) {
  // Still a working CLI, only a slower start: say so, do not fail the install.
  process.stderr.write(`bundle: warning: the recorded code cache is not used: ${check.stderr.trim()}\n`);
}
