/**
 * The VM's initramfs: a static busybox, the 9p-over-virtio modules of the chosen kernel, and an
 * /init that mounts the host's root filesystem (read-only 9p export) plus a writable 9p export
 * for results, and runs `run.sh` from that export in a chroot. The image is built once per
 * (kernel modules, busybox, init text) and cached outside the repository.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, closeSync, copyFileSync, existsSync, mkdirSync, openSync, readFileSync, readSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { EnvironmentError } from '../../errors.js';
import { INITRAMFS_MODULES, loadOrder, readModuleIndex } from './kmod.js';

/** 9p mount tags shared by the launcher and /init. */
export const TAG_ROOT = 'lvsaroot';
export const TAG_OUT = 'lvsaout';
export const TAG_MODULES = 'lvsamods';
/** Where the guest sees the writable results export and an optional modules export. */
export const GUEST_OUT = '/run/lvsa/out';
export const GUEST_MODULES = '/run/lvsa/modules';
/** Lines the guest prints for the host start with this (the host parses them from the console). */
export const CONSOLE_MARK = 'lvsa:';

/**
 * /init. Debian's busybox prefers its own applets over PATH, so everything here is spelled
 * `$B applet`. The host root is mounted with cache=loose (it is read-only for the run), the
 * results export without caching so every write lands on the host at once. /run is a tmpfs
 * (ip netns needs a writable /run/netns); /tmp stays the host's, read-only, so a repository or
 * module tree under /tmp is still visible.
 */
export const INIT_SCRIPT = `#!/bin/busybox sh
B=/bin/busybox
$B mount -t proc proc /proc
$B mount -t sysfs sys /sys
$B mount -t devtmpfs dev /dev
up() { $B cut -d' ' -f1 /proc/uptime; }
halt() { echo "${CONSOLE_MARK} halt $1"; $B sync; $B poweroff -f; }
echo "${CONSOLE_MARK} initramfs $(up)"
for m in $($B cat /modules/order); do $B insmod /modules/$m.ko || echo "${CONSOLE_MARK} insmod $m failed"; done
$B mount -t 9p -o trans=virtio,version=9p2000.L,ro,cache=loose,msize=262144 ${TAG_ROOT} /newroot || halt "cannot mount the host root (9p)"
$B mount -t proc proc /newroot/proc
$B mount -t sysfs sys /newroot/sys
$B mount -t devtmpfs dev /newroot/dev
$B mount -t tmpfs -o mode=0755 run /newroot/run
$B mkdir -p /newroot${GUEST_OUT} /newroot${GUEST_MODULES} /newroot/run/netns /newroot/run/lvsa/tmp
$B mount -t 9p -o trans=virtio,version=9p2000.L,rw,cache=none,msize=262144 ${TAG_OUT} /newroot${GUEST_OUT} || halt "cannot mount the results export (9p)"
$B mount -t 9p -o trans=virtio,version=9p2000.L,ro,cache=loose,msize=262144 ${TAG_MODULES} /newroot${GUEST_MODULES} 2>/dev/null
echo "${CONSOLE_MARK} mounted $(up)"
$B chroot /newroot /bin/sh ${GUEST_OUT}/run.sh
echo "${CONSOLE_MARK} exit $? $(up)"
$B sync
$B umount /newroot${GUEST_OUT}
halt done
`;

/** Cache directory for built images: $XDG_CACHE_HOME/lvsaudit/vm, else a per-user dir in /tmp. */
export function vmCacheDir(): string {
  const xdg = process.env.XDG_CACHE_HOME;
  const uid = typeof process.getuid === 'function' ? process.getuid() : 0;
  return xdg ? join(xdg, 'lvsaudit', 'vm') : join(tmpdir(), `lvsaudit-vm-cache-${uid}`);
}

const BUSYBOX_CANDIDATES = ['/bin/busybox', '/usr/bin/busybox', '/usr/lib/busybox-static/busybox'];

