/**
 * Where the installed package lives, found from the running module's own file: the directory
 * of the nearest package.json named "lvsaudit" above it. Modules reach package files (the
 * version, compiled lab children) through this, not through a fixed number of `..`, because the
 * same code runs from src/ (tests), dist/ (tsc output) and dist/bundle/ (the esbuild bundle the
 * CLI loads, scripts/bundle.mjs), each at a different depth.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface PackageInfo {
  root: string;
  version: string;
}

function find(from: string): PackageInfo {
  let dir = dirname(from);
  for (;;) {
    const file = join(dir, 'package.json');
    if (existsSync(file)) {
      const pkg = JSON.parse(readFileSync(file, 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'lvsaudit') return { root: dir, version: pkg.version ?? '0.0.0' };
    }
    const up = dirname(dir);
    if (up === dir) throw new Error(`no lvsaudit package.json above ${from}`);
    dir = up;
  }
}

/** The package's root directory and version (looked up once). */
export const PACKAGE: PackageInfo = find(fileURLToPath(import.meta.url));

/** A file of the compiled package (dist/…), for children run as their own node process. */
export function distFile(...parts: string[]): string {
  return join(PACKAGE.root, 'dist', ...parts);
}
