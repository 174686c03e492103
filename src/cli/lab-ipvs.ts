/**
 * `lvsaudit lab run --director ipvs`: the lab with a real kernel's IPVS as the director, run in
 * a QEMU VM (src/lab/vm). Exported as a function the `lab` command calls for `--director ipvs`
 * (alias `ipvs-vm`, the spelling in cli.md), plus a registrar for a stand-alone `lab` command
 * while no other module owns it.
 */
import type { Command } from 'commander';
import { InputError } from '../errors.js';
import type { CommandRegistrar } from './registrar.js';
import { FAULT_MODES, IPVS_FAULTS, IPVS_MODES, ipvsCase, type IpvsCase, type IpvsFault, type IpvsMode } from '../lab/ipvs-director.js';
import { runIpvsLab, type IpvsLabResult } from '../lab/vm/run.js';

export interface LabIpvsOptions {
  /** Modes (nat, dr, tun); several run in one VM boot. */
  mode: string[];
  scheduler?: string[];
  fault?: string[];
  connections?: number;
  kernel?: string;
  modules?: string;
  out?: string;
  /** Run verify on the captures (default true). */
  verify?: boolean;
  accel?: string;
  /** Seconds before the VM is killed. */
  timeout?: number;
  format?: 'text' | 'json';
}

const SCHEDULER_RE = /^[a-z]{2,8}$/;

function splitList(values: readonly string[] | undefined): string[] {
  return (values ?? []).flatMap((v) => v.split(',')).map((v) => v.trim()).filter((v) => v.length > 0);
}

/** The cases an option set asks for: modes × schedulers, or × faults (those that apply to the mode). */
export function casesFromOptions(o: LabIpvsOptions): IpvsCase[] {
  const modes = splitList(o.mode);
  if (modes.length === 0) throw new InputError('--mode is required (nat, dr, tun)');
  for (const m of modes) if (!IPVS_MODES.includes(m as IpvsMode)) throw new InputError(`--mode ${m}: expected nat, dr or tun (fullnat needs an ALI/DPVS director, not mainline IPVS)`);
  const schedulers = splitList(o.scheduler);
  if (schedulers.length === 0) schedulers.push('rr');
  for (const s of schedulers) if (!SCHEDULER_RE.test(s)) throw new InputError(`--scheduler ${s}: not a scheduler name`);
  const faults = splitList(o.fault);
  for (const f of faults) if (!IPVS_FAULTS.includes(f as IpvsFault)) throw new InputError(`--fault ${f}: expected one of ${IPVS_FAULTS.join(', ')}`);
  if (o.connections !== undefined && (!Number.isInteger(o.connections) || o.connections < 1 || o.connections > 50)) {
    throw new InputError('--connections must be an integer from 1 to 50');
  }
  const cases: IpvsCase[] = [];
  for (const m of modes as IpvsMode[]) {
    for (const s of schedulers) {
      if (faults.length === 0) cases.push(ipvsCase(m, s, null, o.connections));
      for (const f of faults as IpvsFault[]) if (FAULT_MODES[f].includes(m)) cases.push(ipvsCase(m, s, f, o.connections));
    }
  }
  if (cases.length === 0) {
    throw new InputError(`--fault ${faults.join(',')} does not apply to --mode ${modes.join(',')} (${faults.map((f) => `${f}: ${FAULT_MODES[f as IpvsFault].join('/')}`).join('; ')})`);
  }
  return cases;
}

function seconds(ms: number | null): string {
  return ms === null ? '?' : `${(ms / 1000).toFixed(1)} s`;
}

function rsName(ripPort: string): string {
  return ripPort.startsWith('10.0.0.11:') ? 'rs1' : ripPort.startsWith('10.0.0.12:') ? 'rs2' : ripPort;
}

/** Human summary of a run. */
export function renderIpvsText(r: IpvsLabResult): string {
  const lines: string[] = [];
  lines.push(
    `kernel ${r.guestKernel ?? r.kernel.release} (${r.kernel.kernel}), accel ${r.accel}${r.kvmNote ? ` (${r.kvmNote})` : ''}`,
    `boot ${seconds(r.bootMs)}, run ${seconds(r.runMs)}, total ${seconds(r.totalMs)}; results in ${r.outDir}`,
  );
  if (r.moduleErrors.length) lines.push(`module errors: ${r.moduleErrors.join('; ')}`);
  lines.push('');
  const w = Math.max(4, ...r.cases.map((c) => c.case.id.length));
  lines.push(`${'case'.padEnd(w)}  answered  kernel schedule (ipvsadm -Lnc)   verify  expected`);
  for (const c of r.cases) {
    const answered = c.error ? 'error' : `${c.connections.filter((x) => x.ok).length}/${c.connections.length}`;
    const sched = Object.keys(c.kernelSchedule)
      .map(Number)
      .sort((a, b) => a - b)
      .map((p) => rsName(c.kernelSchedule[p]!))
      .join(' ');
    const verdict = c.verify?.verdict ?? (c.error ? 'error' : '-');
    const exp = `${c.expected.verdict}${c.mismatches.length === 0 ? ' (as expected)' : ' MISMATCH'}`;
    lines.push(`${c.case.id.padEnd(w)}  ${answered.padEnd(8)}  ${(sched || '-').padEnd(31)}  ${verdict.padEnd(6)}  ${exp}`);
  }
  for (const c of r.cases) {
    if (c.error) lines.push('', `${c.case.id}: could not run: ${c.error}`);
    const errors = c.verify?.findings.filter((f) => f.severity === 'error') ?? [];
    if (errors.length) {
      lines.push('', `${c.case.id}: ${[...new Set(errors.map((f) => f.rule))].join(', ')}`);
      for (const f of errors.slice(0, 4)) lines.push(`  ${f.rule}: ${f.message}`);
      if (errors.length > 4) lines.push(`  … ${errors.length - 4} more`);
    }
    for (const m of c.mismatches) lines.push(`${c.case.id}: ${m}`);
  }
  return lines.join('\n') + '\n';
}

