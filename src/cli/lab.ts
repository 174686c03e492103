/**
 * `lvsaudit lab` (cli.md "lab"):
 *   lab run --director reference|nftables|ipvs|dpvs --mode M [--fault F]... [--profile P] [--out DIR] [--verify]
 *   lab dpvs-build [--dpvs-src DIR]  build DPVS for --director dpvs (cached) and print its programs
 *   lab down [--prefix P]      remove leftovers of labs (namespaces/links named lvsa-…)
 *   lab matrix [--case ID]...  the reference-director matrix as a table (exit 1 on a mismatch)
 *
 * One lab for every director kind: one address plan (src/lab/plan.ts), one fault vocabulary
 * (src/lab/faults.ts), one run sequence (src/lab/sequence.ts). The ipvs kind runs that sequence
 * in a QEMU VM (src/lab/vm); the dpvs kind runs DPVS, built once into a cache (src/lab/dpvs). Exit codes: with --verify verify's (0 no error finding, 1 one);
 * without, 0 once the captures are written; 2 usage; 4 the environment cannot run the lab.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Option, type Command } from 'commander';
import { InputError } from '../errors.js';
import { KNOWN_SCHEDULERS, checkOutputDirectory, checkOutputFile, outputWriteError, parseIntegerOption, parseSchedulerOption } from './options.js';
import type { CommandRegistrar } from './registrar.js';
import { referenceCase, referenceDriver } from '../lab/reference-lab.js';
import { nftablesCase, nftablesDriver } from '../lab/scenarios.js';
import { ipvsCase } from '../lab/ipvs-director.js';
import { dpvsCase, recoverAbandonedDpvsLab, runDpvsCase } from '../lab/dpvs/director.js';
import { dpvsBinaries } from '../lab/dpvs/build.js';
import { DPVS_SCHEDULERS, UOA_MODES, type UoaMode } from '../lab/dpvs/config.js';
import { PERSISTENT_CLIENTS, type LabFamily } from '../lab/plan.js';
import { checkKindMode, DIRECTOR_KINDS, faultLabels, type DirectorKind } from '../lab/faults.js';
import { DEFAULT_PERSISTENCE_S, LAB_OFFLOADS, UDP_DATAGRAMS, labExitCode, runLabCase, type LabCase, type LabCaseResult, type LabOffloads } from '../lab/sequence.js';
import { runIpvsLab, type IpvsLabResult } from '../lab/vm/run.js';
import { labDown } from '../lab/netns.js';
import { MATRIX_CASES, dpvsDisagrees, loadIpvsResults, matrixRows, renderMatrix, runDpvsMatrix, runMatrix } from '../lab/matrix.js';
import { renderMatrixHtml } from '../verify/report/html/matrix.js';
import { describeService, type Service } from '../verify/service/index.js';
import { renderText } from '../verify/report/text.js';
import { renderJson } from '../verify/report/json.js';
import { reportedRules } from '../verify/report/rule-status.js';
import type { VerifyResult } from '../verify/model/result.js';

export interface LabRunOptions {
  director: string;
  /** Modes; several (ipvs only) run in one VM boot. */
  mode: string[];
  profile?: string;
  scheduler?: string[];
  fault?: string[];
  connections?: number;
  /** Address family of the service and LANs: '4' (default) or '6'. */
  family?: string;
  /** dpvs, fullnat: IPv6 clients and VIP, IPv4 real servers and LIP (implies family 6). */
  nat64?: boolean;
  out?: string;
  /** Run verify on the captures and exit with its code. */
  verify?: boolean;
  format?: string;
  kernel?: string;
  modules?: string;
  accel?: string;
  /** Seconds before the VM is killed. */
  timeout?: number;
  /** `on`: the lab's veths keep a host's offloads (sequence.ts offloadPlan); default off. */
  offloads?: string;
  /** dpvs: a DPVS source tree to build and run instead of the shared release. */
  dpvsSrc?: string;
  /** dpvs: an existing DPVS build (dpvs, ipvsadm, dpip). */
  dpvsBin?: string;
  /** reference, dpvs (fullnat): seconds of persistence of the service; 0: not persistent. */
  persistence?: number;
  /** dpvs: the UDP service (UOA) instead of the HTTP one. */
  udp?: boolean;
  /** dpvs with --udp: dpvs.conf uoa_mode. */
  uoaMode?: string;
}

