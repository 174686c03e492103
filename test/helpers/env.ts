/**
 * Shared test environment helpers: where the repo and the read-only corpus live, which
 * external tools exist, and the CI rule that a test needing a tool must fail (not skip)
 * under CI=true while skipping with a printed reason elsewhere.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** Repository root (/work/main in development). */
export const repoRoot: string = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Read-only shared material (spec + corpus), a sibling of the repository. */
export const sharedDir: string = path.resolve(repoRoot, '..', 'shared');

/** True when the shared corpus directory is present. */
export const hasShared: boolean = existsSync(path.join(sharedDir, 'corpus'));

/** True when the process runs as root (netns, veth, raw sockets). */
export const isRoot: boolean = typeof process.getuid === 'function' && process.getuid() === 0;

/** True under the project CI (`.ci/run` sets CI=true). */
export const isCI: boolean = process.env.CI === 'true';

const commandCache = new Map<string, boolean>();

/** True when `name` is an executable found on PATH (cached per process). */
export function hasCommand(name: string): boolean {
  const cached = commandCache.get(name);
  if (cached !== undefined) return cached;
  // `command -v` is a shell builtin, so it works without `which` being installed.
  const r = spawnSync('sh', ['-c', 'command -v "$1" >/dev/null 2>&1', 'sh', name], { stdio: 'ignore' });
  const found = r.status === 0;
  commandCache.set(name, found);
  return found;
}

let capCache: boolean | undefined;

/**
 * True when the optional libpcap binding `cap` loads here (the live reference director, the
 * replayer's live mode and the live ARP probe send and capture through it). Loaded the way
 * src/ loads it (require from the package), so a missing package, a failed native build or a
 * missing libpcap all count as absent. Cached per process.
 */
export function capLoads(): boolean {
  if (capCache !== undefined) return capCache;
  try {
    const mod = createRequire(import.meta.url)('cap') as { Cap?: unknown };
    capCache = typeof mod.Cap === 'function';
  } catch {
    capCache = false;
  }
  return capCache;
}

const reported = new Set<string>();

/**
 * Gate for a test precondition. Under CI=true a missing precondition is an error (throws,
 * so the suite fails loudly); elsewhere it prints the skip reason once and returns false.
 * Typical use: `it.skipIf(!need(hasCommand('tshark'), 'tshark not installed'))(...)`.
 */
export function need(cond: boolean, reason: string): boolean {
  if (cond) return true;
  if (isCI) throw new Error(`required under CI: ${reason}`);
  if (!reported.has(reason)) {
    reported.add(reason);
    console.warn(`[skip] ${reason}`);
  }
  return false;
}
