/**
 * Boot a kernel in QEMU with the host's root filesystem as its userspace (read-only 9p export)
 * and a writable 9p export for results, and wait until the guest powers off.
 *
 * Acceleration: KVM when /dev/kvm is usable and a probe boot reaches the initramfs in time
 * (some hosts expose /dev/kvm but the guest hangs in firmware), otherwise TCG. The probe verdict
 * is cached per host boot (boot_id), so only the first run on a machine pays for it.
 * The qemu process is killed on timeout, on process exit and on SIGINT/SIGTERM/SIGHUP.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, createWriteStream, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { EnvironmentError } from '../../errors.js';
import { CONSOLE_MARK, TAG_MODULES, TAG_OUT, TAG_ROOT, vmCacheDir } from './initramfs.js';

export const QEMU = 'qemu-system-x86_64';
export const INSTALL_QEMU_HINT = 'install qemu (Debian/Ubuntu: apt-get install qemu-system-x86)';

export type Accel = 'kvm' | 'tcg';

/** Absolute path of qemu-system-x86_64 on PATH, or null. */
export function findQemu(): string | null {
  for (const dir of (process.env.PATH ?? '/usr/bin:/bin').split(':')) {
    if (!dir) continue;
    const p = join(dir, QEMU);
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      /* next */
    }
  }
  return null;
}

/** Throws EnvironmentError (exit 4) with what to install when qemu is missing. */
export function requireQemu(): string {
  const q = findQemu();
  if (q === null) throw new EnvironmentError(`${QEMU} not found: ${INSTALL_QEMU_HINT}`);
  return q;
}

function kvmUsable(): boolean {
  try {
    accessSync('/dev/kvm', constants.R_OK | constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

function bootId(): string {
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  } catch {
    return 'unknown';
  }
}

function probeFile(): string {
  return join(vmCacheDir(), `kvm-probe-${bootId()}.json`);
}

/** Cached KVM probe verdict for this host boot: true/false, or null when not probed yet. */
export function cachedKvmVerdict(): boolean | null {
  try {
    const v = JSON.parse(readFileSync(probeFile(), 'utf8')) as { kvm?: unknown };
    return typeof v.kvm === 'boolean' ? v.kvm : null;
  } catch {
    return null;
  }
}

function storeKvmVerdict(kvm: boolean, note: string): void {
  try {
    mkdirSync(vmCacheDir(), { recursive: true });
    writeFileSync(probeFile(), JSON.stringify({ kvm, note, at: new Date().toISOString() }) + '\n');
  } catch {
    /* a cache that cannot be written only costs a probe next time */
  }
}

export interface VmOptions {
  kernel: string;
  initrd: string;
  /** Host directory exported writable; the guest sees it at GUEST_OUT. */
  outDir: string;
  /** Host modules tree exported read-only at GUEST_MODULES (for trees the root export hides). */
  modulesDir?: string;
  /** 'auto' (default): KVM if it works, else TCG. Env LVSAUDIT_VM_ACCEL overrides. */
  accel?: Accel | 'auto';
  memoryMb?: number;
  cpus?: number;
  /** QEMU -cpu model (default: host for KVM, max for TCG; env LVSAUDIT_VM_CPU). */
  cpuModel?: string;
  /** Kill the VM after this long (default 10 min). */
  timeoutMs?: number;
  /** How long a KVM boot may take to reach the initramfs before TCG is used (default 15 s). */
  kvmProbeMs?: number;
  /** Serial console copy (default: <outDir>/console.log). */
  consoleLog?: string;
  /** Every console line, as it arrives. */
  onLine?: (line: string) => void;
}

export interface VmResult {
  accel: Accel;
  /** Why KVM was not used (null when it was). */
  kvmNote: string | null;
  /** qemu exit status (null when killed). */
  exitCode: number | null;
  timedOut: boolean;
  /** Spawn -> guest userspace ready (host root mounted), ms; null if never reached. */
  bootMs: number | null;
  /** Spawn -> qemu exit, ms. */
  totalMs: number;
  consoleLog: string;
  /** Console lines starting with CONSOLE_MARK, without the mark. */
  marks: string[];
}

const running = new Set<ChildProcess>();
let handlersInstalled = false;

function killAll(): void {
  for (const c of running) {
    try {
      c.kill('SIGKILL');
    } catch {
      /* gone */
    }
  }
}

function installHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  process.on('exit', killAll);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    const onSignal = (): void => {
      killAll();
      process.removeListener(sig, onSignal);
      // Only re-raise when nobody else handles it; otherwise the other handler decides.
      if (process.listenerCount(sig) === 0) process.kill(process.pid, sig);
    };
    process.on(sig, onSignal);
  }
}

