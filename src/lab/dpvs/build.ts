/**
 * DPVS binaries for the lab (`--director dpvs`): where they come from, built once.
 *
 *   default         the DPVS release tarball and its DPDK 22.11 back-port patch next to the
 *                   repository (`../shared/dpvs/`, or $LVSAUDIT_DPVS_DIR), built into a cache
 *                   outside the repository keyed by the hash of tarball + patch, reused after;
 *   --dpvs-src DIR  a DPVS source tree the user has (say, the upgrade under test): built in
 *                   place with its own config.mk (make is incremental), no patch applied;
 *   --dpvs-bin DIR  an existing build: dpvs, ipvsadm and dpip in DIR, or in a built tree's
 *                   places (src/dpvs, tools/ipvsadm/ipvsadm, tools/dpip/build/dpip).
 *
 * A cache build happens in a private directory beside the cache entry and is renamed into place
 * only when complete, so a concurrent build (another lab, a CI worker) can never see or leave a
 * half-built entry; the loser of the rename throws its copy away. A lock file keeps two builds
 * of one entry from both spending the CPU. What is missing to build (DPDK, compilers, headers)
 * is an EnvironmentError (exit 4) naming the Debian packages to install.
 */
import { spawn, execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, constants, existsSync, mkdirSync, openSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync, copyFileSync, chmodSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { EnvironmentError, InputError } from '../../errors.js';
import { PACKAGE } from '../../package-root.js';

/** The three programs a DPVS lab runs. */
export interface DpvsBinaries {
  dpvs: string;
  ipvsadm: string;
  dpip: string;
  /** Where they came from: `cache <dir>`, `source <dir>` or `bin <dir>`. */
  origin: string;
}

export interface DpvsBuildOptions {
  /** A DPVS source tree to build (in place) instead of the shared tarball. */
  src?: string;
  /** An existing build to use as is. */
  bin?: string;
  /** One line per build step (default: stderr). */
  onStep?: (line: string) => void;
}

/** The release tarball and patch the default build uses. */
export const DPVS_TARBALL = 'dpvs-1.10.2.tar.gz';
export const DPVS_PATCH = 'dpvs-v1.10.2-dpdk22.11.patch';

/** Debian packages the build needs (what build.sh of the recipe installs). */
export const DPVS_BUILD_PACKAGES: readonly string[] = [
  'libdpdk-dev',
  'dpdk',
  'libnuma-dev',
  'libpcap-dev',
  'pkg-config',
  'meson',
  'ninja-build',
  'libssl-dev',
  'libpopt-dev',
  'libnl-3-dev',
  'libnl-genl-3-dev',
  'automake',
  'autoconf',
  'build-essential',
];

/** The directory holding the tarball and patch: $LVSAUDIT_DPVS_DIR, else `shared/dpvs` beside the package. */
export function dpvsShareDir(): string {
  return process.env.LVSAUDIT_DPVS_DIR ?? resolve(PACKAGE.root, '..', 'shared', 'dpvs');
}

/** $XDG_CACHE_HOME/lvsaudit, else ~/.cache/lvsaudit, else a per-user directory in /tmp. */
export function cacheRoot(): string {
  const xdg = process.env.XDG_CACHE_HOME;
  if (xdg) return join(xdg, 'lvsaudit');
  const home = process.env.HOME ?? homedir();
  if (home) return join(home, '.cache', 'lvsaudit');
  const uid = typeof process.getuid === 'function' ? process.getuid() : 0;
  return join(tmpdir(), `lvsaudit-cache-${uid}`);
}

/** Cache entry name for a tarball and patch: their content decides it, not their names. */
export function cacheKey(tarball: Buffer, patch: Buffer): string {
  const h = createHash('sha256');
  h.update(`${tarball.length}\0`).update(tarball).update(`${patch.length}\0`).update(patch);
  return `dpvs-${h.digest('hex').slice(0, 16)}`;
}

function isExecutable(file: string): boolean {
  try {
    return statSync(file).isFile() && (statSync(file).mode & 0o111) !== 0;
  } catch {
    return false;
  }
}

/** The binaries under `dir`, flat or in a built tree's places; null when one is missing. */
export function findBinaries(dir: string): Omit<DpvsBinaries, 'origin'> | null {
  const layouts: Array<Omit<DpvsBinaries, 'origin'>> = [
    { dpvs: join(dir, 'dpvs'), ipvsadm: join(dir, 'ipvsadm'), dpip: join(dir, 'dpip') },
    { dpvs: join(dir, 'bin', 'dpvs'), ipvsadm: join(dir, 'bin', 'ipvsadm'), dpip: join(dir, 'bin', 'dpip') },
    { dpvs: join(dir, 'src', 'dpvs'), ipvsadm: join(dir, 'tools', 'ipvsadm', 'ipvsadm'), dpip: join(dir, 'tools', 'dpip', 'build', 'dpip') },
  ];
  return layouts.find((l) => isExecutable(l.dpvs) && isExecutable(l.ipvsadm) && isExecutable(l.dpip)) ?? null;
}

function commandExists(cmd: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore', timeout: 5000 });
    return true;
  } catch {
    return false;
  }
}

