/**
 * The dpvs director kind (`lvsaudit lab run --director dpvs --mode fullnat`): iQIYI's DPVS runs
 * in the lab's director namespace on DPDK `net_af_packet` ports over the director's two veths
 * (which carry no kernel address: DPVS answers ARP and forwards itself, as the reference
 * director does), in the shared lab sequence (sequence.ts), configured with its own dpip and
 * ipvsadm from the case's service text (config.ts).
 *
 * What a DPVS run holds beyond the namespaces, and gives back on every way out (normal end, an
 * error, SIGINT/SIGTERM/SIGHUP, process exit): the DPVS process, its runtime directory (dpvs.conf,
 * control socket, pid file, and the private /run DPDK writes its runtime files into, bind-mounted
 * over /run inside the namespace only), the hugepages it reserved (nr_hugepages put back to what
 * it was) and the host-wide lock that keeps a second DPVS lab from starting (two busy-polling
 * DPVS would share CPU 0).
 */
import { closeSync, constants, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { EnvironmentError, InputError } from '../../errors.js';
import type { LabProcess } from '../netns.js';
import { caseServiceConfig, labCase, nsBatch, type DirectorDriver, type LabCase, type LabCaseResult, type RunLabCaseOptions, runLabCase } from '../sequence.js';
import { parseLabFaults } from '../faults.js';
import { checkProfile } from '../reference-lab.js';
import type { LabFamily, LabMode } from '../plan.js';
import { DPVS_HUGEPAGES, dpvsCommands, dpvsConf, ealArgs, type DpvsCommand, type UoaMode } from './config.js';
import { processAlive, type DpvsBinaries } from './build.js';
import { exhaustionScheduler, lipExhaustion, withFloodRings } from './exhaustion.js';

/** The host-wide lock of a running DPVS lab (its holder's pid inside). */
export function dpvsLockFile(): string {
  return process.env.LVSAUDIT_DPVS_LOCK ?? join(tmpdir(), 'lvsaudit-dpvs-lab.lock');
}

const NR_HUGEPAGES = '/proc/sys/vm/nr_hugepages';

function readNumber(file: string): number {
  return Number.parseInt(readFileSync(file, 'utf8').trim(), 10);
}

/** HugePages_Free of /proc/meminfo (2 MiB pages, the default size). */
export function freeHugepages(): number {
  const m = /^HugePages_Free:\s+(\d+)/m.exec(readFileSync('/proc/meminfo', 'utf8'));
  return m ? Number(m[1]) : 0;
}

export function nrHugepages(): number {
  return readNumber(NR_HUGEPAGES);
}

/** Why DPVS cannot run here (null when it can): root, /proc/sys/vm/nr_hugepages. */
export function dpvsRuntimeUnavailable(): string | null {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return 'the DPVS lab needs root (hugepages, namespaces)';
  if (!existsSync(NR_HUGEPAGES)) return `no ${NR_HUGEPAGES}: this kernel has no hugepages`;
  return null;
}

/** Everything one DPVS run holds outside the namespaces, released once by release(). */
export class DpvsRuntime {
  readonly dir: string;
  readonly runDir: string;
  readonly ipcFile: string;
  readonly pidFile: string;
  readonly confFile: string;
  private hugepagesBefore: number | null = null;
  private pid: number | null = null;
  private released = false;
  private readonly onSignal: Array<[NodeJS.Signals, () => void]> = [];
  private readonly onExit = (): void => this.release();

  private constructor(
    readonly binaries: DpvsBinaries,
    o: { ipv6: boolean; uoaMode: UoaMode },
  ) {
    this.dir = mkdtempSync(join(tmpdir(), 'lvsaudit-dpvs-'));
    this.runDir = join(this.dir, 'run');
    this.ipcFile = join(this.dir, 'dpvs.ipc');
    this.pidFile = join(this.dir, 'dpvs.pid');
    this.confFile = join(this.dir, 'dpvs.conf');
    mkdirSync(this.runDir);
    writeFileSync(this.confFile, dpvsConf(o));
  }

  /**
   * Take the lock, reserve hugepages, install the exit and signal handlers. EnvironmentError
   * (exit 4) when another DPVS lab runs or the hugepages cannot be had.
   */
  static acquire(binaries: DpvsBinaries, o: { ipv6?: boolean; uoaMode?: UoaMode } = {}): DpvsRuntime {
    const why = dpvsRuntimeUnavailable();
    if (why !== null) throw new EnvironmentError(why);
    takeLabLock();
    let rt: DpvsRuntime;
    try {
      rt = new DpvsRuntime(binaries, { ipv6: o.ipv6 === true, uoaMode: o.uoaMode ?? 'ipo' });
    } catch (e) {
      rmSync(dpvsLockFile(), { force: true });
      throw e;
    }
    rt.installHandlers();
    rt.writeLockRecord();
    try {
      rt.reserveHugepages();
    } catch (e) {
      rt.release();
      throw e;
    }
    return rt;
  }

  private installHandlers(): void {
    process.on('exit', this.onExit);
    for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
      const h = (): void => {
        this.release();
        // The lab's own handler (topology.ts) re-raises the signal after its teardown; when it is
        // gone already, this one does, so the exit status still says "killed by signal".
        if (process.listenerCount(sig) === 0) process.kill(process.pid, sig);
      };
      this.onSignal.push([sig, h]);
      process.on(sig, h);
    }
  }

  /**
   * What a run holds, in the lock file: a run killed with SIGKILL cannot give it back itself, so
   * the next DPVS lab (or `lab down`) does, from this record (recoverAbandonedDpvsLab).
   */
  writeLockRecord(): void {
    const record: LockRecord = { pid: process.pid, dir: this.dir, hugepagesBefore: this.hugepagesBefore };
    writeFileSync(dpvsLockFile(), JSON.stringify(record) + '\n');
  }

  private reserveHugepages(): void {
    const before = nrHugepages();
    const free = freeHugepages();
    if (free >= DPVS_HUGEPAGES) return;
    this.hugepagesBefore = before;
    // Recorded before the kernel is asked, so a kill right after still has it put back.
    this.writeLockRecord();
    try {
      writeFileSync(NR_HUGEPAGES, String(before + DPVS_HUGEPAGES - free));
    } catch (e) {
      throw new EnvironmentError(`cannot reserve ${DPVS_HUGEPAGES} hugepages for DPVS (${NR_HUGEPAGES}): ${(e as Error).message}`);
    }
    const got = freeHugepages();
    if (got < DPVS_HUGEPAGES) {
      throw new EnvironmentError(`DPVS needs ${DPVS_HUGEPAGES} free 2 MiB hugepages, the kernel gave ${got} (memory too fragmented or too small; free memory or reserve them at boot)`);
    }
  }

  /** argv that starts DPVS in the director namespace with /run private to it. */
  dpvsArgv(clientIface: string, rsIface: string, filePrefix: string): string[] {
    const { dpvs } = this.binaries;
    // `ip netns exec` gives the command its own mount namespace: the bind mount is seen by DPVS only.
    const script = 'mount --bind "$1" /run && shift && exec "$@"';
    return ['sh', '-c', script, 'sh', this.runDir, dpvs, '-c', this.confFile, '-p', this.pidFile, '-x', this.ipcFile, '--', ...ealArgs(clientIface, rsIface, filePrefix)];
  }

  started(pid: number): void {
    this.pid = pid;
  }

  /** Run one dpip/ipvsadm command against this DPVS (its control socket); returns stdout. */
  control(c: DpvsCommand): string {
    const bin = c.tool === 'dpip' ? this.binaries.dpip : this.binaries.ipvsadm;
    try {
      return execFileSync(bin, c.args, { encoding: 'utf8', env: { ...process.env, DPVS_IPC_FILE: this.ipcFile }, stdio: ['ignore', 'pipe', 'pipe'], timeout: 10_000 });
    } catch (e) {
      const err = e as { stderr?: string; message: string };
      throw new EnvironmentError(`DPVS refused \`${c.tool} ${c.args.join(' ')}\`: ${(err.stderr ?? '').trim() || err.message}`);
    }
  }

  /** Stop DPVS if still running (SIGKILL: its own exit path is not needed, nothing persists). */
  killDpvs(): void {
    const pid = this.pid;
    if (pid === null) return;
    this.pid = null;
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      return;
    }
    // Hugepages are given back only once the process has finished dying.
    for (let i = 0; i < 100 && processAlive(pid) && !isZombie(pid); i++) sleepSync(30);
  }

  /** Give back everything (idempotent; synchronous so exit and signal handlers can call it). */
  release(): void {
    if (this.released) return;
    this.released = true;
    this.killDpvs();
    rmSync(this.dir, { recursive: true, force: true });
    if (this.hugepagesBefore !== null) {
      try {
        writeFileSync(NR_HUGEPAGES, String(this.hugepagesBefore));
      } catch {
        /* nothing more can be done on the way out */
      }
    }
    rmSync(dpvsLockFile(), { force: true });
    process.removeListener('exit', this.onExit);
    for (const [sig, h] of this.onSignal) process.removeListener(sig, h);
  }
}

