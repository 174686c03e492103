/**
 * Host side of `lab run --director ipvs`: pick the kernel, build/reuse the initramfs, write the
 * job into the results directory, boot the VM (which runs src/lab/vm/guest.ts under that
 * kernel; the guest runs the shared lab sequence up to its teardown), then run the sequence's
 * verify step on every case's captures against the service the kernel itself reports
 * (`ipvsadm -Sn`), and compare with the expected outcome.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { EnvironmentError } from '../../errors.js';
import { PACKAGE, distFile } from '../../package-root.js';
import { expectedFor, kernelConnections, type ExpectedOutcome, type IpvsFacts } from '../ipvs-director.js';
import { verifyCaptures, type DeviceOffloads, type LabCase, type LabOffloads } from '../sequence.js';
import type { ConnectionResult } from '../services.js';
import { addressPlan } from '../plan.js';
import type { VerifyResult } from '../../verify/model/result.js';
import type { GuestJob, GuestReport } from './guest.js';
import { GUEST_MODULES, GUEST_OUT, buildInitramfs, findStaticBusybox } from './initramfs.js';
import { resolveKernel, type KernelChoice } from './kernel.js';
import { LAB_MODULES, loadOrder, readModuleIndex, schedulerModule } from './kmod.js';
import { findQemu, INSTALL_QEMU_HINT, QEMU, runVm, type Accel } from './qemu.js';
import { labUnavailableReason } from '../netns.js';

const repoRoot = PACKAGE.root;

/** The compiled guest runner the VM executes (the VM runs plain node, never TypeScript). */
export function guestScript(): string {
  return distFile('lab', 'vm', 'guest.js');
}

/** Paths the guest cannot see through the root export (its own mounts cover them). */
function hiddenInGuest(path: string): boolean {
  return ['/proc', '/sys', '/dev', '/run'].some((p) => path === p || path.startsWith(`${p}/`));
}

/**
 * Why the IPVS VM lab cannot run here (exit 4 material), or null. Checks root/netns (the guest
 * uses the host's tools), qemu, a static busybox and an installed IPVS kernel.
 */
export function ipvsLabUnavailableReason(opts: { kernel?: string; modules?: string } = {}): string | null {
  if (findQemu() === null) return `${QEMU} not found: ${INSTALL_QEMU_HINT}`;
  const lab = labUnavailableReason();
  if (lab !== null) return lab;
  try {
    findStaticBusybox();
    resolveKernel(opts);
  } catch (e) {
    return e instanceof Error ? e.message : String(e);
  }
  for (const tool of ['ipvsadm', 'tcpdump']) {
    if (!(process.env.PATH ?? '').split(':').some((d) => d && existsSync(join(d, tool)))) {
      return `${tool} not found on the host (the VM runs the host's userspace): apt-get install ${tool}`;
    }
  }
  if (!existsSync(guestScript())) return `${guestScript()} missing: build the project first (npm run build)`;
  return null;
}

export interface IpvsLabOptions {
  cases: LabCase[];
  /** Results directory on the host (default: a new directory under the system temp dir). */
  outDir?: string;
  kernel?: string;
  modules?: string;
  accel?: Accel | 'auto';
  /** Kill the VM after this long (default 90 s + 60 s per case). */
  timeoutMs?: number;
  /** Progress lines (guest marks and host steps). */
  onProgress?: (line: string) => void;
  /** Run verify on the captures (default true). */
  verify?: boolean;
  /** NIC offloads of the lab's veths inside the VM (default off; sequence.ts offloadPlan). */
  offloads?: LabOffloads;
}

export interface LabCaseResult {
  case: LabCase;
  dir: string;
  /** Capture files by point, host paths. */
  captures: Record<string, string>;
  connections: ConnectionResult[];
  /** Guest-side failure (the case could not run), else null. */
  error: string | null;
  durationMs: number;
  ipvsadmStats: string;
  /** Connections IPVS scheduled per RIP:port, from `ipvsadm -Ln --stats` (the kernel's count). */
  kernelConns: Record<string, number>;
  /** The kernel's own decision per client port, from `ipvsadm -Lnc`: port -> RIP:port. */
  kernelSchedule: Record<number, string>;
  verify: VerifyResult | null;
  expected: ExpectedOutcome;
  /** Differences between the verify result and the expected outcome (empty = as expected). */
  mismatches: string[];
  /** With offloads on: the devices' offload switches as the guest kernel reported them. */
  offloadState: Record<string, DeviceOffloads> | null;
}

export interface IpvsLabResult {
  kernel: KernelChoice;
  /** NIC offloads of the lab's veths in this run. */
  offloads: LabOffloads;
  guestKernel: string | null;
  accel: Accel;
  kvmNote: string | null;
  /** VM spawn -> guest userspace mounted. */
  bootMs: number | null;
  /** Guest userspace -> power-off (cases run here). */
  runMs: number | null;
  totalMs: number;
  outDir: string;
  consoleLog: string;
  moduleErrors: string[];
  cases: LabCaseResult[];
}