/** JSON document of a run (verify results without ladders, to keep it readable). */
export function renderIpvsJson(r: IpvsLabResult): string {
  return (
    JSON.stringify(
      {
        tool: 'lvsaudit',
        director: 'ipvs',
        kernel: { release: r.guestKernel, path: r.kernel.kernel, modules: r.kernel.modulesDir },
        accel: r.accel,
        kvmNote: r.kvmNote,
        bootMs: r.bootMs,
        runMs: r.runMs,
        totalMs: r.totalMs,
        outDir: r.outDir,
        cases: r.cases.map((c) => ({
          id: c.case.id,
          case: c.case,
          dir: c.dir,
          error: c.error,
          connections: c.connections,
          kernelSchedule: c.kernelSchedule,
          kernelConns: c.kernelConns,
          verdict: c.verify?.verdict ?? null,
          findings: c.verify?.findings ?? [],
          rules: c.verify?.rules ?? [],
          expected: c.expected,
          mismatches: c.mismatches,
        })),
      },
      null,
      2,
    ) + '\n'
  );
}

/**
 * Run the IPVS lab and print the result. Returns the exit code: 0 no error finding, 1 an error
 * finding in some case, 2 when a case could not run; EnvironmentError (exit 4) propagates when
 * no VM can run here.
 */
export async function runLabIpvs(o: LabIpvsOptions, write: (s: string) => void = (s) => process.stdout.write(s)): Promise<number> {
  const cases = casesFromOptions(o);
  const accel = o.accel ?? 'auto';
  if (accel !== 'auto' && accel !== 'kvm' && accel !== 'tcg') throw new InputError(`--accel ${accel}: expected auto, kvm or tcg`);
  const started = Date.now();
  const text = o.format !== 'json';
  const r = await runIpvsLab({
    cases,
    ...(o.out !== undefined ? { outDir: o.out } : {}),
    ...(o.kernel !== undefined ? { kernel: o.kernel } : {}),
    ...(o.modules !== undefined ? { modules: o.modules } : {}),
    accel,
    ...(o.timeout !== undefined ? { timeoutMs: o.timeout * 1000 } : {}),
    verify: o.verify !== false,
    onProgress: (line) => {
      // Progress goes to stderr so --format json stays a clean document on stdout.
      process.stderr.write(`[${((Date.now() - started) / 1000).toFixed(1).padStart(6)} s] ${line}\n`);
    },
  });
  write(text ? renderIpvsText(r) : renderIpvsJson(r));
  return labExitCode(r.cases);
}

/** cli.md exit codes for a set of case results: 2 if one could not run, 1 on an error finding, else 0. */
export function labExitCode(cases: IpvsLabResult['cases']): number {
  if (cases.some((c) => c.error !== null)) return 2;
  return cases.some((c) => c.verify?.verdict === 'fail') ? 1 : 0;
}

function collect(v: string, prev: string[] = []): string[] {
  return [...prev, v];
}

/** Add the --director ipvs options to a `lab run` command (for the integrator's lab command). */
export function addIpvsLabOptions(cmd: Command): Command {
  return cmd
    .option('--mode <mode>', 'nat, dr or tun (repeat or comma-separate for several in one VM boot)', collect)
    .option('--scheduler <name>', 'IPVS scheduler(s): rr, wrr, sh, … (default rr)', collect)
    .option('--fault <name>', `real-server fault: ${IPVS_FAULTS.join(', ')}`, collect)
    .option('--connections <n>', 'client connections per case', (v) => Number.parseInt(v, 10))
    .option('--kernel <path>', 'bzImage to boot (default: the installed kernel with IPVS modules)')
    .option('--modules <dir>', 'modules of that kernel (directory with modules.dep, or INSTALL_MOD_PATH)')
    .option('--out <dir>', 'results directory (captures, service.conf, ipvsadm output, console.log)')
    .option('--no-verify', 'only capture; do not run verify')
    .option('--accel <accel>', 'auto (KVM if it works, else TCG), kvm or tcg', 'auto')
    .option('--timeout <seconds>', 'kill the VM after this long', (v) => Number.parseInt(v, 10))
    .option('--format <format>', 'text or json', 'text');
}

/**
 * Stand-alone `lab run` supporting only `--director ipvs|ipvs-vm`. Use it only while no other
 * module registers `lab`; otherwise call runLabIpvs from that command.
 */
export const registerLabIpvs: CommandRegistrar = (program, setExit) => {
  const lab = program.command('lab').description('network-namespace labs with a real director');
  const run = lab
    .command('run')
    .description('run the lab through a director and verify the captures')
    .requiredOption('--director <kind>', 'ipvs (alias ipvs-vm): a real kernel\'s IPVS in a QEMU VM');
  addIpvsLabOptions(run).action(async (opts: LabIpvsOptions & { director: string }) => {
    if (opts.director !== 'ipvs' && opts.director !== 'ipvs-vm') {
      throw new InputError(`--director ${opts.director}: this build's lab command only has ipvs (ipvs-vm)`);
    }
    setExit(await runLabIpvs(opts));
  });
};