function isZombie(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) === 'Z';
  } catch {
    return true;
  }
}

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** The lock file's content: who holds the DPVS lab and what it must give back. */
export interface LockRecord {
  pid: number;
  /** The run's runtime directory (dpvs.conf inside: DPVS's argv names it). */
  dir: string;
  /** nr_hugepages before the run reserved some; null when it reserved none. */
  hugepagesBefore: number | null;
}

function readLockRecord(file: string): LockRecord | null {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return null;
  }
  try {
    const r = JSON.parse(text) as Partial<LockRecord>;
    if (typeof r.pid === 'number' && typeof r.dir === 'string') return { pid: r.pid, dir: r.dir, hugepagesBefore: typeof r.hugepagesBefore === 'number' ? r.hugepagesBefore : null };
  } catch {
    /* a lock written before its record (just its pid) */
  }
  const pid = Number.parseInt(text, 10);
  return Number.isInteger(pid) && pid > 0 ? { pid, dir: '', hugepagesBefore: null } : null;
}

/** Processes whose argv names `conf` (the DPVS of one run: `dpvs -c <dir>/dpvs.conf …`). */
function processesNaming(conf: string): number[] {
  const out: number[] = [];
  for (const n of readdirSync('/proc')) {
    if (!/^\d+$/.test(n)) continue;
    try {
      if (readFileSync(`/proc/${n}/cmdline`, 'utf8').split('\0').includes(conf)) out.push(Number(n));
    } catch {
      /* gone meanwhile */
    }
  }
  return out;
}

