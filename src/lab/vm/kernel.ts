/**
 * Find the kernel the VM boots and the modules tree that belongs to it.
 *
 * Default: the newest /boot/vmlinuz-* whose /lib/modules/<release> holds ip_vs (Debian:
 * `apt-get install linux-image-amd64`). A user's own build is given by path (--kernel) and its
 * modules by --modules (either the directory holding modules.dep, or an INSTALL_MOD_PATH prefix).
 * The release string is read from the bzImage header itself, so no `file` tool is needed.
 */
import { closeSync, existsSync, openSync, readSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { EnvironmentError, InputError } from '../../errors.js';

export const INSTALL_KERNEL_HINT =
  'install a kernel with IPVS modules (Debian/Ubuntu: apt-get install linux-image-amd64) or pass --kernel PATH --modules DIR';

/**
 * Release of a bzImage (e.g. "6.1.0-56-amd64"), from the x86 boot protocol header: "HdrS" at
 * 0x202, and at 0x20e the offset (minus 0x200) of a NUL-terminated version string. Null when
 * the file is not a bzImage.
 */
export function bzImageRelease(path: string): string | null {
  const fd = openSync(path, 'r');
  try {
    const hdr = Buffer.alloc(0x210);
    if (readSync(fd, hdr, 0, hdr.length, 0) < hdr.length) return null;
    if (hdr.toString('latin1', 0x202, 0x206) !== 'HdrS') return null;
    const off = hdr.readUInt16LE(0x20e) + 0x200;
    const text = Buffer.alloc(256);
    const n = readSync(fd, text, 0, text.length, off);
    const s = text.toString('latin1', 0, n);
    const release = s.slice(0, s.indexOf('\0') >= 0 ? s.indexOf('\0') : n).split(' ')[0] ?? '';
    return /^\d+\.\d+/.test(release) ? release : null;
  } finally {
    closeSync(fd);
  }
}

function hasIpvs(modulesDir: string): boolean {
  const dir = join(modulesDir, 'kernel', 'net', 'netfilter', 'ipvs');
  return existsSync(dir) && readdirSync(dir).some((f) => /^ip_vs\.ko/.test(f));
}

/** Compare kernel releases numerically (6.10 > 6.9), then as text. */
function compareRelease(a: string, b: string): number {
  const na = a.split(/[.-]/).map((x) => Number.parseInt(x, 10));
  const nb = b.split(/[.-]/).map((x) => Number.parseInt(x, 10));
  for (let i = 0; i < Math.max(na.length, nb.length); i++) {
    const x = na[i] ?? -1;
    const y = nb[i] ?? -1;
    if (Number.isNaN(x) || Number.isNaN(y)) break;
    if (x !== y) return x - y;
  }
  return a.localeCompare(b);
}

export interface KernelChoice {
  /** bzImage path on the host. */
  kernel: string;
  release: string;
  /** Directory holding modules.dep for that release (host path). */
  modulesDir: string;
}

/** The installed kernel with IPVS modules, newest first; null when there is none. */
export function findInstalledKernel(bootDir = '/boot', modulesRoot = '/lib/modules'): KernelChoice | null {
  if (!existsSync(bootDir)) return null;
  const candidates: KernelChoice[] = [];
  for (const f of readdirSync(bootDir)) {
    if (!f.startsWith('vmlinuz-')) continue;
    const release = f.slice('vmlinuz-'.length);
    const modulesDir = join(modulesRoot, release);
    if (hasIpvs(modulesDir)) candidates.push({ kernel: join(bootDir, f), release, modulesDir });
  }
  candidates.sort((a, b) => compareRelease(b.release, a.release));
  return candidates[0] ?? null;
}

/**
 * Resolve --kernel/--modules (either may be omitted) into a bootable choice, or throw:
 * EnvironmentError (exit 4) when no kernel is installed, InputError (exit 2) for a bad path.
 */
export function resolveKernel(opts: { kernel?: string; modules?: string } = {}): KernelChoice {
  if (opts.kernel === undefined) {
    const found = findInstalledKernel();
    if (!found) throw new EnvironmentError(`no kernel with IPVS modules found under /boot and /lib/modules: ${INSTALL_KERNEL_HINT}`);
    if (opts.modules === undefined) return found;
    return { ...found, modulesDir: modulesTree(resolve(opts.modules), found.release) };
  }
  const kernel = resolve(opts.kernel);
  if (!existsSync(kernel) || !statSync(kernel).isFile()) throw new InputError(`--kernel ${opts.kernel}: no such file`);
  const release = bzImageRelease(kernel);
  if (release === null) throw new InputError(`--kernel ${opts.kernel}: not an x86 bzImage (no HdrS boot header)`);
  const modulesDir =
    opts.modules !== undefined ? modulesTree(resolve(opts.modules), release) : join('/lib/modules', release);
  if (!existsSync(join(modulesDir, 'modules.dep'))) {
    throw new InputError(
      `no modules for kernel ${release} at ${modulesDir} (pass --modules DIR: the directory holding modules.dep, or the INSTALL_MOD_PATH used for make modules_install)`,
    );
  }
  return { kernel, release, modulesDir };
}

/** DIR itself when it holds modules.dep, else DIR/lib/modules/<release> (an INSTALL_MOD_PATH). */
function modulesTree(dir: string, release: string): string {
  if (existsSync(join(dir, 'modules.dep'))) return dir;
  const nested = join(dir, 'lib', 'modules', release);
  if (existsSync(join(nested, 'modules.dep'))) return nested;
  throw new InputError(`--modules ${dir}: no modules.dep there nor under lib/modules/${release}`);
}