/** The IPVS VM runs a mainline kernel: its schedulers, not DPVS's. */
const IPVS_SCHEDULERS = KNOWN_SCHEDULERS.filter((s) => s !== 'conhash');

const MAX_CONNECTIONS = 50;
/** A persistence of more than a month is a mistyped --persistence. */
const MAX_PERSISTENCE_S = 2678400;
/** A VM run longer than a day is a mistyped --timeout. */
const MAX_TIMEOUT_S = 86400;

function splitList(values: readonly string[] | undefined): string[] {
  return (values ?? []).flatMap((v) => v.split(',')).map((v) => v.trim()).filter((v) => v.length > 0);
}

/** `--director` → kind (`ipvs-vm` is an alias of ipvs). */
export function directorKind(name: string): DirectorKind {
  const kind = name === 'ipvs-vm' ? 'ipvs' : name;
  if (!DIRECTOR_KINDS.includes(kind as DirectorKind)) throw new InputError(`--director '${name}': expected ${DIRECTOR_KINDS.join(', ')} (or ipvs-vm)`);
  return kind as DirectorKind;
}

/** Options that only some kinds understand are usage errors elsewhere (not silently ignored). */
function rejectOptions(kind: DirectorKind, o: LabRunOptions): void {
  const only: Array<[string, unknown, readonly DirectorKind[]]> = [
    ['--scheduler', o.scheduler?.length ? o.scheduler : undefined, ['ipvs', 'dpvs']],
    ['--dpvs-src', o.dpvsSrc, ['dpvs']],
    ['--dpvs-bin', o.dpvsBin, ['dpvs']],
    ['--kernel', o.kernel, ['ipvs']],
    ['--modules', o.modules, ['ipvs']],
    ['--timeout', o.timeout, ['ipvs']],
    ['--accel', o.accel !== undefined && o.accel !== 'auto' ? o.accel : undefined, ['ipvs']],
    ['--profile', o.profile, ['reference', 'dpvs']],
    ['--nat64', o.nat64 === true ? true : undefined, ['dpvs']],
    ['--persistence', o.persistence, ['reference', 'dpvs']],
    ['--udp', o.udp === true ? true : undefined, ['dpvs']],
    ['--uoa-mode', o.uoaMode, ['dpvs']],
  ];
  for (const [name, v, kinds] of only) {
    if (v !== undefined && !kinds.includes(kind)) throw new InputError(`${name} applies to --director ${kinds.join(', ')} only`);
  }
}