function qemuArgs(o: VmOptions, accel: Accel): string[] {
  const cpus = o.cpus ?? (Number.parseInt(process.env.LVSAUDIT_VM_CPUS ?? '', 10) || Math.max(1, Math.min(2, availableParallelism())));
  const args = [
    '-nodefaults',
    '-no-reboot',
    '-display', 'none',
    '-monitor', 'none',
    '-serial', 'stdio',
    '-accel', accel === 'kvm' ? 'kvm' : 'tcg,thread=multi',
    '-cpu', o.cpuModel ?? process.env.LVSAUDIT_VM_CPU ?? (accel === 'kvm' ? 'host' : 'max'),
    // Room for every capture point's tcpdump ring (libpcap's kernel buffer, large with offloads
    // on) beside the node processes; QEMU only backs the pages the guest touches.
    '-m', String(o.memoryMb ?? 2048),
    '-smp', String(cpus),
    '-kernel', o.kernel,
    '-initrd', o.initrd,
    '-append', 'console=ttyS0 panic=-1 quiet loglevel=3',
    '-virtfs', `local,path=/,mount_tag=${TAG_ROOT},security_model=none,readonly=on,multidevs=remap`,
    '-virtfs', `local,path=${o.outDir},mount_tag=${TAG_OUT},security_model=none,multidevs=remap`,
  ];
  if (o.modulesDir) {
    args.push('-virtfs', `local,path=${o.modulesDir},mount_tag=${TAG_MODULES},security_model=none,readonly=on,multidevs=remap`);
  }
  return args;
}

interface Attempt {
  exitCode: number | null;
  timedOut: boolean;
  /** Killed because the KVM probe deadline passed before the initramfs spoke. */
  probeFailed: boolean;
  bootMs: number | null;
  totalMs: number;
  marks: string[];
}

function attempt(qemu: string, o: VmOptions, accel: Accel, probeMs: number | null, log: NodeJS.WritableStream): Promise<Attempt> {
  return new Promise((resolve) => {
    const started = Date.now();
    const child = spawn(qemu, qemuArgs(o, accel), { stdio: ['ignore', 'pipe', 'pipe'] });
    running.add(child);
    const marks: string[] = [];
    let bootMs: number | null = null;
    let sawInit = false;
    let timedOut = false;
    let probeFailed = false;
    let pending = '';
    log.write(`# ${new Date().toISOString()} ${QEMU} (${accel})\n`);
    const onText = (chunk: Buffer): void => {
      log.write(chunk);
      pending += chunk.toString('utf8');
      let nl: number;
      while ((nl = pending.indexOf('\n')) >= 0) {
        // Serial output has CRLF and may carry terminal escapes from firmware.
        const line = pending.slice(0, nl).replace(/\r/g, '').replace(/\x1b\[[0-9;?]*[a-zA-Z]/g, '');
        pending = pending.slice(nl + 1);
        const at = line.indexOf(CONSOLE_MARK);
        if (at >= 0) {
          const m = line.slice(at + CONSOLE_MARK.length).trim();
          marks.push(m);
          if (m.startsWith('initramfs')) sawInit = true;
          if (m.startsWith('mounted') && bootMs === null) bootMs = Date.now() - started;
        }
        o.onLine?.(line);
      }
    };
    child.stdout?.on('data', onText);
    child.stderr?.on('data', (d: Buffer) => log.write(d));
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, o.timeoutMs ?? 600_000);
    const probe =
      probeMs === null
        ? null
        : setTimeout(() => {
            if (!sawInit) {
              probeFailed = true;
              child.kill('SIGKILL');
            }
          }, probeMs);
    const finish = (code: number | null): void => {
      // A KVM guest that dies before the initramfs speaks (e.g. an MSR assertion) failed the probe too.
      if (probeMs !== null && !sawInit) probeFailed = true;
      clearTimeout(timer);
      if (probe) clearTimeout(probe);
      running.delete(child);
      resolve({ exitCode: code, timedOut: timedOut && !probeFailed, probeFailed, bootMs, totalMs: Date.now() - started, marks });
    };
    child.on('error', (e) => {
      log.write(`spawn error: ${e.message}\n`);
      finish(null);
    });
    child.on('close', (code) => finish(code));
  });
}

/** Boot the VM and wait for it to power off (or time out). */
export async function runVm(o: VmOptions): Promise<VmResult> {
  const qemu = requireQemu();
  if (!existsSync(o.kernel)) throw new EnvironmentError(`kernel ${o.kernel} not found`);
  installHandlers();
  const consoleLog = o.consoleLog ?? join(o.outDir, 'console.log');
  const log = createWriteStream(consoleLog);
  const envAccel = process.env.LVSAUDIT_VM_ACCEL;
  const wanted = envAccel === 'kvm' || envAccel === 'tcg' ? envAccel : (o.accel ?? 'auto');
  let accel: Accel = 'tcg';
  let kvmNote: string | null = null;
  let probe = false;
  if (wanted === 'tcg') kvmNote = 'TCG requested';
  else if (!kvmUsable()) kvmNote = '/dev/kvm not usable';
  else if (wanted === 'kvm') accel = 'kvm';
  else {
    const cached = cachedKvmVerdict();
    if (cached === false) kvmNote = 'KVM guest did not boot on this host (cached probe)';
    else {
      accel = 'kvm';
      probe = cached === null;
    }
  }
  try {
    let a = await attempt(qemu, o, accel, probe ? (o.kvmProbeMs ?? 15_000) : null, log);
    if (accel === 'kvm' && probe) storeKvmVerdict(!a.probeFailed, a.probeFailed ? 'no initramfs output in time' : 'ok');
    if (a.probeFailed) {
      kvmNote = `KVM guest did not reach the initramfs within ${o.kvmProbeMs ?? 15_000} ms; using TCG`;
      accel = 'tcg';
      a = await attempt(qemu, o, 'tcg', null, log);
    }
    return { accel, kvmNote, exitCode: a.exitCode, timedOut: a.timedOut, bootMs: a.bootMs, totalMs: a.totalMs, consoleLog, marks: a.marks };
  } finally {
    await new Promise<void>((r) => log.end(r));
  }
}