/**
 * Give back what a DPVS lab whose process is gone (SIGKILL, a crash) still holds: its DPVS
 * (found by its own dpvs.conf path), runtime directory and hugepages, and its lock. Nothing when
 * no lock exists or its holder lives. Returns what was done, for `lab down`.
 */
export function recoverAbandonedDpvsLab(): string[] {
  const file = dpvsLockFile();
  const r = readLockRecord(file);
  if (r === null || (processAlive(r.pid) && !isZombie(r.pid))) return [];
  const done: string[] = [];
  if (r.dir.startsWith(join(tmpdir(), 'lvsaudit-dpvs-'))) {
    for (const pid of processesNaming(join(r.dir, 'dpvs.conf'))) {
      try {
        process.kill(pid, 'SIGKILL');
        done.push(`killed DPVS ${pid}`);
      } catch {
        /* gone meanwhile */
      }
      for (let i = 0; i < 100 && processAlive(pid) && !isZombie(pid); i++) sleepSync(30);
    }
    if (existsSync(r.dir)) {
      rmSync(r.dir, { recursive: true, force: true });
      done.push(`removed ${r.dir}`);
    }
  }
  if (r.hugepagesBefore !== null) {
    try {
      writeFileSync(NR_HUGEPAGES, String(r.hugepagesBefore));
      done.push(`nr_hugepages back to ${r.hugepagesBefore}`);
    } catch {
      /* not root: the lab could not have reserved them either */
    }
  }
  rmSync(file, { force: true });
  done.push(`removed lock of pid ${r.pid}`);
  return done;
}