/** The cases an option set asks for (checked: InputError on a usage mistake). */
export function casesFromOptions(kind: DirectorKind, o: LabRunOptions): LabCase[] {
  const modes = splitList(o.mode);
  if (modes.length === 0) throw new InputError('--mode is required');
  if (modes.length > 1 && kind !== 'ipvs') throw new InputError(`--director ${kind} runs one --mode at a time (several modes share one VM boot with --director ipvs)`);
  if (o.connections !== undefined && (!Number.isInteger(o.connections) || o.connections < 1 || o.connections > MAX_CONNECTIONS)) {
    throw new InputError(`--connections '${o.connections}': not a whole number of connections in 1..${MAX_CONNECTIONS}`);
  }
  const faults = o.fault ?? [];
  if (o.nat64 === true && o.family !== undefined && o.family !== '6') throw new InputError(`--nat64 is an IPv6 client side (--family 6), not --family ${o.family}`);
  const family = o.nat64 === true ? 6 : parseFamily(o.family);
  if (family === 6 && kind === 'reference') throw new InputError('--family 6: the reference director lab is IPv4 only (IPv6: --director nftables or ipvs for nat and dr, --director dpvs for fullnat and --nat64)');
  const cases: LabCase[] = [];
  for (const m of modes) {
    const mode = checkKindMode(kind, m);
    if (o.nat64 === true && mode !== 'fullnat') throw new InputError(`--nat64: FullNAT only (--mode fullnat), not --mode ${mode}`);
    if (family === 6 && mode !== 'nat' && mode !== 'dr' && !(mode === 'fullnat' && kind === 'dpvs')) throw new InputError(`--family 6: --mode ${mode} has no IPv6 lab (nat, dr; fullnat with --director dpvs)`);
    if (o.persistence !== undefined && mode !== 'fullnat') throw new InputError(`--persistence applies to --mode fullnat`);
    const persistence = o.persistence !== undefined ? { persistence: o.persistence } : {};
    if (kind === 'reference') cases.push(referenceCase(mode, { ...(o.profile !== undefined ? { profile: o.profile } : {}), faults, ...(o.connections !== undefined ? { connections: o.connections } : {}), ...persistence }));
    else if (kind === 'nftables') cases.push(nftablesCase(mode, faults, o.connections, family));
    else if (kind === 'dpvs') {
      const schedulers = splitList(o.scheduler);
      if (schedulers.length > 1) throw new InputError('--director dpvs runs one --scheduler at a time');
      // No --scheduler: the case's default (rr; conhash where a fault needs it).
      const scheduler = schedulers[0] !== undefined ? { scheduler: parseSchedulerOption('--scheduler', schedulers[0], DPVS_SCHEDULERS) } : {};
      cases.push(
        dpvsCase(mode, {
          ...scheduler,
          faults,
          ...(o.connections !== undefined ? { connections: o.connections } : {}),
          ...(o.profile !== undefined ? { profile: o.profile } : {}),
          ...(family === 6 ? { family } : {}),
          ...(o.nat64 === true ? { nat64: true } : {}),
          ...persistence,
          ...(o.udp === true ? { udp: true } : {}),
        }),
      );
    }
    else {
      const schedulers = splitList(o.scheduler);
      if (schedulers.length === 0) schedulers.push('rr');
      for (const s of schedulers) {
        cases.push(ipvsCase(mode, parseSchedulerOption('--scheduler', s, IPVS_SCHEDULERS), faults, o.connections, family));
      }
    }
  }
  return cases;
}

/** `--family` value → 4 or 6 (default 4). */
export function parseFamily(v: string | undefined): LabFamily {
  if (v === undefined || v === '4') return 4;
  if (v === '6') return 6;
  throw new InputError(`--family '${v}': expected 4 or 6`);
}

/** `--uoa-mode` (with --udp only) → dpvs.conf's uoa_mode; absent: DPVS lab's default. */
function parseUoaMode(o: LabRunOptions): UoaMode | undefined {
  if (o.uoaMode === undefined) return undefined;
  if (o.udp !== true) throw new InputError('--uoa-mode applies with --udp');
  if (!UOA_MODES.includes(o.uoaMode as UoaMode)) throw new InputError(`--uoa-mode '${o.uoaMode}': expected ${UOA_MODES.join(' or ')}`);
  return o.uoaMode as UoaMode;
}

/** `--offloads` value → LabOffloads (default off); anything else is a usage error. */
export function parseOffloads(v: string | undefined): LabOffloads {
  if (v === undefined) return 'off';
  if (!LAB_OFFLOADS.includes(v as LabOffloads)) throw new InputError(`--offloads '${v}': expected ${LAB_OFFLOADS.join(' or ')}`);
  return v as LabOffloads;
}

function outDir(o: LabRunOptions): string {
  return o.out !== undefined ? resolve(o.out) : mkdtempSync(join(tmpdir(), 'lvsaudit-lab-'));
}

function serviceLines(r: VerifyResult): string[] {
  const s = r.service;
  if (s === null || s === undefined) return ['none'];
  return (Array.isArray(s) ? s : [s]).map((x) => describeService(x as Service));
}

function verifyText(v: VerifyResult | null): string {
  return v ? `\n${renderText(v, { serviceLines: serviceLines(v) })}` : '';
}