function pkgConfig(args: readonly string[]): string | null {
  try {
    return execFileSync('pkg-config', [...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 5000 }).trim();
  } catch {
    return null;
  }
}

/**
 * What this machine lacks to build DPVS (empty when nothing): each entry says what is missing
 * and the Debian package that brings it.
 */
export function missingBuildTools(): string[] {
  const missing: string[] = [];
  for (const [cmd, pkg] of [
    ['make', 'build-essential'],
    ['gcc', 'build-essential'],
    ['patch', 'patch'],
    ['tar', 'tar'],
    ['pkg-config', 'pkg-config'],
    ['autoconf', 'autoconf'],
    ['automake', 'automake'],
  ] as const) {
    if (!commandExists(cmd)) missing.push(`${cmd} (${pkg})`);
  }
  if (commandExists('pkg-config')) {
    const dpdk = pkgConfig(['--modversion', 'libdpdk']);
    if (dpdk === null) missing.push('DPDK development files (libdpdk-dev dpdk)');
    else if (compareVersions(dpdk, '22.11') < 0) missing.push(`DPDK ${dpdk} is older than 22.11 (libdpdk-dev from Debian 12 or later)`);
    for (const [mod, pkg] of [
      ['openssl', 'libssl-dev'],
      ['libnl-3.0', 'libnl-3-dev'],
      ['libnl-genl-3.0', 'libnl-genl-3-dev'],
      ['libpcap', 'libpcap-dev'],
    ] as const) {
      if (pkgConfig(['--exists', mod]) === null) missing.push(`${mod} (${pkg})`);
    }
  }
  for (const [header, pkg] of [
    ['/usr/include/numa.h', 'libnuma-dev'],
    ['/usr/include/popt.h', 'libpopt-dev'],
  ] as const) {
    if (!existsSync(header)) missing.push(`${header} (${pkg})`);
  }
  return missing;
}

/** Numeric compare of dotted versions ("22.11.4" vs "22.11"). */
export function compareVersions(a: string, b: string): number {
  const pa = a.split(/[.~+-]/).map((x) => Number.parseInt(x, 10) || 0);
  const pb = b.split(/[.~+-]/).map((x) => Number.parseInt(x, 10) || 0);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

function assertCanBuild(): void {
  const missing = missingBuildTools();
  if (missing.length > 0) {
    throw new EnvironmentError(
      `cannot build DPVS: missing ${missing.join(', ')}; install with: apt-get install ${DPVS_BUILD_PACKAGES.join(' ')} (or give --dpvs-bin DIR)`,
    );
  }
}

/** Run one build step with its output appended to `log`; rejects naming the step and the log. */
function step(name: string, argv: readonly string[], cwd: string, log: string, onStep: (l: string) => void): Promise<void> {
  onStep(`dpvs build: ${name}`);
  writeFileSync(log, `\n==== ${name}: ${argv.join(' ')} (in ${cwd})\n`, { flag: 'a' });
  const fd = openSync(log, 'a');
  return new Promise<void>((resolvePromise, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), { cwd, stdio: ['ignore', fd, fd] });
    child.on('error', (e) => {
      closeSync(fd);
      reject(new EnvironmentError(`DPVS build step '${name}' could not start: ${e.message}`));
    });
    child.on('close', (code, signal) => {
      closeSync(fd);
      if (code === 0) resolvePromise();
      else reject(new EnvironmentError(`DPVS build step '${name}' failed (${code ?? signal}); log: ${log}`));
    });
  });
}

