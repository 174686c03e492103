/**
 * Kernel-module dependency resolution from `modules.dep`, without modprobe.
 *
 * Used twice: on the host to pick the .ko files the initramfs needs (virtio, 9p) and inside the
 * VM to load IPVS and friends from a modules tree that may not be installed under
 * /lib/modules/$(uname -r) (a user's own kernel build given with --modules).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** Module name as the kernel sees it: file stem with `-` folded to `_`. */
export function moduleName(path: string): string {
  const base = path.slice(path.lastIndexOf('/') + 1);
  return base.replace(/\.ko(\.(xz|zst|gz))?$/, '').replace(/-/g, '_');
}

export interface ModuleIndex {
  /** The modules tree (directory holding modules.dep). */
  dir: string;
  /** Module name -> path relative to `dir`. */
  files: Map<string, string>;
  /** Module name -> names of the modules it needs. */
  deps: Map<string, string[]>;
  /** Modules built into the kernel (modules.builtin), by name. */
  builtin: Set<string>;
}

/** Read `dir/modules.dep` (and modules.builtin when present). Throws when modules.dep is missing. */
export function readModuleIndex(dir: string): ModuleIndex {
  const depFile = join(dir, 'modules.dep');
  if (!existsSync(depFile)) throw new Error(`${depFile} not found (run depmod for that kernel, or pass its modules directory)`);
  const files = new Map<string, string>();
  const deps = new Map<string, string[]>();
  for (const line of readFileSync(depFile, 'utf8').split('\n')) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const file = line.slice(0, colon).trim();
    const name = moduleName(file);
    files.set(name, file);
    deps.set(
      name,
      line
        .slice(colon + 1)
        .trim()
        .split(/\s+/)
        .filter((d) => d.length > 0)
        .map(moduleName),
    );
  }
  const builtin = new Set<string>();
  const builtinFile = join(dir, 'modules.builtin');
  if (existsSync(builtinFile)) {
    for (const line of readFileSync(builtinFile, 'utf8').split('\n')) if (line.trim()) builtin.add(moduleName(line.trim()));
  }
  return { dir, files, deps, builtin };
}

/**
 * Load order for `wanted`: every module after all it depends on, each once. Built-in modules
 * are skipped; a name that is neither a module nor built in is returned in `missing` (the
 * caller decides whether that matters: the feature may be built in without modules.builtin).
 */
export function loadOrder(index: ModuleIndex, wanted: readonly string[]): { order: string[]; missing: string[] } {
  const order: string[] = [];
  const missing: string[] = [];
  const seen = new Set<string>();
  const visit = (raw: string): void => {
    const name = raw.replace(/-/g, '_');
    if (seen.has(name)) return;
    seen.add(name);
    if (index.builtin.has(name) && !index.files.has(name)) return;
    const deps = index.deps.get(name);
    if (deps === undefined) {
      missing.push(name);
      return;
    }
    for (const d of deps) visit(d);
    order.push(name);
  };
  for (const w of wanted) visit(w);
  return { order, missing };
}

/**
 * Modules the guest needs beyond the initramfs set. crc32c_generic first: ip_vs pulls
 * libcrc32c, whose init fails unless a crc32c implementation is already registered, and
 * modules.dep does not say so (it is a crypto API lookup, not a symbol dependency).
 */
export const LAB_MODULES: readonly string[] = [
  'crc32c_generic',
  'veth',
  'bridge',
  'ipip',
  'ip_vs',
];

/** The 9p-over-virtio stack the initramfs loads to mount the host's root. */
export const INITRAMFS_MODULES: readonly string[] = ['virtio_pci', '9pnet_virtio', '9p'];

/** The IPVS scheduler module for a scheduler name (ip_vs_rr for rr, …). */
export function schedulerModule(scheduler: string): string {
  return `ip_vs_${scheduler.toLowerCase()}`;
}
