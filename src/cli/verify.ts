/**
 * `lvsaudit verify` (cli.md "verify"): parse options, load the service definition, call the
 * verify library, render with the chosen reporter. Exit 0 = no error finding, 1 = at least one,
 * 2 = bad input.
 */
import { statSync, writeFileSync } from 'node:fs';
import { resolve as resolvePath } from 'node:path';
import { Option, type Command } from 'commander';
import { CaptureError } from '../decode/capture/index.js';
import { hasError } from '../verify/model/findings.js';
import { renderJson } from '../verify/report/json.js';
import { renderJunit } from '../verify/report/junit.js';
import { renderHtml } from '../verify/report/html/page.js';
import { renderLadder, selectConnections } from '../verify/report/ladder.js';
import { renderText } from '../verify/report/text.js';
import { writeEvidencePcapng } from '../verify/report/evidence.js';
import type { VerifyResult } from '../verify/model/result.js';
import {
  describeService,
  loadServiceConfigWith,
  mergeServiceSets,
  serviceSetFromFlags,
  type Service,
  type ServiceSet,
} from '../verify/service/index.js';
import { verify, type VerifyInput } from '../verify/verify.js';
import { passTwoFor } from '../verify/parallel/index.js';
import type { PointInput } from '../verify/read/points.js';
import type { Profile } from '../verify/correlate/context.js';
import { RULES } from '../verify/model/catalog.js';
import { MAX_PERSISTENCE } from '../verify/service/build.js';
import { InputError } from '../errors.js';
import {
  checkInputFile,
  checkOutputFile,
  checkRuleIds,
  outputWriteError,
  parseIntegerOption,
  parseIpOption,
  parsePositiveDecimalOption,
  parseSchedulerOption,
  parseGuePort,
  decapOption,
  parseToaKinds,
  addConfigReadOptions,
  configOptionsOf,
  type ConfigReadOptions,
} from './options.js';
import { clearProgressLine, withProgress } from './progress.js';
import type { CommandRegistrar } from './registrar.js';

interface VerifyCliOptions extends ConfigReadOptions {
  config?: string[];
  vip?: string;
  mode?: string;
  rs?: string[];
  scheduler?: string;
  laddr?: string[];
  persistence?: string | boolean;
  protocol?: string;
  client?: string[];
  director?: string[];
  rsCapture?: string[];
  profile: Profile;
  toaKind?: string;
  guePort?: string[];
  decap?: string[];
  format: 'text' | 'json' | 'junit' | 'html';
  output?: string;
  pcapOut?: string;
  ignore?: string[];
  show?: string;
  all?: boolean;
  window?: string;
  quiet?: boolean;
}

const collect = (v: string, prev: string[] | undefined): string[] => [...(prev ?? []), v];

/** Longest correlation window taken (an hour): a wider one would hold a capture's every packet. */
const MAX_WINDOW_MS = 3_600_000;

/** What looks like an address before `=` in `--rs-capture IP=FILE`. */
const RS_CAPTURE_ARG = /^(\[[0-9a-fA-F:.]*\]|[0-9a-fA-F:.]*[.:][0-9a-fA-F:.]*)=(.+)$/;

function isExistingFile(p: string): boolean {
  try {
    return !statSync(p).isDirectory();
  } catch {
    return false;
  }
}

/**
 * `--rs-capture [IP=]FILE`: the RS address is optional (recognised from the traffic). An
 * address that does not parse (10.0.0.300) is a usage error, unless the whole argument names
 * an existing file (a file may have `=` in its name).
 */
export function rsPoint(arg: string): PointInput {
  const m = RS_CAPTURE_ARG.exec(arg);
  if (m === null || (isExistingFile(arg) && !isExistingFile(m[2]!))) return { kind: 'rs', files: [arg] };
  return { kind: 'rs', files: [m[2]!], rsIp: parseIpOption('--rs-capture', m[1]!.replace(/^\[|\]$/g, '')) };
}

/** The option values that need parsing, parsed; every check that needs no file runs here. */
interface CheckedOptions {
  points: PointInput[];
  windowMs: number | undefined;
  persistence: number | true | undefined;
  scheduler: string | undefined;
  toaKinds: number[] | undefined;
  guePorts: number[] | undefined;
}

