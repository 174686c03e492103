/**
 * `lvsaudit lab` (cli.md "replay and lab"):
 *   lab run --mode M --director reference|nftables|ipvs|ipvs-vm [--profile P] [--fault F]... [--out DIR] [--verify]
 *   lab down [--prefix P]      remove leftovers of labs (namespaces/links named lvsa-…)
 *   lab matrix [--case ID]...  the reference-director matrix as a table (exit 1 on a mismatch)
 *
 * Directors: `reference` = the userspace reference director in a netns lab (src/lab/reference-lab.ts);
 * `nftables` = the kernel's netfilter as director (src/lab/scenarios.ts, NAT/DR); `ipvs`/`ipvs-vm`
 * = real IPVS in a QEMU VM (src/cli/lab-ipvs.ts). Exit codes: with --verify, verify's (0/1);
 * 2 usage; 4 environment (not root, no cap, no VM).
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { InputError } from '../errors.js';
import type { CommandRegistrar } from './registrar.js';
import { addIpvsLabOptions, runLabIpvs, type LabIpvsOptions } from './lab-ipvs.js';
import { checkProfile, defaultProfile, parseLabFaults, parseRefMode, runReferenceLab, type ReferenceLabResult } from '../lab/reference-lab.js';
import { ADDR, resolveScenario, runScenario, type ScenarioResult } from '../lab/scenarios.js';
import { labDown } from '../lab/netns.js';
import { MATRIX_CASES, renderMatrix, runMatrix } from '../lab/matrix.js';
import { verify } from '../verify/verify.js';
import { hasError } from '../verify/findings.js';
import { parseServiceConfig, describeService, type Service } from '../verify/service/index.js';
import { renderText } from '../verify/report/text.js';
import { renderJson } from '../verify/report/json.js';
import type { VerifyResult } from '../verify/result.js';

export interface LabRunOptions extends LabIpvsOptions {
  director: string;
  profile?: string;
}

function oneMode(o: LabRunOptions): string {
  const modes = (o.mode ?? []).flatMap((m) => m.split(',')).map((m) => m.trim()).filter(Boolean);
  if (modes.length !== 1) throw new InputError(`--director ${o.director} runs one --mode at a time (nat, dr${o.director === 'reference' ? ', fullnat' : ''})`);
  return modes[0]!;
}

/** Options that only the VM director understands are usage errors elsewhere (not silently ignored). */
function rejectVmOptions(o: LabRunOptions): void {
  const vmOnly: Array<[string, unknown]> = [
    ['--scheduler', o.scheduler?.length ? o.scheduler : undefined],
    ['--kernel', o.kernel],
    ['--modules', o.modules],
    ['--timeout', o.timeout],
    ['--accel', o.accel !== undefined && o.accel !== 'auto' ? o.accel : undefined],
  ];
  for (const [name, v] of vmOnly) if (v !== undefined) throw new InputError(`${name} applies to --director ipvs only`);
}

function outDir(o: LabRunOptions): string {
  return o.out !== undefined ? resolve(o.out) : mkdtempSync(join(tmpdir(), 'lvsaudit-lab-'));
}

function serviceLines(r: VerifyResult): string[] {
  const s = r.service;
  if (s === null || s === undefined) return ['none'];
  return (Array.isArray(s) ? s : [s]).map((x) => describeService(x as Service));
}

function connectionLines(conns: ScenarioResult['connections']): string[] {
  return conns.map((c) => `  :${c.localPort} ${c.ok ? `answered by ${c.body}` : `failed (${c.error ?? 'no HTTP 200'})`}`);
}