/** Take the host-wide DPVS lab lock; a lock whose holder has died is taken over. */
function takeLabLock(): void {
  const file = dpvsLockFile();
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(file, constants.O_CREAT | constants.O_EXCL | constants.O_WRONLY, 0o644);
      writeFileSync(fd, `${process.pid}\n`);
      closeSync(fd);
      return;
    } catch (e) {
      if ((e as { code?: string }).code !== 'EEXIST') throw new EnvironmentError(`DPVS lab lock ${file}: ${(e as Error).message}`);
      const holder = readLockRecord(file)?.pid ?? NaN;
      if (Number.isInteger(holder) && holder > 0 && processAlive(holder) && !isZombie(holder)) {
        throw new EnvironmentError(`another DPVS lab is running (pid ${holder}, lock ${file}): one at a time, DPVS busy-polls CPU 0`);
      }
      recoverAbandonedDpvsLab();
      rmSync(file, { force: true });
    }
  }
  throw new EnvironmentError(`DPVS lab lock ${file}: could not be taken`);
}

/** DPVS's "ready" line: the master lcore entered its loop (scheduler.c names the role `lcre_role_master`). */
const READY = /enter lc\w*_role_master loop/;

/** The DPVS director in the shared lab sequence. */
export function dpvsDriver(rt: DpvsRuntime): DirectorDriver {
  return {
    kind: 'dpvs',
    addressed: false,
    directorCapture: 'per-port',
    async configure(t, c) {
      // An IPv6 lab enables IPv6 in every namespace: the director's kernel would then send its own
      // router solicitations and MLD reports from DPVS's MAC on DPVS's ports.
      if (t.addr.family === 6) nsBatch(t.lab, [[t.director, ['sysctl', '-q', '-w', 'net.ipv6.conf.eth0.disable_ipv6=1', 'net.ipv6.conf.eth1.disable_ipv6=1']]]);
      const p: LabProcess = t.lab.spawn(t.director, withFloodRings(rt.dpvsArgv('eth0', 'eth1', t.lab.prefix.replace(/-$/, '')), c));
      rt.started(p.child.pid ?? 0);
      try {
        await p.waitForOutput(READY, 30_000);
        for (let i = 0; i < 100 && !existsSync(rt.ipcFile); i++) await new Promise((r) => setTimeout(r, 50));
        if (!existsSync(rt.ipcFile)) throw new Error(`no control socket ${rt.ipcFile}`);
      } catch (e) {
        const tail = (p.stdout() + p.stderr()).trim().split('\n').slice(-5).join(' | ');
        rt.killDpvs();
        throw new EnvironmentError(`DPVS did not start (${rt.binaries.origin}): ${(e as Error).message.split('\n')[0]}; last output: ${tail}`);
      }
      const service = caseServiceConfig(c);
      const commands = dpvsCommands(service, `${c.id}/service.conf`);
      for (const cmd of commands) rt.control(cmd);
      const exhaustion = lipExhaustion(t, c, rt);
      const shown = (args: string[]): string => {
        try {
          return rt.control({ tool: 'ipvsadm', args });
        } catch (e) {
          return `(${(e as Error).message})\n`;
        }
      };
      return {
        async finish(dir) {
          const list = shown(['-L', '-n']);
          const conns = shown(['-L', '-n', '-c']);
          const laddr = shown(['-G']);
          writeFileSync(join(dir, 'ipvsadm-list.txt'), list);
          writeFileSync(join(dir, 'ipvsadm-conns.txt'), conns);
          writeFileSync(join(dir, 'ipvsadm-laddr.txt'), laddr);
          writeFileSync(join(dir, 'dpvs-commands.txt'), commands.map((x) => `${x.tool} ${x.args.join(' ')}`).join('\n') + '\n');
          writeFileSync(join(dir, 'dpvs.log'), p.stdout() + p.stderr());
          exhaustion?.finish(dir);
          return { serviceConfig: service, facts: { dpvs: rt.binaries.origin, dpvsList: list, dpvsConns: conns } };
        },
        ...(exhaustion ? { beforeClient: exhaustion.beforeClient } : {}),
        async remove() {
          exhaustion?.revert();
          await p.stop('SIGTERM', 2000);
          rt.killDpvs();
        },
      };
    },
  };
}