/** The make steps of a DPVS tree (its src/Makefile needs config.mk's exported CONFIG_* values). */
async function makeTree(tree: string, log: string, onStep: (l: string) => void): Promise<void> {
  const jobs = '2';
  for (const dir of ['src', 'tools']) {
    await step(`make -C ${dir}`, ['sh', '-c', `. ./config.mk && exec nice -n 10 make -C ${dir} -j${jobs}`], tree, log, onStep);
  }
}

/** An exclusive lock file (O_EXCL); a lock whose owner process is gone is taken over. */
function tryLock(file: string): boolean {
  try {
    const fd = openSync(file, constants.O_CREAT | constants.O_EXCL | constants.O_WRONLY, 0o644);
    writeFileSync(fd, String(process.pid));
    closeSync(fd);
    return true;
  } catch {
    const owner = Number.parseInt(readFileSafe(file), 10);
    if (Number.isInteger(owner) && owner > 0 && !processAlive(owner)) {
      rmSync(file, { force: true });
      return tryLock(file);
    }
    return false;
  }
}

function readFileSafe(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as { code?: string }).code === 'EPERM';
  }
}

/**
 * Work directories of builds whose process is gone (killed mid-build: Ctrl-C, OOM) hold a few
 * hundred MB each; the holder of the lock removes them.
 */
function removeAbandonedWork(root: string, key: string): void {
  for (const name of readdirSync(root)) {
    const m = new RegExp(`^${key}\\.tmp-(\\d+)$`).exec(name);
    if (m && Number(m[1]) !== process.pid && !processAlive(Number(m[1]))) rmSync(join(root, name), { recursive: true, force: true });
  }
}

/** Build the shared tarball + patch into the cache, or return the cached build. */
async function cachedBuild(onStep: (l: string) => void): Promise<DpvsBinaries> {
  const share = dpvsShareDir();
  const tarball = join(share, DPVS_TARBALL);
  const patch = join(share, DPVS_PATCH);
  for (const f of [tarball, patch]) {
    if (!existsSync(f)) throw new EnvironmentError(`DPVS source not found: ${f} (set LVSAUDIT_DPVS_DIR, or give --dpvs-src or --dpvs-bin)`);
  }
  const key = cacheKey(readFileSync(tarball), readFileSync(patch));
  const root = cacheRoot();
  const entry = join(root, key);
  const ready = (): DpvsBinaries | null => {
    const b = findBinaries(entry);
    return b ? { ...b, origin: `cache ${entry}` } : null;
  };
  const have = ready();
  if (have) return have;
  assertCanBuild();
  mkdirSync(root, { recursive: true });
  const lock = `${entry}.lock`;
  // Another process building the same entry: wait for its rename rather than build twice.
  for (let waited = 0; !tryLock(lock); waited += 1000) {
    if (waited === 0) onStep(`dpvs build: waiting for another build of ${entry}`);
    if (waited > 15 * 60_000) throw new EnvironmentError(`DPVS build: ${lock} held for 15 min by another process`);
    await new Promise((r) => setTimeout(r, 1000));
    const other = ready();
    if (other) return other;
  }
  const work = `${entry}.tmp-${process.pid}`;
  removeAbandonedWork(root, key);
  try {
    const again = ready();
    if (again) return again;
    rmSync(work, { recursive: true, force: true });
    const tree = join(work, 'tree');
    mkdirSync(tree, { recursive: true });
    const log = join(work, 'build.log');
    onStep(`dpvs build: ${key} from ${share} into ${entry} (log ${join(entry, 'build.log')})`);
    await step('unpack', ['tar', '-xzf', tarball, '-C', tree, '--strip-components=1'], work, log, onStep);
    await step('patch', ['patch', '-p1', '-i', patch], tree, log, onStep);
    await makeTree(tree, log, onStep);
    const built = findBinaries(tree);
    if (!built) throw new EnvironmentError(`DPVS build finished without dpvs, ipvsadm and dpip; log: ${log}`);
    // Only the three programs are kept: the tree with its objects is a few hundred MB.
    const bin = join(work, 'bin');
    mkdirSync(bin);
    for (const name of ['dpvs', 'ipvsadm', 'dpip'] as const) {
      copyFileSync(built[name], join(bin, name));
      chmodSync(join(bin, name), 0o755);
    }
    writeFileSync(join(work, 'source.json'), JSON.stringify({ tarball, patch, key, builtAt: new Date().toISOString() }, null, 2) + '\n');
    rmSync(tree, { recursive: true, force: true });
    try {
      renameSync(work, entry);
    } catch (e) {
      // Someone else completed the entry first: theirs is as good as ours.
      if (!ready()) throw e;
    }
    onStep(`dpvs build: done, cached in ${entry}`);
    const done = ready();
    if (!done) throw new EnvironmentError(`DPVS cache entry ${entry} is incomplete`);
    return done;
  } catch (e) {
    if (existsSync(join(work, 'build.log'))) {
      try {
        copyFileSync(join(work, 'build.log'), `${entry}.failed.log`);
      } catch {
        /* the error below still names the step */
      }
    }
    if (e instanceof EnvironmentError) throw new EnvironmentError(e.message.replace(join(work, 'build.log'), `${entry}.failed.log`));
    throw e;
  } finally {
    rmSync(work, { recursive: true, force: true });
    rmSync(lock, { force: true });
  }
}