/**
 * Every option value, checked before anything is read (cli.md "Options and usage errors"):
 * numbers strictly, names against what lvsaudit knows, output files for writability.
 */
export function checkVerifyOptions(o: VerifyCliOptions): CheckedOptions {
  const points: PointInput[] = [
    ...(o.client ?? []).map((f): PointInput => ({ kind: 'client', files: [f] })),
    ...(o.director ?? []).map((f): PointInput => ({ kind: 'director', files: [f] })),
    ...(o.rsCapture ?? []).map(rsPoint),
  ];
  const flagged = o.vip !== undefined || o.mode !== undefined || (o.rs?.length ?? 0) > 0;
  if (!flagged) {
    // These describe the service of --vip/--mode/--rs; with --config alone they would be
    // silently dropped, so the run would not check what the user asked for.
    const orphan = (
      [
        ['--scheduler', o.scheduler],
        ['--laddr', o.laddr],
        ['--persistence', o.persistence],
        ['--protocol', o.protocol],
      ] as const
    ).find(([, v]) => v !== undefined);
    if (orphan) throw new InputError(`${orphan[0]} describes the service given by --vip, --mode and --rs (a --config file says it itself)`);
  }
  const scheduler = o.scheduler === undefined ? undefined : parseSchedulerOption('--scheduler', o.scheduler);
  const persistence =
    o.persistence === undefined || o.persistence === false
      ? undefined
      : o.persistence === true
        ? true
        : parseIntegerOption('--persistence', o.persistence, 1, MAX_PERSISTENCE, 'seconds');
  const windowMs = o.window === undefined ? undefined : parsePositiveDecimalOption('--window', o.window, MAX_WINDOW_MS, 'milliseconds');
  const toaKinds = o.toaKind === undefined ? undefined : parseToaKinds(o.toaKind);
  const guePorts = o.guePort === undefined ? undefined : o.guePort.map(parseGuePort);
  checkRuleIds('--ignore', o.ignore ?? [], RULES.map((r) => r.id));
  if (points.length === 0) throw new InputError('no capture given (--client, --director, --rs-capture)');
  // A mistyped last capture is said before the first ones are sampled (a big gzip takes a while).
  for (const f of o.client ?? []) checkInputFile('--client', f);
  for (const f of o.director ?? []) checkInputFile('--director', f);
  for (const p of points) if (p.kind === 'rs') checkInputFile('--rs-capture', p.files[0]!);
  const inputs = [...points.flatMap((p) => p.files), ...(o.config ?? [])];
  if (o.output !== undefined) checkOutputFile('--output', o.output, inputs);
  if (o.pcapOut !== undefined) checkOutputFile('--pcap-out', o.pcapOut, inputs);
  if (o.output !== undefined && o.pcapOut !== undefined && sameTarget(o.output, o.pcapOut)) {
    throw new InputError(`--pcap-out ${o.pcapOut}: the same file as --output`);
  }
  return { points, windowMs, persistence, scheduler, toaKinds, guePorts };
}

function sameTarget(a: string, b: string): boolean {
  try {
    const x = statSync(a);
    const y = statSync(b);
    // /dev/null (or a terminal) may take both outputs; one file or FIFO cannot.
    return (x.isFile() || x.isFIFO()) && x.dev === y.dev && x.ino === y.ino;
  } catch {
    return resolvePath(a) === resolvePath(b);
  }
}

/**
 * A real-server capture named by address must belong to a real server of the services: a
 * typo there would otherwise be judged as a real server that received nothing.
 */
function checkRsCaptures(points: readonly PointInput[], services: ServiceSet): void {
  const rips = [...new Set(services.services.flatMap((s) => s.realServers.map((r) => r.ip)))];
  for (const p of points) {
    if (p.kind !== 'rs' || p.rsIp === undefined || rips.includes(p.rsIp)) continue;
    throw new InputError(`--rs-capture ${p.rsIp}=${p.files[0]!}: ${p.rsIp} is not a real server of the service (real servers: ${rips.join(', ') || 'none'})`);
  }
}