function renderReferenceText(r: ReferenceLabResult, dir: string): string {
  const lines = [
    `lab: reference director, mode ${r.mode}, profile ${r.profile}, prefix ${r.prefix} (removed)`,
    `faults: ${[...r.faults.director, ...r.faults.rs.map((f) => `${f.rs}:${f.kind}`)].join(', ') || 'none'}`,
    `director frames in/out: ${r.directorStats ? `${r.directorStats.in}/${r.directorStats.out}` : '?'}; took ${(r.durationMs / 1000).toFixed(1)} s`,
    'client connections:',
    ...connectionLines(r.connections),
    `captures and service.conf in ${dir}: ${Object.keys(r.captures).sort().map((p) => `${p}.pcap`).join(', ')}`,
  ];
  let out = lines.join('\n') + '\n';
  if (r.verify) out += `\n${renderText(r.verify, { serviceLines: serviceLines(r.verify) })}`;
  return out;
}

function renderLabJson(doc: Record<string, unknown>, v: VerifyResult | null): string {
  // verify's own JSON document is embedded as-is (parsed back), so both share one schema.
  const verifyDoc = v ? (JSON.parse(renderJson(v)) as unknown) : null;
  return JSON.stringify({ tool: 'lvsaudit', ...doc, verify: verifyDoc }, null, 2) + '\n';
}

async function runReference(o: LabRunOptions, write: (s: string) => void): Promise<number> {
  rejectVmOptions(o);
  const mode = parseRefMode(oneMode(o));
  const profile: string = o.profile ?? defaultProfile(mode);
  checkProfile(mode, profile);
  const faults = parseLabFaults(mode, o.fault ?? []);
  const dir = outDir(o);
  const r = await runReferenceLab({
    mode,
    profile,
    faults,
    outDir: dir,
    verify: o.verify === true,
    ...(o.connections !== undefined ? { connections: o.connections } : {}),
  });
  if (o.format === 'json') {
    const { verify: v, ...rest } = r;
    write(renderLabJson({ director: 'reference', outDir: dir, ...rest }, v));
  } else write(renderReferenceText(r, dir));
  return r.exitCode;
}

/** The nftables (kernel netfilter) director of src/lab/scenarios.ts, verified with its scenario's profile. */
async function runNftables(o: LabRunOptions, write: (s: string) => void): Promise<number> {
  rejectVmOptions(o);
  if (o.profile !== undefined) throw new InputError('--profile: the nftables director fixes the profile per scenario');
  const name = resolveScenario(oneMode(o), 'reference', (o.fault ?? []).flatMap((f) => f.split(',')).filter(Boolean));
  const dir = outDir(o);
  const r = await runScenario(name, dir, o.connections !== undefined ? { connections: o.connections } : {});
  let v: VerifyResult | null = null;
  if (o.verify === true) {
    v = await verify({
      services: parseServiceConfig(r.serviceConfig, 'service.conf'),
      profile: r.info.profile,
      points: [
        { kind: 'client', files: [r.captures.client!] },
        // One capture on `any` holds both directions of the director (the per-port ones duplicate it).
        { kind: 'director', files: [r.captures.director!] },
        { kind: 'rs', files: [r.captures.rs1!], rsIp: ADDR.rip1 },
        { kind: 'rs', files: [r.captures.rs2!], rsIp: ADDR.rip2 },
      ],
    });
  }
  if (o.format === 'json') {
    write(renderLabJson({ director: 'nftables', scenario: r.name, profile: r.info.profile, outDir: dir, captures: r.captures, service: r.service, connections: r.connections, expected: r.info.expected, durationMs: r.durationMs }, v));
  } else {
    const lines = [
      `lab: nftables director, scenario ${r.name} (${r.info.title}), profile ${r.info.profile}; took ${(r.durationMs / 1000).toFixed(1)} s`,
      'client connections:',
      ...connectionLines(r.connections),
      `captures and service.conf in ${dir}`,
    ];
    write(lines.join('\n') + '\n' + (v ? `\n${renderText(v, { serviceLines: serviceLines(v) })}` : ''));
  }
  return v !== null && hasError(v.findings) ? 1 : 0;
}