/** True when `path` is an ELF executable without an interpreter (statically linked). */
export function isStaticElf(path: string): boolean {
  const fd = openSync(path, 'r');
  try {
    const h = Buffer.alloc(64);
    if (readSync(fd, h, 0, 64, 0) < 64 || h.readUInt32BE(0) !== 0x7f454c46 || h[4] !== 2) return false;
    const phoff = Number(h.readBigUInt64LE(32));
    const phentsize = h.readUInt16LE(54);
    const phnum = h.readUInt16LE(56);
    const ph = Buffer.alloc(phentsize * phnum);
    readSync(fd, ph, 0, ph.length, phoff);
    for (let i = 0; i < phnum; i++) if (ph.readUInt32LE(i * phentsize) === 3 /* PT_INTERP */) return false;
    return true;
  } finally {
    closeSync(fd);
  }
}

/** A statically linked busybox, or EnvironmentError saying what to install. */
export function findStaticBusybox(): string {
  for (const p of BUSYBOX_CANDIDATES) {
    if (existsSync(p) && isStaticElf(p)) return p;
  }
  throw new EnvironmentError('no statically linked busybox found (install busybox-static: apt-get install busybox-static)');
}

function moduleBytes(path: string): Buffer {
  if (path.endsWith('.ko')) return readFileSync(path);
  if (path.endsWith('.gz')) return gunzipSync(readFileSync(path));
  // busybox insmod does not decompress xz/zstd modules: do it here.
  const tool = path.endsWith('.xz') ? 'xz' : 'zstd';
  try {
    return execFileSync(tool, ['-dc', path], { maxBuffer: 1 << 28 });
  } catch {
    throw new EnvironmentError(`cannot decompress ${path}: install ${tool}`);
  }
}

export interface Initramfs {
  path: string;
  /** True when this call built it (false: taken from the cache). */
  built: boolean;
  modules: string[];
}

/** Build (or reuse from the cache) the initramfs for the kernel whose modules are in `modulesDir`. */
export function buildInitramfs(modulesDir: string, cacheDir = vmCacheDir()): Initramfs {
  const busybox = findStaticBusybox();
  const index = readModuleIndex(modulesDir);
  const { order } = loadOrder(index, INITRAMFS_MODULES);
  const files = order.map((m) => join(modulesDir, index.files.get(m)!));
  const key = createHash('sha256');
  key.update('v1\0').update(INIT_SCRIPT);
  for (const f of [busybox, ...files]) {
    const st = statSync(f);
    key.update(`${f}\0${st.size}\0${st.mtimeMs}\0`);
  }
  const digest = key.digest('hex').slice(0, 16);
  mkdirSync(cacheDir, { recursive: true });
  const out = join(cacheDir, `initramfs-${digest}.cpio.gz`);
  if (existsSync(out)) return { path: out, built: false, modules: order };
  try {
    execFileSync('cpio', ['--version'], { stdio: 'ignore' });
  } catch {
    throw new EnvironmentError('cpio not found (apt-get install cpio): needed once to build the VM initramfs');
  }

  const stage = join(cacheDir, `stage-${digest}-${process.pid}`);
  rmSync(stage, { recursive: true, force: true });
  try {
    for (const d of ['bin', 'modules', 'proc', 'sys', 'dev', 'newroot']) mkdirSync(join(stage, d), { recursive: true });
    copyFileSync(busybox, join(stage, 'bin', 'busybox'));
    chmodSync(join(stage, 'bin', 'busybox'), 0o755);
    writeFileSync(join(stage, 'init'), INIT_SCRIPT, { mode: 0o755 });
    order.forEach((m, i) => writeFileSync(join(stage, 'modules', `${m}.ko`), moduleBytes(files[i]!)));
    writeFileSync(join(stage, 'modules', 'order'), order.join('\n') + '\n');
    const list = execFileSync('find', ['.', '-mindepth', '1'], { cwd: stage, encoding: 'utf8' });
    const archive = execFileSync('cpio', ['-o', '-H', 'newc', '-R', '0:0', '--quiet'], {
      cwd: stage,
      input: list,
      maxBuffer: 1 << 28,
    });
    const tmp = `${out}.${process.pid}.tmp`;
    writeFileSync(tmp, gzipSync(archive, { level: 1 }));
    renameSync(tmp, out);
  } finally {
    rmSync(stage, { recursive: true, force: true });
  }
  return { path: out, built: true, modules: order };
}