function renderCaseText(r: LabCaseResult, dir: string): string {
  const stats = r.facts.directorStats as { in: number; out: number } | null | undefined;
  const lines = [
    `lab: ${r.kind} director, case ${r.case.id} (mode ${r.case.mode}, profile ${r.case.profile}), prefix ${r.prefix} (removed); took ${(r.durationMs / 1000).toFixed(1)} s`,
    `offloads: ${r.shape.offloads}${r.shape.offloads === 'on' ? ` (responses of ${r.shape.responseBytes} bytes)` : ''}`,
    `faults: ${faultLabels(r.case.faults).join(', ') || 'none'}`,
    ...(stats !== undefined ? [`director frames in/out: ${stats ? `${stats.in}/${stats.out}` : '?'}`] : []),
    ...(typeof r.facts.dpvs === 'string' ? [`dpvs: ${r.facts.dpvs}`] : []),
    'client connections:',
    ...r.connections.map((c) => {
      const datagrams = c.datagrams !== undefined ? ` (${c.answered ?? 0}/${c.datagrams} datagrams answered)` : '';
      return `  ${c.localAddress ?? ''}:${c.localPort} ${c.ok ? `answered by ${c.body}` : `failed (${c.error ?? (c.datagrams !== undefined ? 'not every datagram answered by one server' : 'no HTTP 200')})`}${datagrams}`;
    }),
    `captures and service.conf in ${dir}: ${Object.keys(r.captures).sort().map((p) => `${p}.pcap`).join(', ')}`,
  ];
  return lines.join('\n') + '\n' + verifyText(r.verify);
}

function renderCaseJson(r: LabCaseResult, dir: string, exitCode: number): string {
  const { verify: v, case: c, ...rest } = r;
  // verify's own JSON document is embedded as-is (parsed back), so both share one schema.
  const verifyDoc = v ? (JSON.parse(renderJson(v)) as unknown) : null;
  const doc = { tool: 'lvsaudit', director: r.kind, ...rest, id: c.id, mode: c.mode, profile: c.profile, faults: faultLabels(c.faults), outDir: dir, exitCode, verify: verifyDoc };
  return JSON.stringify(doc, null, 2) + '\n';
}

function seconds(ms: number | null): string {
  return ms === null ? '?' : `${(ms / 1000).toFixed(1)} s`;
}

function rsName(ripPort: string): string {
  return ripPort.startsWith('10.0.0.11:') ? 'rs1' : ripPort.startsWith('10.0.0.12:') ? 'rs2' : ripPort;
}

/** Human summary of an ipvs run: one line per case with the kernel's own schedule. */
export function renderIpvsText(r: IpvsLabResult): string {
  const lines: string[] = [];
  lines.push(
    `kernel ${r.guestKernel ?? r.kernel.release} (${r.kernel.kernel}), accel ${r.accel}${r.kvmNote ? ` (${r.kvmNote})` : ''}, offloads ${r.offloads}`,
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
    const exp = c.verify ? `${c.expected.verdict}${c.mismatches.length === 0 ? ' (as expected)' : ' MISMATCH'}` : c.expected.verdict;
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

/** JSON document of an ipvs run (verify results without ladders, to keep it readable). */
export function renderIpvsJson(r: IpvsLabResult): string {
  return (
    JSON.stringify(
      {
        tool: 'lvsaudit',
        director: 'ipvs',
        kernel: { release: r.guestKernel, path: r.kernel.kernel, modules: r.kernel.modulesDir },
        accel: r.accel,
        kvmNote: r.kvmNote,
        offloads: r.offloads,
        bootMs: r.bootMs,
        runMs: r.runMs,
        totalMs: r.totalMs,
        outDir: r.outDir,
        exitCode: labExitCode(r.cases),
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
          rules: c.verify ? reportedRules(c.verify) : [],
          expected: c.expected,
          mismatches: c.mismatches,
          offloadState: c.offloadState,
        })),
      },
      null,
      2,
    ) + '\n'
  );
}

async function runIpvs(cases: LabCase[], o: LabRunOptions, write: (s: string) => void): Promise<number> {
  const accel = o.accel ?? 'auto';
  if (accel !== 'auto' && accel !== 'kvm' && accel !== 'tcg') throw new InputError(`--accel '${accel}': expected auto, kvm or tcg`);
  const started = Date.now();
  const r = await runIpvsLab({
    cases,
    ...(o.out !== undefined ? { outDir: o.out } : {}),
    ...(o.kernel !== undefined ? { kernel: o.kernel } : {}),
    ...(o.modules !== undefined ? { modules: o.modules } : {}),
    accel,
    ...(o.timeout !== undefined ? { timeoutMs: o.timeout * 1000 } : {}),
    verify: o.verify === true,
    offloads: parseOffloads(o.offloads),
    onProgress: (line) => {
      // Progress goes to stderr so --format json stays a clean document on stdout.
      process.stderr.write(`[${((Date.now() - started) / 1000).toFixed(1).padStart(6)} s] ${line}\n`);
    },
  });
  write(o.format === 'json' ? renderIpvsJson(r) : renderIpvsText(r));
  return labExitCode(r.cases);
}