/** `lab run`: dispatch on --director. */
export async function runLab(o: LabRunOptions, write: (s: string) => void = (s) => process.stdout.write(s)): Promise<number> {
  if (o.format !== undefined && o.format !== 'text' && o.format !== 'json') throw new InputError(`--format ${o.format}: text or json`);
  switch (o.director) {
    case 'ipvs':
    case 'ipvs-vm':
      if (o.profile !== undefined) throw new InputError('--profile: the ipvs director is verified with profile linux');
      return runLabIpvs(o, write);
    case 'reference':
      return runReference(o, write);
    case 'nftables':
      return runNftables(o, write);
    default:
      throw new InputError(`--director ${o.director}: expected reference, nftables, ipvs or ipvs-vm`);
  }
}

function collect(v: string, prev: string[] = []): string[] {
  return [...prev, v];
}

export const registerLab: CommandRegistrar = (program: Command, setExit: (code: number) => void): void => {
  const lab = program.command('lab').description('network-namespace labs: traffic through a director, captured at every point, verified');
  const run = lab
    .command('run')
    .description('build the lab for a method, run client traffic through the director, capture every point, optionally verify')
    .requiredOption('--director <kind>', 'reference (userspace reference director), nftables (kernel netfilter, nat/dr), ipvs|ipvs-vm (real IPVS in a VM)')
    .option('--profile <profile>', 'reference: linux|linux-legacy (nat, dr; default linux), alibaba|dpvs (fullnat; default alibaba)')
    // Declared before addIpvsLabOptions' --no-verify: --verify turns it on, --no-verify off, and
    // the default stays undefined (reference/nftables: off; ipvs: on, as H9's command had it).
    .option('--verify', 'run verify on the captures and exit with its code');
  addIpvsLabOptions(run);
  run.addHelpText(
    'after',
    '\n--fault (reference): a reference-director switch (see `lvsaudit replay --list`) or a real-server fault rs1|rs2:arp_ignore=0, :arp_announce=0, :no-vip (dr), :gateway-bypass (nat)',
  );
  run.action(async (opts: LabRunOptions) => {
    setExit(await runLab(opts));
  });

  lab
    .command('down')
    .description('remove leftover lab namespaces and links (names starting with lvsa-)')
    .option('--prefix <prefix>', 'only this lab (prefix printed by lab run)', 'lvsa-')
    .action((opts: { prefix: string }) => {
      if (!opts.prefix.startsWith('lvsa-')) throw new InputError(`--prefix ${opts.prefix}: lab names start with lvsa-`);
      const r = labDown(opts.prefix);
      process.stdout.write(`removed ${r.namespaces.length} namespace(s)${r.namespaces.length ? `: ${r.namespaces.join(' ')}` : ''}; ${r.links.length} link(s)${r.links.length ? `: ${r.links.join(' ')}` : ''}\n`);
      setExit(0);
    });

  lab
    .command('matrix')
    .description('run the reference-director lab matrix (every method, conformant and with faults) and print it as a table')
    .option('--case <id>', 'only this case (repeatable), e.g. nat/none, dr/rs2:arp_ignore=0', collect)
    .option('--out <dir>', 'keep the captures of every case here')
    .action(async (opts: { case?: string[]; out?: string }) => {
      const ids = opts.case ?? [];
      const cases = ids.length ? MATRIX_CASES.filter((c) => ids.includes(c.id)) : MATRIX_CASES;
      const unknown = ids.filter((id) => !MATRIX_CASES.some((c) => c.id === id));
      if (unknown.length) throw new InputError(`--case ${unknown.join(', ')}: known cases are ${MATRIX_CASES.map((c) => c.id).join(', ')}`);
      const root = opts.out !== undefined ? resolve(opts.out) : mkdtempSync(join(tmpdir(), 'lvsaudit-matrix-'));
      const outcomes = await runMatrix(root, cases, (o) => process.stderr.write(`${o.case.id}: ${o.ok ? 'ok' : 'MISMATCH'} (${(o.durationMs / 1000).toFixed(1)} s)\n`));
      process.stdout.write(renderMatrix(outcomes) + `captures in ${root}\n`);
      setExit(outcomes.every((o) => o.ok) ? 0 : 1);
    });
};