/** Connections per destination from `ipvsadm -Ln --stats` (the "Conns" column of `->` lines). */
export function parseStatsConns(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of text.split('\n')) {
    const m = /^\s+->\s+(\S+)\s+(\d+)[KMG]?\s/.exec(line);
    if (m?.[1] && m[2]) out[m[1]] = Number.parseInt(m[2], 10);
  }
  return out;
}

function compare(r: VerifyResult, exp: ExpectedOutcome): string[] {
  const problems: string[] = [];
  const errorRules = new Set(r.findings.filter((f) => f.severity === 'error').map((f) => f.rule));
  if (r.verdict !== exp.verdict) {
    problems.push(`verdict ${r.verdict}, expected ${exp.verdict}${errorRules.size ? ` (errors: ${[...errorRules].join(', ')})` : ''}`);
  }
  const reported = new Set(r.findings.filter((f) => f.severity !== 'info').map((f) => f.rule));
  for (const rule of exp.rules) if (!reported.has(rule)) problems.push(`expected rule ${rule} not reported`);
  return problems;
}

/**
 * Every connection verify attributes to a real server must be the one the kernel's connection
 * table names for that client port (an oracle independent of our correlation).
 */
function compareSchedule(r: VerifyResult, kernel: Record<number, string>): string[] {
  const problems: string[] = [];
  for (const c of r.connections ?? []) {
    // The client's port is in the connection label ("tcp CLIENT:PORT -> VIP:PORT"); `client`
    // is the address alone.
    const end = /^\S+ (\S+) ->/.exec(c.conn)?.[1] ?? '';
    const port = Number(end.slice(end.lastIndexOf(':') + 1));
    const k = kernel[port];
    if (k === undefined || c.realServer === null) continue;
    const rip = k.slice(0, k.lastIndexOf(':')).replace(/^\[(.*)\]$/, '$1');
    if (!c.realServer.startsWith(rip)) problems.push(`client port ${port}: verify says ${c.realServer}, the kernel scheduled ${k}`);
  }
  return problems;
}

/** `insmod` lines for the lab modules in dependency order (paths as the guest sees them). */
function insmodLines(hostDir: string, guestDir: string, cases: readonly LabCase[]): string[] {
  const index = readModuleIndex(hostDir);
  const schedulers = [...new Set(cases.map((c) => schedulerModule(c.scheduler)))];
  const { order } = loadOrder(index, [...LAB_MODULES, ...schedulers]);
  return order.map((m) => `[ -d /sys/module/${m} ] || insmod ${join(guestDir, index.files.get(m)!)}`);
}