/** `lab run`: the cases of the options, through the shared sequence of the director kind. */
export async function runLab(o: LabRunOptions, write: (s: string) => void = (s) => process.stdout.write(s)): Promise<number> {
  if (o.format !== undefined && o.format !== 'text' && o.format !== 'json') throw new InputError(`--format '${o.format}': text or json`);
  const kind = directorKind(o.director);
  rejectOptions(kind, o);
  const offloads = parseOffloads(o.offloads);
  const cases = casesFromOptions(kind, o);
  if (o.accel !== undefined && o.accel !== 'auto' && o.accel !== 'kvm' && o.accel !== 'tcg') throw new InputError(`--accel '${o.accel}': expected auto, kvm or tcg`);
  if (o.timeout !== undefined && (!Number.isInteger(o.timeout) || o.timeout < 1 || o.timeout > MAX_TIMEOUT_S)) {
    throw new InputError(`--timeout '${o.timeout}': not a whole number of seconds in 1..${MAX_TIMEOUT_S}`);
  }
  // Before a namespace is built or a VM booted (cli.md "Options and usage errors").
  if (o.out !== undefined) checkOutputDirectory('--out', o.out);
  if (kind === 'ipvs') return runIpvs(cases, o, write);
  if (kind === 'dpvs' && offloads === 'on') throw new InputError('--offloads on: DPVS reads its ports through af_packet, which hands it no offload metadata (off only)');
  const c = cases[0]!;
  const uoaMode = parseUoaMode(o);
  const dir = outDir(o);
  let r: LabCaseResult;
  if (kind === 'dpvs') {
    const binaries = await dpvsBinaries({ ...(o.dpvsSrc !== undefined ? { src: o.dpvsSrc } : {}), ...(o.dpvsBin !== undefined ? { bin: o.dpvsBin } : {}) });
    r = await runDpvsCase(binaries, c, dir, { verify: o.verify === true, ...(uoaMode !== undefined ? { uoaMode } : {}) });
  } else {
    r = await runLabCase(kind === 'reference' ? referenceDriver : nftablesDriver, c, dir, { verify: o.verify === true, offloads });
  }
  const code = labExitCode([r]);
  write(o.format === 'json' ? renderCaseJson(r, dir, code) : renderCaseText(r, dir));
  return code;
}

function collect(v: string, prev: string[] = []): string[] {
  return [...prev, v];
}