async function loadServices(o: VerifyCliOptions, checked: CheckedOptions): Promise<ServiceSet | null> {
  const sets: ServiceSet[] = [];
  if (o.config?.length) {
    const read = configOptionsOf(o);
    sets.push(mergeServiceSets(await Promise.all(o.config.map((f) => loadServiceConfigWith(f, read)))));
  }
  const flagged = o.vip !== undefined || o.mode !== undefined || (o.rs?.length ?? 0) > 0;
  if (flagged) {
    if (!o.vip || !o.mode || !o.rs?.length) throw new InputError('--vip, --mode and --rs go together (or use --config)');
    const { persistence, scheduler } = checked;
    sets.push(
      serviceSetFromFlags({
        vip: o.vip,
        mode: o.mode,
        rs: o.rs,
        ...(scheduler !== undefined ? { scheduler } : {}),
        ...(o.laddr ? { laddr: o.laddr } : {}),
        ...(persistence !== undefined ? { persistence } : {}),
        ...(o.protocol ? { protocol: o.protocol } : {}),
      }),
    );
  }
  if (sets.length === 0) return null;
  return sets.length === 1 ? sets[0]! : mergeServiceSets(sets);
}

function serviceLines(r: VerifyResult): string[] {
  const s = r.service;
  if (s === null || s === undefined) return ['none (no configuration and nothing to infer it from)'];
  const list = (Array.isArray(s) ? s : [s]) as Service[];
  return list.map((x) => describeService(x));
}