export interface DpvsCaseOptions {
  scheduler?: string;
  /** `--fault` words. */
  faults?: readonly string[];
  connections?: number;
  /**
   * The profile verify checks DPVS's captures against (default dpvs). DPVS behaves as it does
   * whatever this says: alibaba is how a user whose TOA reader expects Alibaba's placement
   * would audit it (the mismatch verify must report).
   */
  profile?: string;
  /** IPv6 client LAN and VIP (default 4). */
  family?: LabFamily;
  /** With family 6: IPv4 real servers and LIP (NAT64). */
  nat64?: boolean;
  /** Seconds of persistence of the service (sequence.ts labCase; 0: not persistent). */
  persistence?: number;
  /** The UDP service instead of the HTTP one (sequence.ts labCase). */
  udp?: boolean;
}

/** A FullNAT case for DPVS. */
export function dpvsCase(mode: LabMode, o: DpvsCaseOptions = {}): LabCase {
  const profile = o.profile ?? 'dpvs';
  checkProfile(mode, profile);
  // NAT64's bypass router would join an IPv6 client LAN to an IPv4 real-server LAN.
  if (o.nat64 === true && (o.faults ?? []).length > 0) throw new InputError('--director dpvs: no faults with --nat64 (its bypass router would join an IPv6 LAN to an IPv4 one)');
  const faults = parseLabFaults('dpvs', mode, o.faults ?? []);
  // lip-exhausted floods IPv4 SYNs from the one IPv4 client.
  if (o.family === 6 && faults.director.length > 0) throw new InputError(`--director dpvs --family 6: --fault ${faults.director.join(', ')} is IPv4 only`);
  return labCase(mode, {
    scheduler: exhaustionScheduler(faults, o.scheduler) ?? o.scheduler ?? 'rr',
    faults,
    profile,
    ...(o.connections !== undefined ? { connections: o.connections } : {}),
    ...(o.family !== undefined ? { family: o.family } : {}),
    ...(o.nat64 === true ? { nat64: true } : {}),
    ...(o.persistence !== undefined ? { persistence: o.persistence } : {}),
    ...(o.udp === true ? { udp: true } : {}),
  });
}

export interface RunDpvsCaseOptions extends RunLabCaseOptions {
  /** Where DPVS puts a UDP client's address (dpvs.conf uoa_mode; default ipo). */
  uoaMode?: UoaMode;
}

/** One DPVS case in a lab of its own; lock, hugepages and runtime are released before it returns or throws. */
export async function runDpvsCase(binaries: DpvsBinaries, c: LabCase, outDir: string, o: RunDpvsCaseOptions = {}): Promise<LabCaseResult> {
  const rt = DpvsRuntime.acquire(binaries, { ipv6: (c.family ?? 4) === 6, ...(o.uoaMode !== undefined ? { uoaMode: o.uoaMode } : {}) });
  try {
    return await runLabCase(dpvsDriver(rt), c, outDir, o);
  } finally {
    rt.release();
  }
}
