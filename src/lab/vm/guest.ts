/**
 * Guest-side runner: executed by the VM's run.sh (`node dist/lab/vm/guest.js JOB.json`) in a
 * chroot of the host's root filesystem under the VM's kernel. Loads the IPVS modules of that
 * kernel, runs every case of the job through the shared lab sequence with the ipvs director
 * (one LabSession per mode), writes the results into the writable export and returns; /init
 * then syncs and powers off.
 *
 * Progress goes to the serial console as `lvsa: …` lines, which the host prints live.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ipvsDriver } from '../ipvs-director.js';
import { LabSession, type LabCase, type LabOffloads } from '../sequence.js';
import { CONSOLE_MARK } from './initramfs.js';
import { LAB_MODULES, loadOrder, readModuleIndex, schedulerModule } from './kmod.js';

/** What the host asks the guest to do (written as job.json into the results export). */
export interface GuestJob {
  version: 1;
  /** Modules tree of the booted kernel, as the guest sees it. */
  modulesDir: string;
  /** Results directory, as the guest sees it. */
  outDir: string;
  cases: LabCase[];
  /** Per-connection client timeout, ms. */
  clientTimeoutMs?: number;
  /** NIC offloads of the lab's veths (default off; sequence.ts offloadPlan). */
  offloads?: LabOffloads;
}

export interface GuestCaseStatus {
  id: string;
  ok: boolean;
  error: string | null;
  durationMs: number;
}

/** What the guest reports back (guest.json in the results export). */
export interface GuestReport {
  kernelRelease: string;
  loadedModules: string[];
  moduleErrors: string[];
  /** Guest uptime (s) when the runner started and ended. */
  uptimeStart: number;
  uptimeEnd: number;
  cases: GuestCaseStatus[];
}

function uptime(): number {
  return Number.parseFloat(readFileSync('/proc/uptime', 'utf8').split(' ')[0] ?? '0');
}

function say(msg: string): void {
  process.stdout.write(`${CONSOLE_MARK} ${msg}\n`);
}

/** insmod every module `wanted` needs, in dependency order; already-loaded ones are skipped. */
function loadModules(modulesDir: string, wanted: readonly string[]): { loaded: string[]; errors: string[] } {
  const index = readModuleIndex(modulesDir);
  const { order, missing } = loadOrder(index, wanted);
  const loaded: string[] = [];
  const errors: string[] = [];
  for (const m of order) {
    if (existsSync(`/sys/module/${m}`)) continue;
    try {
      execFileSync('insmod', [join(modulesDir, index.files.get(m)!)], { stdio: ['ignore', 'ignore', 'pipe'] });
      loaded.push(m);
    } catch (e) {
      errors.push(`insmod ${m}: ${String((e as { stderr?: Buffer }).stderr ?? e).trim()}`);
    }
  }
  // A module that is neither in modules.dep nor loaded may be built in (no modules.builtin).
  for (const m of missing) if (!existsSync(`/sys/module/${m}`)) errors.push(`${m}: not in ${modulesDir}/modules.dep (built in?)`);
  return { loaded, errors };
}

export async function runGuestJob(job: GuestJob): Promise<GuestReport> {
  const uptimeStart = uptime();
  const kernelRelease = readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim();
  const schedulers = [...new Set(job.cases.map((c) => schedulerModule(c.scheduler)))];
  // Before the first namespace exists: keep ipip's idle tunl0 out of every lab namespace.
  try {
    writeFileSync('/proc/sys/net/core/fb_tunnels_only_for_init_net', '1');
  } catch {
    /* older kernel: the lab brings tunl0 up instead */
  }
  const mods = loadModules(job.modulesDir, [...LAB_MODULES, ...schedulers]);
  say(`modules ${mods.loaded.length} loaded${mods.errors.length ? `, ${mods.errors.length} errors: ${mods.errors.join('; ')}` : ''} (${uptime()} s)`);
  const cases: GuestCaseStatus[] = [];
  const ipvsReady = existsSync('/proc/net/ip_vs');
  // One topology per mode and address family, cases of that kind in the order given.
  const kinds = [...new Set(job.cases.map((c) => `${c.mode}/${c.family ?? 4}`))];
  for (const kind of kinds) {
    const group = job.cases.filter((c) => `${c.mode}/${c.family ?? 4}` === kind);
    const mode = group[0]!.mode;
    const family = group[0]!.family ?? 4;
    let session: LabSession | null = null;
    let openError: string | null = null;
    const t0 = Date.now();
    try {
      if (!ipvsReady) throw new Error(`kernel ${kernelRelease} has no IPVS (/proc/net/ip_vs missing): ${mods.errors.join('; ')}`);
      // Stage times on the console: where a run under an emulated CPU spends its minutes.
      let last = Date.now();
      const onStage = (s: string): void => {
        say(`  ${s} +${Date.now() - last} ms`);
        last = Date.now();
      };
      session = await LabSession.open(ipvsDriver, mode, {
        timeoutMs: job.clientTimeoutMs ?? 2000,
        ...(job.offloads !== undefined ? { offloads: job.offloads } : {}),
        onStage,
      }, family);
      say(`topology ${mode} ready (${Date.now() - t0} ms)`);
    } catch (e) {
      openError = e instanceof Error ? e.message : String(e);
      say(`topology ${mode} error ${openError}`);
    }
    for (const c of group) {
      const t1 = Date.now();
      try {
        if (session === null) throw new Error(openError ?? 'no topology');
        const r = await session.run(c, join(job.outDir, c.id));
        const ok = r.connections.filter((x) => x.ok).length;
        cases.push({ id: c.id, ok: true, error: null, durationMs: Date.now() - t1 });
        say(`case ${c.id} done: ${ok}/${r.connections.length} connections answered (${Date.now() - t1} ms)`);
      } catch (e) {
        const error = e instanceof Error ? e.message : String(e);
        cases.push({ id: c.id, ok: false, error, durationMs: Date.now() - t1 });
        say(`case ${c.id} error ${error}`);
      }
    }
    await session?.close();
  }
  const report: GuestReport = {
    kernelRelease,
    loadedModules: mods.loaded,
    moduleErrors: mods.errors,
    uptimeStart,
    uptimeEnd: uptime(),
    cases,
  };
  writeFileSync(join(job.outDir, 'guest.json'), JSON.stringify(report, null, 2) + '\n');
  return report;
}

// Entry point when run as a script inside the VM.
const jobPath = process.argv[2];
if (jobPath && process.argv[1] && /guest\.js$/.test(process.argv[1])) {
  const job = JSON.parse(readFileSync(jobPath, 'utf8')) as GuestJob;
  runGuestJob(job).then(
    () => process.exit(0),
    (e: unknown) => {
      say(`fatal ${e instanceof Error ? e.message : String(e)}`);
      process.exit(1);
    },
  );
}
