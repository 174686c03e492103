#!/usr/bin/env node
/**
 * Bundles the compiled CLI (dist/, from tsc) into dist/bundle/ with esbuild, for start-up time.
 *
 * Node's ESM loader resolves, reads and links every module file on its own (~0.5 ms each); the
 * `decode` path alone is ~60 files, so a short run spent more time loading than decoding, and a
 * `decode --summary` worker thread started tens of ms late. Bundled with code splitting, each
 * subcommand still loads only its own code (the lazy imports of src/cli/main.ts become chunks),
 * in a few files instead of dozens: measured about −10 ms per run and −20 ms per worker start on the
 * 2-core bench machine.
 *
 * Entry points: the CLI (main.js) and the parallel summary's worker (worker.js, which
 * src/decode/parallel/index.ts finds next to itself: both land in dist/bundle/). Children run
 * as separate processes (lab director child, VM guest) stay unbundled in dist/ and are found
 * through src/package-root.ts. bin/lvsaudit.js loads the bundle only when it is at least as new
 * as dist/cli/main.js, so a plain `tsc` never runs stale bundled code.
 *
 *   node scripts/bundle.mjs        (npm run build runs it after tsc)
 */
import { build } from 'esbuild';
import { rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const outdir = path.join(root, 'dist', 'bundle');
rmSync(outdir, { recursive: true, force: true });
await build({
  entryPoints: [path.join(root, 'dist', 'cli', 'main.js'), path.join(root, 'dist', 'decode', 'parallel', 'worker.js')],
  entryNames: '[name]',
  outdir,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  // The optional native binding is loaded by name at run time (src/live/*); never bundled.
  external: ['cap'],
  // commander is CommonJS: its require() calls of node built-ins need a real require.
  banner: { js: "import { createRequire as __lvsauditRequire } from 'node:module'; const require = __lvsauditRequire(import.meta.url);" },
  logLevel: 'warning',
});