/** Build a user's DPVS source tree in place (its build log in the cache). */
async function sourceBuild(src: string, onStep: (l: string) => void): Promise<DpvsBinaries> {
  const tree = resolve(src);
  if (!existsSync(join(tree, 'config.mk')) || !existsSync(join(tree, 'src')) || !existsSync(join(tree, 'tools'))) {
    throw new InputError(`--dpvs-src ${src}: not a DPVS source tree (no config.mk, src/ and tools/)`);
  }
  assertCanBuild();
  const root = cacheRoot();
  mkdirSync(root, { recursive: true });
  const name = `dpvs-src-${createHash('sha256').update(tree).digest('hex').slice(0, 16)}`;
  const lock = join(root, `${name}.lock`);
  for (let waited = 0; !tryLock(lock); waited += 1000) {
    if (waited > 15 * 60_000) throw new EnvironmentError(`DPVS build: ${lock} held for 15 min by another process`);
    await new Promise((r) => setTimeout(r, 1000));
  }
  try {
    const log = join(root, `${name}.build.log`);
    writeFileSync(log, `DPVS source tree ${tree}\n`);
    onStep(`dpvs build: ${tree} in place (log ${log})`);
    await makeTree(tree, log, onStep);
    const b = findBinaries(tree);
    if (!b) throw new EnvironmentError(`--dpvs-src ${src}: make finished without src/dpvs, tools/ipvsadm/ipvsadm, tools/dpip/build/dpip; log: ${log}`);
    return { ...b, origin: `source ${tree}` };
  } finally {
    rmSync(lock, { force: true });
  }
}

/** The DPVS binaries a lab uses: --dpvs-bin as is, --dpvs-src built, else the cached shared build. */
export async function dpvsBinaries(o: DpvsBuildOptions = {}): Promise<DpvsBinaries> {
  const onStep = o.onStep ?? ((l: string) => process.stderr.write(`${l}\n`));
  if (o.src !== undefined && o.bin !== undefined) throw new InputError('--dpvs-src and --dpvs-bin: give one of them');
  if (o.bin !== undefined) {
    const dir = resolve(o.bin);
    const b = findBinaries(dir);
    if (!b) throw new InputError(`--dpvs-bin ${o.bin}: no executable dpvs, ipvsadm and dpip there (flat, in bin/, or a built tree's src/dpvs, tools/ipvsadm/ipvsadm, tools/dpip/build/dpip)`);
    return { ...b, origin: `bin ${dir}` };
  }
  if (o.src !== undefined) return sourceBuild(o.src, onStep);
  return cachedBuild(onStep);
}

/** The cached build's directory when it exists (no build), for tests deciding whether to skip. */
export function cachedBinaries(): DpvsBinaries | null {
  const share = dpvsShareDir();
  try {
    const key = cacheKey(readFileSync(join(share, DPVS_TARBALL)), readFileSync(join(share, DPVS_PATCH)));
    const entry = join(cacheRoot(), key);
    const b = findBinaries(entry);
    return b ? { ...b, origin: `cache ${entry}` } : null;
  } catch {
    return null;
  }
}

/** Directory name a build path lives in (for messages). */
export function binDir(b: DpvsBinaries): string {
  return dirname(b.dpvs);
}