/** Boot the VM once, run every case through the kernel's IPVS, verify the captures. */
export async function runIpvsLab(opts: IpvsLabOptions): Promise<IpvsLabResult> {
  const say = opts.onProgress ?? ((): void => undefined);
  if (findQemu() === null) throw new EnvironmentError(`${QEMU} not found: ${INSTALL_QEMU_HINT}`);
  const labReason = labUnavailableReason();
  if (labReason !== null) throw new EnvironmentError(labReason);
  const kernel = resolveKernel({ kernel: opts.kernel, modules: opts.modules });
  if (!existsSync(guestScript())) throw new EnvironmentError(`${guestScript()} missing: build the project first (npm run build)`);
  if (hiddenInGuest(repoRoot)) throw new EnvironmentError(`the repository (${repoRoot}) lies under a path the VM mounts over`);
  const outDir = resolve(opts.outDir ?? mkdtempSync(join(tmpdir(), 'lvsaudit-ipvs-')));
  mkdirSync(outDir, { recursive: true });

  const t0 = Date.now();
  const initrd = buildInitramfs(kernel.modulesDir);
  say(`initramfs ${initrd.built ? 'built' : 'cached'}: ${initrd.path} (${Date.now() - t0} ms)`);

  // The default modules tree is visible through the root export; any other gets its own export.
  const exportModules = kernel.modulesDir !== join('/lib/modules', kernel.release);
  const job: GuestJob = {
    version: 1,
    modulesDir: exportModules ? GUEST_MODULES : kernel.modulesDir,
    outDir: GUEST_OUT,
    cases: opts.cases,
    ...(opts.offloads !== undefined ? { offloads: opts.offloads } : {}),
  };
  writeFileSync(join(outDir, 'job.json'), JSON.stringify(job, null, 2) + '\n');
  writeFileSync(
    join(outDir, 'run.sh'),
    [
      '#!/bin/sh',
      '# Written by lvsaudit; run by the VM /init in a chroot of the host root.',
      'export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
      'export HOME=/run/lvsa/tmp TMPDIR=/run/lvsa/tmp',
      'cd /run/lvsa/tmp',
      `echo "lvsa: guest userspace $(cut -d' ' -f1 /proc/uptime)"`,
      // Loading modules from the shell is much cheaper than from node under an emulated CPU;
      // the guest runner loads whatever is still missing and reports failures.
      'echo 1 > /proc/sys/net/core/fb_tunnels_only_for_init_net 2>/dev/null',
      ...insmodLines(kernel.modulesDir, exportModules ? GUEST_MODULES : kernel.modulesDir, opts.cases),
      `echo "lvsa: modules $(cut -d' ' -f1 /proc/uptime)"`,
      `exec ${process.execPath} ${guestScript()} ${GUEST_OUT}/job.json`,
      '',
    ].join('\n'),
    { mode: 0o755 },
  );

  let runStart: number | null = null;
  const vmStart = Date.now();
  const vm = await runVm({
    kernel: kernel.kernel,
    initrd: initrd.path,
    outDir,
    ...(exportModules ? { modulesDir: kernel.modulesDir } : {}),
    accel: opts.accel ?? 'auto',
    timeoutMs: opts.timeoutMs ?? 90_000 + 60_000 * opts.cases.length,
    onLine: (line) => {
      const at = line.indexOf('lvsa:');
      if (at < 0) return;
      const msg = line.slice(at + 5).trim();
      if (msg.startsWith('mounted')) {
        runStart = Date.now();
        say(`booted (${runStart - vmStart} ms)`);
      } else if (!msg.startsWith('initramfs')) say(msg);
    },
  });
  const vmEnd = Date.now();
  if (vm.bootMs === null) {
    throw new EnvironmentError(
      `the VM did not boot (${vm.timedOut ? 'timed out' : `qemu exit ${vm.exitCode}`}, accel ${vm.accel}); see ${vm.consoleLog}`,
    );
  }
  const reportFile = join(outDir, 'guest.json');
  if (!existsSync(reportFile)) {
    throw new EnvironmentError(
      `the VM ended without a report (${vm.timedOut ? 'timed out' : `qemu exit ${vm.exitCode}`}); see ${vm.consoleLog}`,
    );
  }
  const report = JSON.parse(readFileSync(reportFile, 'utf8')) as GuestReport;

  const cases: LabCaseResult[] = [];
  for (const c of opts.cases) {
    const dir = join(outDir, c.id);
    const status = report.cases.find((s) => s.id === c.id);
    const expected = expectedFor(c);
    const base = { case: c, dir, expected, durationMs: status?.durationMs ?? 0 };
    if (!status || !status.ok || !existsSync(join(dir, 'case.json'))) {
      cases.push({
        ...base,
        captures: {},
        connections: [],
        error: status?.error ?? 'case did not run',
        ipvsadmStats: '',
        kernelConns: {},
        kernelSchedule: {},
        verify: null,
        mismatches: ['case did not run'],
        offloadState: null,
      });
      continue;
    }
    const saved = JSON.parse(readFileSync(join(dir, 'case.json'), 'utf8')) as {
      captures: Record<string, string>;
      connections: ConnectionResult[];
      serviceConfig: string;
      facts: IpvsFacts;
      clientBasePort: number;
      offloadState?: Record<string, DeviceOffloads> | null;
    };
    // The guest wrote guest paths; the same files are in `dir` on the host.
    const captures: Record<string, string> = {};
    for (const point of Object.keys(saved.captures)) captures[point] = join(dir, `${point}.pcap`);
    const family = c.family ?? 4;
    const v = opts.verify === false ? null : await verifyCaptures(captures, saved.serviceConfig, c.profile, family);
    const kernelSchedule = kernelConnections(saved.facts.ipvsadmConns, addressPlan(family).client, saved.clientBasePort, c.connections);
    const mismatches = v ? [...compare(v, expected), ...compareSchedule(v, kernelSchedule)] : [];
    cases.push({
      ...base,
      captures,
      connections: saved.connections,
      error: null,
      ipvsadmStats: saved.facts.ipvsadmStats,
      kernelConns: parseStatsConns(saved.facts.ipvsadmStats),
      kernelSchedule,
      verify: v,
      mismatches,
      offloadState: saved.offloadState ?? null,
    });
  }
  return {
    kernel,
    offloads: opts.offloads ?? 'off',
    guestKernel: report.kernelRelease,
    accel: vm.accel,
    kvmNote: vm.kvmNote,
    bootMs: vm.bootMs,
    runMs: runStart !== null ? vmEnd - runStart : null,
    totalMs: Date.now() - t0,
    outDir,
    consoleLog: vm.consoleLog,
    moduleErrors: report.moduleErrors,
    cases,
  };
}