export const registerLab: CommandRegistrar = (program: Command, setExit: (code: number) => void): void => {
  const lab = program.command('lab').description('network-namespace labs: traffic through a director, captured at every point, verified');
  lab
    .command('run')
    .description('build the lab for a method, run client traffic through the director, capture every point, optionally verify')
    .requiredOption('--director <kind>', 'reference (userspace reference director), nftables (kernel netfilter: nat, dr), ipvs|ipvs-vm (real IPVS in a VM: nat, dr, tun), dpvs (DPVS on DPDK af_packet: fullnat)')
    .option('--mode <mode>', 'nat, dr, tun or fullnat (ipvs: repeat or comma-separate for several in one VM boot)', collect)
    .option('--fault <name>', 'rsN:arp_ignore=0, rsN:arp_announce=0, rsN:no-vip, rsN:gateway-bypass, rsN:reply-from-rip, rsN:weight0-not-applied, or a director switch (repeatable)', collect)
    .option('--profile <profile>', 'reference: linux|linux-legacy (nat, dr; default linux), alibaba|dpvs (fullnat; default alibaba); dpvs: the profile verify checks DPVS against (default dpvs)')
    .option('--verify', 'run verify on the captures and exit with its code')
    .option('--connections <n>', `client connections per case (1..${MAX_CONNECTIONS})`, (v) => parseIntegerOption('--connections', v, 1, MAX_CONNECTIONS, 'connections'))
    .option('--family <4|6>', 'nftables, ipvs: IPv6 service and LANs with 6 (nat, dr; faults rsN:no-vip, rsN:gateway-bypass, routed); dpvs: IPv6 FullNAT (client, VIP, real servers, LIP)')
    .option('--nat64', 'dpvs, fullnat: NAT64 — IPv6 client and VIP, IPv4 real servers and LIP (implies --family 6)')
    .option('--persistence <s>', `reference, dpvs (fullnat, IPv4): seconds of persistence (-p) of the service, which the client reaches from ${PERSISTENT_CLIENTS.length} addresses in turn (default ${DEFAULT_PERSISTENCE_S}; 0: not persistent, one client address)`, (v) => parseIntegerOption('--persistence', v, 0, MAX_PERSISTENCE_S, 'seconds'))
    .option('--udp', `dpvs: a UDP FullNAT service (VIP:53 → RS:5353) instead of the HTTP one; each connection sends ${UDP_DATAGRAMS} datagrams to the real servers' echo servers`)
    .option('--uoa-mode <ipo|opp>', 'dpvs with --udp: where DPVS puts the client address (dpvs.conf uoa_mode; default ipo, an IP option; opp: its private IP protocol 248)')
    .option('--out <dir>', 'results directory (captures, service.conf)')
    .option('--format <format>', 'text or json', 'text')
    .option('--scheduler <name>', 'ipvs: IPVS scheduler(s): rr, wrr, sh, … (default rr); dpvs: rr, wrr, wlc or conhash', collect)
    .option('--dpvs-src <dir>', 'dpvs: build this DPVS source tree (in place) and run it instead of the shared release')
    .option('--dpvs-bin <dir>', 'dpvs: run this DPVS build (dpvs, ipvsadm, dpip in DIR, or a built source tree)')
    .option('--kernel <path>', 'ipvs: bzImage to boot (default: the installed kernel with IPVS modules)')
    .option('--modules <dir>', 'ipvs: modules of that kernel (directory with modules.dep, or INSTALL_MOD_PATH)')
    .option('--accel <accel>', 'ipvs: auto (KVM if it works, else TCG), kvm or tcg')
    .option('--timeout <seconds>', 'ipvs: kill the VM after this long', (v) => parseIntegerOption('--timeout', v, 1, MAX_TIMEOUT_S, 'seconds'))
    .option('--offloads <on|off>', 'on: veths keep a host\'s offloads (TSO/GSO, TX checksum, GRO; one forwarding hop segments in software) and responses are 300 KB', 'off')
    .addHelpText(
      'after',
      '\n--fault: real-server faults as rs1|rs2:<kind>; director switches: the reference director\'s (`lvsaudit replay --list`), nftables: routed, dpvs: lip-exhausted.\nA fault a director kind cannot produce is a usage error (exit 2) naming the kinds that can. See cli.md "lab".',
    )
    .action(async (opts: LabRunOptions) => {
      setExit(await runLab({ ...opts, mode: opts.mode ?? [] }));
    });

  lab
    .command('dpvs-build')
    .description('build DPVS for --director dpvs now (once: later runs reuse the cache) and print where its programs are')
    .option('--dpvs-src <dir>', 'build this DPVS source tree (in place) instead of the shared release')
    .action(async (opts: { dpvsSrc?: string }) => {
      const b = await dpvsBinaries(opts.dpvsSrc !== undefined ? { src: opts.dpvsSrc } : {});
      process.stdout.write(`dpvs ${b.dpvs}\nipvsadm ${b.ipvsadm}\ndpip ${b.dpip}\n(${b.origin})\n`);
      setExit(0);
    });

  lab
    .command('down')
    .description('remove leftover lab namespaces and links (names starting with lvsa-)')
    .option('--prefix <prefix>', 'only this lab (prefix printed by lab run)', 'lvsa-')
    .action((opts: { prefix: string }) => {
      if (!opts.prefix.startsWith('lvsa-')) throw new InputError(`--prefix ${opts.prefix}: lab names start with lvsa-`);
      // A DPVS lab killed outright leaves hugepages and a runtime directory besides its namespaces.
      const dpvs = recoverAbandonedDpvsLab();
      if (dpvs.length) process.stdout.write(`dpvs: ${dpvs.join('; ')}\n`);
      const r = labDown(opts.prefix);
      process.stdout.write(`removed ${r.namespaces.length} namespace(s)${r.namespaces.length ? `: ${r.namespaces.join(' ')}` : ''}; ${r.links.length} link(s)${r.links.length ? `: ${r.links.join(' ')}` : ''}\n`);
      setExit(0);
    });

  lab
    .command('matrix')
    .description('run the reference-director lab matrix (every method, conformant and with faults) and print it as a table')
    .option('--case <id>', 'only this case (repeatable), e.g. nat/none, dr/rs2:arp_ignore=0', collect)
    .option('--out <dir>', 'keep the captures of every case here')
    .option('--offloads <on|off>', 'run every case with production offloads (see lab run)', 'off')
    .option('--dpvs', 'also run the FullNAT cases DPVS can produce through DPVS (the dpvs column; a verdict that differs from the reference director is a mismatch)')
    .option('--dpvs-src <dir>', 'with --dpvs: build and run this DPVS source tree')
    .option('--dpvs-bin <dir>', 'with --dpvs: run this DPVS build')
    .addOption(new Option('--format <format>', 'text table or a self-contained HTML page').choices(['text', 'html']).default('text'))
    .option('--output <file>', 'write the matrix to FILE instead of stdout')
    .action(async (opts: { case?: string[]; out?: string; offloads?: string; dpvs?: boolean; dpvsSrc?: string; dpvsBin?: string; format: 'text' | 'html'; output?: string }) => {
      const offloads = parseOffloads(opts.offloads);
      if (opts.dpvs !== true && (opts.dpvsSrc !== undefined || opts.dpvsBin !== undefined)) throw new InputError('--dpvs-src and --dpvs-bin apply with --dpvs');
      if (opts.output !== undefined) checkOutputFile('--output', opts.output);
      const ids = opts.case ?? [];
      const cases = ids.length ? MATRIX_CASES.filter((c) => ids.includes(c.id)) : MATRIX_CASES;
      const unknown = ids.filter((id) => !MATRIX_CASES.some((c) => c.id === id));
      if (unknown.length) throw new InputError(`--case ${unknown.join(', ')}: known cases are ${MATRIX_CASES.map((c) => c.id).join(', ')}`);
      if (opts.out !== undefined) checkOutputDirectory('--out', opts.out);
      const root = opts.out !== undefined ? resolve(opts.out) : mkdtempSync(join(tmpdir(), 'lvsaudit-matrix-'));
      const binaries = opts.dpvs === true ? await dpvsBinaries({ ...(opts.dpvsSrc !== undefined ? { src: opts.dpvsSrc } : {}), ...(opts.dpvsBin !== undefined ? { bin: opts.dpvsBin } : {}) }) : null;
      const outcomes = await runMatrix(root, cases, { offloads }, (o) => process.stderr.write(`${o.case.id}: ${o.notRun !== undefined ? `reference not run (${o.notRun})` : o.ok ? 'ok' : 'MISMATCH'} (${(o.durationMs / 1000).toFixed(1)} s)\n`));
      const dpvs = binaries !== null ? await runDpvsMatrix(binaries, root, cases, (id, cell, ms) => process.stderr.write(`dpvs ${id}: ${cell.error ? 'could not run' : cell.verdict} (${(ms / 1000).toFixed(1)} s)\n`)) : undefined;
      const ipvs = loadIpvsResults();
      const report =
        opts.format === 'html' ? renderMatrixHtml({ ...matrixRows(outcomes, ipvs, dpvs), captures: root }) : renderMatrix(outcomes, ipvs, dpvs) + `captures in ${root}\n`;
      if (opts.output === undefined) process.stdout.write(report);
      else {
        try {
          writeFileSync(opts.output, report);
        } catch (e) {
          throw outputWriteError('--output', opts.output, e);
        }
      }
      setExit(outcomes.every((o) => o.ok && (dpvs === undefined || dpvsDisagrees(o, dpvs) === null)) ? 0 : 1);
    });
};