export async function runVerify(o: VerifyCliOptions): Promise<{ result: VerifyResult; output: string }> {
  const checked = checkVerifyOptions(o);
  const { points, windowMs, toaKinds, guePorts } = checked;
  const services = await loadServices(o, checked);
  if (services !== null) checkRsCaptures(points, services);
  const input: VerifyInput = {
    services,
    points,
    profile: o.profile,
    ...(toaKinds !== undefined ? { toaKinds } : {}),
    ...(guePorts !== undefined ? { guePorts } : {}),
    // Auto's service addresses are added by verify (correlate/prepare.ts decapFor).
    decap: decapOption(o.decap, []),
    ...(o.ignore ? { ignore: o.ignore } : {}),
    ...(windowMs !== undefined ? { windowMs } : {}),
    // Ladder diagrams are only printed for --show (text) and drawn in the HTML report (for the
    // connections with findings): building one per connection costs ~3 % of a big run.
    ...((o.show !== undefined && (o.format === 'text' || o.format === 'json')) || o.format === 'html' ? {} : { maxLadders: 0 }),
    // Where a long run spends its time, for reports of slow runs.
    ...(process.env.LVSAUDIT_VERIFY_TIMING
      ? {
          onPhase: (phase: string, ms: number): void => {
            clearProgressLine();
            process.stderr.write(`lvsaudit: verify: ${phase}: ${ms.toFixed(0)} ms, heap ${(process.memoryUsage().heapUsed / 2 ** 20).toFixed(0)} MiB (at ${Date.now() % 100000})\n`);
          },
        }
      : {}),
    // How pass 2 ran (threads or not) and whether a pass ran again, and why.
    ...(process.env.LVSAUDIT_PARALLEL_DEBUG
      ? {
          onNote: (line: string): void => {
            clearProgressLine();
            process.stderr.write(`lvsaudit: verify: ${line}\n`);
          },
        }
      : {}),
  };
  let result: VerifyResult;
  try {
    // Pass 2 the fastest way this machine allows (verify/parallel); the same result as verify(input).
    result = await withProgress({ quiet: o.quiet === true }, () => verify(input, passTwoFor(input)));
  } catch (err) {
    if (err instanceof CaptureError) throw new InputError(err.message);
    if (err instanceof Error && 'code' in err && (err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new InputError(`${(err as NodeJS.ErrnoException).path ?? 'capture'}: no such file`);
    }
    throw err;
  }
  let output: string;
  if (o.format === 'json') output = renderJson(result, o.show !== undefined ? { connections: selectConnections(result.connections ?? [], o.show) } : {});
  else if (o.format === 'junit') output = renderJunit(result, serviceLines(result).join('; '));
  else if (o.format === 'html') output = renderHtml(result, { command: 'verify', serviceLines: serviceLines(result), ...(o.show !== undefined ? { show: o.show } : {}) });
  else {
    output = renderText(result, { serviceLines: serviceLines(result), all: o.all === true });
    if (o.show !== undefined) {
      const chosen = selectConnections(result.connections ?? [], o.show);
      if (chosen.length === 0) output += `\n--show ${o.show}: no correlated connection matches\n`;
      for (const c of chosen.slice(0, 20)) output += `\n${renderLadder(c)}`;
    }
  }
  if (o.pcapOut !== undefined) {
    let n: number;
    try {
      n = await writeEvidencePcapng(result.findings, o.pcapOut);
    } catch (e) {
      if (e instanceof Error && 'code' in e) throw outputWriteError('--pcap-out', o.pcapOut, e);
      throw e;
    }
    process.stderr.write(`lvsaudit: wrote ${n} evidence packet(s) to ${o.pcapOut}\n`);
  }
  return { result, output };
}

export const registerVerify: CommandRegistrar = (program: Command, setExit: (code: number) => void): void => {
  const cmd = program
    .command('verify')
    .description('check that the director forwarded every connection correctly, across capture points')
    .option('--config <file>', 'ipvsadm-save / ipvsadm -Ln / keepalived.conf (repeatable)', collect)
    .option('--vip <ip:port>', 'virtual service address (with --mode and --rs)')
    .addOption(new Option('--mode <mode>', 'forwarding method').choices(['nat', 'dr', 'tun', 'fullnat']))
    .option('--rs <ip[:port][@weight]>', 'real server (repeatable)', collect)
    .option('--scheduler <name>', 'scheduler (rr, wrr, lc, wlc, sh, dh, mh, …)')
    .option('--laddr <ip>', 'FullNAT local address (repeatable)', collect)
    .option('--persistence [seconds]', 'persistent service (default 360 s)')
    .option('--protocol <tcp|udp>', 'service protocol (default tcp)')
    .option('--client <file>', 'capture taken at the client (repeatable)', collect)
    .option('--director <file>', 'capture taken at the director, any interface or -i any (repeatable)', collect)
    .option('--rs-capture <[ip=]file>', 'capture taken at a real server (repeatable)', collect)
    .addOption(new Option('--profile <profile>', 'director behaviour to check against').choices(['linux', 'linux-legacy', 'alibaba', 'dpvs']).default('linux'))
    .option('--toa-kind <k[,k]>', 'TCP option kinds read as TOA')
    .option('--gue-port <port>', 'UDP destination port carrying GUE (repeatable; default 6080)', collect)
    .option('--decap <how>', 'mirror/overlay transports to read through: auto (default), none, erspan, teb, vxlan[:port], geneve[:port] (repeatable)', collect)
    .addOption(new Option('--format <format>', 'report format').choices(['text', 'json', 'junit', 'html']).default('text'))
    .option('--output <file>', 'write the report to a file instead of stdout')
    .option('--pcap-out <file.pcapng>', 'write every evidence packet, commented with its rules')
    .option('--ignore <rule>', 'do not report this rule id (repeatable)', collect)
    .option('--show <conn>', 'ladder diagram of connections matching CONN (index, client ip:port or substring)')
    .option('--all', 'print every finding, not the first 20 per rule')
    .option('--window <ms>', 'correlation window after clock correction (default 1000)')
    .option('-q, --quiet', 'no progress line on a terminal')
    .action(async (o: VerifyCliOptions) => {
      const { result, output } = await runVerify(o);
      if (o.output !== undefined) {
        try {
          writeFileSync(o.output, output);
        } catch (e) {
          throw outputWriteError('--output', o.output, e);
        }
      } else process.stdout.write(output);
      // 3: nothing of the service was judged (cli.md): never a pass.
      setExit(hasError(result.findings) ? 1 : result.verdict === 'no-data' ? 3 : 0);
    });
  addConfigReadOptions(cmd);
};
