/**
 * `lvsaudit arp [--vip IP]... [--director-mac MAC]... [--config FILE] [--director FILE]...
 *               [--format text|json] [--ignore RULE]... CAPTURE...`
 * `lvsaudit arp --live --iface IFACE --vip IP [--count N] [--director-mac MAC]...`
 *
 * Offline: the ARP rules of rules.md over the captures, the director inference, the per-IP MAC
 * timeline. A CAPTURE may be `POINT=FILE` (POINT = client, router, director, rs:IP or rsN) to say
 * where it was taken; `--director FILE` is `director=FILE`. Live: who-has VIP on one interface,
 * every answering MAC listed. Exit 0 / 1 (an error finding) / 2 (bad input) / 4 (live not possible).
 */
import { statSync, writeFileSync } from 'node:fs';
import Table from 'cli-table3';
import type { Command } from 'commander';
import { parseIpv4, parseIpv6, parseMac } from '../decode/addr.js';
import { CaptureError, oneShotInputs, type CaptureWarning } from '../decode/capture/index.js';
import { forEachPacket } from '../decode/stream.js';
import { probeArp, type ArpProbeResult } from '../live/arp-probe.js';
import { runArpWatch } from '../live/arp-watch.js';
import { ArpAnalyzer, ARP_RULES, type ArpReport } from '../verify/arp/index.js';
import { hasError, type Finding, type Severity } from '../verify/model/findings.js';
import { loadServiceConfigWith, mergeServiceSets } from '../verify/service/index.js';
import { VERSION } from '../version.js';
import { InputError } from '../errors.js';
import { addConfigReadOptions, decapOption, checkInput, checkOutputFile, closestNames, configOptionsOf, outputWriteError, parseIntegerOption, type ConfigReadOptions } from './options.js';
import { renderArpHtml } from '../verify/report/html/arp.js';
import { clearProgressLine, withProgress } from './progress.js';
import type { CommandRegistrar } from './registrar.js';

export interface ArpCliOptions extends ConfigReadOptions {
  vip?: string[];
  directorMac?: string[];
  directorIp?: string[];
  config?: string[];
  director?: string[];
  format?: string;
  ignore?: string[];
  live?: boolean;
  iface?: string;
  count?: number;
  watch?: boolean;
  file?: string[];
  follow?: boolean;
  state?: string;
  evidence?: string;
  evidenceSize?: number;
  maxStations?: number;
  duration?: number;
  output?: string;
  quiet?: boolean;
  decap?: string[];
}

const collect = (v: string, prev: string[] | undefined): string[] => [...(prev ?? []), v];

/** An address of either family; IP:PORT and [IPv6]:PORT (as verify takes them) drop the port. */
function parseAddressArg(option: string, v: string): string {
  const bracketed = /^\[([^\]]+)\](?::(\d{1,5}))?$/.exec(v);
  const parts = v.split(':');
  const v4port = !bracketed && parts.length === 2 && /^\d{1,5}$/.test(parts[1]!);
  const port = bracketed ? bracketed[2] : v4port ? parts[1] : undefined;
  const ip = bracketed ? bracketed[1]! : v4port ? parts[0]! : v;
  if ((parseIpv4(ip) === null && parseIpv6(ip) === null) || (port !== undefined && Number(port) > 65535)) {
    throw new InputError(`${option} '${v}': not an IPv4 or IPv6 address (IP, IP:PORT or [IPv6]:PORT)`);
  }
  return ip;
}

function parseVip(v: string, prev: string[] | undefined): string[] {
  return collect(parseAddressArg('--vip', v), prev);
}

function parseDirectorIp(v: string, prev: string[] | undefined): string[] {
  return collect(parseAddressArg('--director-ip', v), prev);
}

function parseDirectorMac(v: string, prev: string[] | undefined): string[] {
  if (parseMac(v) === null) throw new InputError(`--director-mac '${v}': not a MAC address (aa:bb:cc:dd:ee:ff)`);
  return collect(v, prev);
}

function parseCount(v: string): number {
  return parseIntegerOption('--count', v, 1, 10, 'probes');
}

const POINTS_HELP = 'client, router, director, rs:IP, rsN';

/** `WORD=…` where WORD could be meant as a capture point name. */
const POINT_LIKE = /^([A-Za-z][\w.:-]*)=(.+)$/;

function isExistingFile(p: string): boolean {
  try {
    return !statSync(p).isDirectory();
  } catch {
    return false;
  }
}

/** The point name of `POINT=FILE`, checked: `rs:IP` needs an IPv4 address (ARP is IPv4). */
function pointName(word: string): string | null {
  if (word === 'client' || word === 'router' || word === 'director' || /^rs\d*$/.test(word)) return word;
  if (word.startsWith('rs:')) {
    if (parseIpv4(word.slice(3)) === null) throw new InputError(`capture point '${word}': '${word.slice(3)}' is not an IPv4 address (rs:IP)`);
    return word;
  }
  return null;
}

/**
 * `director=d.pcap` → ['d.pcap', 'director']; a plain file is point "capture". `martian=x`
 * is an unknown point (a usage error), unless the whole argument names an existing file.
 */
export function splitPointArg(arg: string): [string, string] {
  const m = POINT_LIKE.exec(arg);
  if (m === null) return [arg, 'capture'];
  if (isExistingFile(arg) && !isExistingFile(m[2]!)) return [arg, 'capture'];
  const point = pointName(m[1]!);
  if (point === null) throw new InputError(`unknown capture point '${m[1]!}' (${POINTS_HELP})`);
  return [m[2]!, point];
}

/** Runs the offline diagnosis; resolves to the report (the CLI prints it). */
export async function runArpOffline(captures: readonly string[], opts: ArpCliOptions): Promise<ArpReport> {
  const inputs = [...(opts.director ?? []).map((f): [string, string] => [f, 'director']), ...captures.map(splitPointArg)];
  const labels = [...(opts.director ?? []).map((f) => `--director ${f}`), ...captures];
  if (inputs.length === 0) throw new InputError('arp: no CAPTURE given (or use --live --iface IF --vip IP)');
  // A bad --decap is said before any file is looked at.
  decapOption(opts.decap, []);
  oneShotInputs(inputs.map(([file]) => file));
  for (const r of opts.ignore ?? []) {
    if ((ARP_RULES as readonly string[]).includes(r)) continue;
    const near = closestNames(r, ARP_RULES);
    throw new InputError(`--ignore '${r}': not an ARP rule id${near.length ? `; closest: ${near.join(', ')}` : ''} (ARP rules: ${ARP_RULES.join(', ')})`);
  }
  // A mistyped later capture is said before the earlier ones are read.
  inputs.forEach(([file], i) => checkInput(labels[i]!, file));
  const vips = [...(opts.vip ?? [])];
  const vipSources: Record<string, 'given' | 'config'> = Object.fromEntries(vips.map((v) => [v, 'given']));
  const realServers: string[] = [];
  if (opts.config?.length) {
    const read = configOptionsOf(opts);
    const set = mergeServiceSets(await Promise.all(opts.config.map((f) => loadServiceConfigWith(f, read))));
    for (const s of set.services) {
      if (s.vip !== '' && !vips.includes(s.vip)) {
        vips.push(s.vip);
        vipSources[s.vip] = 'config';
      }
      for (const rs of s.realServers) if (!realServers.includes(rs.ip)) realServers.push(rs.ip);
    }
  }
  // An overlay sent to a VIP or real server is the service's own traffic (decode/decap.ts).
  const decap = decapOption(opts.decap, [...vips, ...realServers]);
  const analyzer = new ArpAnalyzer({ vips, vipSources, directorMacs: opts.directorMac ?? [], directorIps: opts.directorIp ?? [], realServers });
  const onWarning = (w: CaptureWarning): void => {
    clearProgressLine();
    process.stderr.write(`lvsaudit: warning: ${w.file}: offset ${w.offset}: ${w.message}\n`);
  };
  for (const [file, point] of inputs) {
    try {
      await forEachPacket(file, (p) => analyzer.observe(p, point), { onWarning, decode: { decap } });
    } catch (e) {
      if (e instanceof CaptureError) throw new InputError(e.message);
      throw e;
    }
  }
  const report = analyzer.finish();
  if (opts.ignore?.length) report.findings = report.findings.filter((f) => !opts.ignore!.includes(f.rule));
  return report;
}

/** Compact table: no line between rows, so a long timeline stays readable. */
const COMPACT = { mid: '', 'left-mid': '', 'mid-mid': '', 'right-mid': '' };

const SEVERITY_ORDER: Record<Severity, number> = { error: 0, warning: 1, info: 2 };

function renderFindings(findings: readonly Finding[], out: string[]): void {
  const byRule = new Map<string, Finding[]>();
  for (const f of [...findings].sort((a, b) => SEVERITY_ORDER[a.severity] - SEVERITY_ORDER[b.severity])) {
    const list = byRule.get(f.rule);
    if (list) list.push(f);
    else byRule.set(f.rule, [f]);
  }
  for (const [rule, list] of byRule) {
    out.push('', `[${list[0]!.severity}] ${rule} (${list.length})`);
    for (const f of list) {
      out.push(`  - ${f.message}`);
      for (const e of f.evidence) {
        const where = e.frame > 0 ? `${e.capture}#${e.frame}` : e.capture;
        out.push(`      ${where} (${e.point})${e.note ? ` ${e.note}` : ''}`);
      }
      out.push(`    hint: ${f.hint}`);
    }
  }
}

function summaryLine(findings: readonly Finding[]): string {
  const n = (s: Severity): number => findings.filter((f) => f.severity === s).length;
  return `${n('error')} errors, ${n('warning')} warnings, ${n('info')} info`;
}

export function renderArpText(r: ArpReport): string {
  const out: string[] = [];
  const nd = r.stats.ndpPackets > 0 ? ` (${r.stats.ndpPackets} of them neighbor discovery)` : '';
  out.push(`arp: ${hasError(r.findings) ? 'FAIL' : 'PASS'}  (${summaryLine(r.findings)}; ${r.stats.arpPackets} ARP packets${nd} in ${r.stats.frames} frames)`);
  if (r.vips.length === 0) out.push('VIP: none given or inferred (use --vip or --config)');
  for (const v of r.vips) {
    const d = r.directors.find((x) => x.vip === v.ip);
    const label = v.source === 'inferred' ? 'VIP (inferred: a host claims it and forwards traffic to it)' : `VIP (${v.source})`;
    out.push(`${label}: ${v.ip}`);
    if (d) {
      const how = d.method === 'given' ? 'given' : d.method === 'none' ? 'not inferred' : `inferred (${d.method})`;
      out.push(`  director ${d.macs.length ? d.macs.join(', ') : '?'} — ${how}: ${d.reason}`);
    }
  }
  if (r.roles.length > 0) {
    out.push('roles:');
    for (const x of r.roles) {
      const ips = x.ips.length > 0 ? ` ${x.ips.join(', ')}` : '';
      const vip = x.vip !== undefined && x.role !== 'router' ? ` of ${x.vip}` : '';
      const frames = x.evidence.length > 0 ? ` [${x.evidence.map((e) => `${e.capture}#${e.frame}`).join(', ')}]` : '';
      out.push(`  ${x.role.replace('-', ' ')}${vip} ${x.mac}${ips} — ${x.how}, ${x.confidence}: ${x.reason}${frames}`);
    }
  }
  if (r.stats.dropped > 0) out.push(`warning: ${r.stats.dropped} records dropped at the memory bound; counts are lower bounds`);
  if (r.timeline.length > 0) {
    const t = new Table({
      head: ['VLAN', 'IP', 'MAC', 'first seen', 'last seen', 'pkts', 'req', 'rep', 'garp', 'role'],
      style: { head: [], border: [] },
      chars: COMPACT,
    });
    for (const row of r.timeline) {
      t.push([row.vlan || '-', row.ip, row.mac, row.firstSeen, row.lastSeen, row.packets, row.requests, row.replies, row.gratuitous, row.role]);
    }
    out.push('', 'ARP sender timeline (per VLAN, IP and MAC):', t.toString());
  }
  renderFindings(r.findings, out);
  if (r.notEvaluated.length > 0) {
    out.push('', 'not evaluated:');
    for (const n of r.notEvaluated) out.push(`  ${n.rule}: ${n.reason}`);
  }
  return out.join('\n') + '\n';
}

export function renderArpJson(r: ArpReport): string {
  const doc = {
    tool: 'lvsaudit',
    version: VERSION,
    verdict: hasError(r.findings) ? 'fail' : 'pass',
    vips: r.vips,
    directors: r.directors,
    roles: r.roles,
    findings: r.findings,
    notEvaluated: r.notEvaluated,
    timeline: r.timeline,
    stats: r.stats,
  };
  return `${JSON.stringify(doc, null, 2)}\n`;
}

export function renderProbeText(r: ArpProbeResult): string {
  const out: string[] = [];
  out.push(`arp --live: ${hasError(r.findings) ? 'FAIL' : 'PASS'}  who-has ${r.vip} on ${r.iface} from ${r.sourceMac} (${r.sourceIp}), ${r.sent} probes`);
  if (r.answers.length === 0) out.push('no MAC answered');
  else {
    const t = new Table({ head: ['MAC', 'Ethernet source', 'replies', 'first reply', 'director'], style: { head: [], border: [] }, chars: COMPACT });
    for (const a of r.answers) {
      t.push([a.mac, a.ethSrc, `${a.replies}/${r.sent}`, `${a.firstMs} ms`, a.isDirector === null ? '?' : a.isDirector ? 'yes' : 'NO']);
    }
    out.push(t.toString());
  }
  renderFindings(r.findings, out);
  return out.join('\n') + '\n';
}

export function renderProbeJson(r: ArpProbeResult): string {
  const { findings, ...live } = r;
  return `${JSON.stringify({ tool: 'lvsaudit', version: VERSION, verdict: hasError(findings) ? 'fail' : 'pass', live, findings, notEvaluated: [] }, null, 2)}\n`;
}

function checkFormat(f: string | undefined): 'text' | 'json' | 'html' {
  if (f === undefined || f === 'text' || f === 'json' || f === 'html') return f ?? 'text';
  throw new InputError(`--format '${f}': arp writes text, json or html`);
}

/** The whole command: resolves to the exit code. */
export async function runArp(captures: readonly string[], opts: ArpCliOptions): Promise<number> {
  const format = checkFormat(opts.format);
  if (format === 'html' && (opts.watch || opts.live)) throw new InputError('--format html is for an offline arp report (not --watch or --live)');
  if (opts.watch) return runArpWatchCli(captures, opts, format === 'html' ? 'text' : format);
  // --output takes the offline HTML report; otherwise it is --watch's event log.
  const output = format === 'html' ? opts.output : undefined;
  checkNotWatch(format === 'html' ? { ...opts, output: undefined } : opts);
  if (opts.live) {
    if (captures.length > 0 || opts.director?.length || opts.config?.length) {
      throw new InputError('arp --live takes no CAPTURE, --director or --config');
    }
    if (!opts.iface) throw new InputError('arp --live needs --iface IFACE');
    if (opts.vip?.length !== 1) throw new InputError('arp --live needs exactly one --vip IP');
    if (parseIpv4(opts.vip[0]!) === null) throw new InputError(`arp --live --vip ${opts.vip[0]!}: probes IPv4 VIPs only (it sends ARP who-has)`);
    const r = await probeArp({ iface: opts.iface, vip: opts.vip[0]!, count: opts.count ?? 3, directorMacs: opts.directorMac ?? [] });
    process.stdout.write(format === 'json' ? renderProbeJson(r) : renderProbeText(r));
    return hasError(r.findings) ? 1 : 0;
  }
  if (opts.iface || opts.count !== undefined) throw new InputError('--iface and --count are for arp --live');
  if (output !== undefined) checkOutputFile('--output', output, [...captures.map((c) => splitPointArg(c)[0]), ...(opts.director ?? []), ...(opts.config ?? [])]);
  const r = await withProgress({ quiet: opts.quiet === true }, () => runArpOffline(captures, opts));
  const text = format === 'json' ? renderArpJson(r) : format === 'html' ? renderArpHtml(r) : renderArpText(r);
  if (output === undefined) process.stdout.write(text);
  else {
    try {
      writeFileSync(output, text);
    } catch (e) {
      throw outputWriteError('--output', output, e);
    }
  }
  return hasError(r.findings) ? 1 : 0;
}

export const registerArp: CommandRegistrar = (program: Command, setExit: (code: number) => void): void => {
  const cmd = program
    .command('arp')
    .summary('diagnose DR/TUN ARP and IPv6 neighbor discovery problems (real servers claiming the VIP) offline or live')
    .description(
      'Offline: the ARP rules over the captures, the director inference and a per-VLAN/IP MAC timeline.\n' +
        'A CAPTURE may be POINT=FILE (client, router, director, rs:IP, rsN) to say where it was taken.\n' +
        'Live (--live --iface IF --vip IP): send who-has VIP like arping and list every MAC that answers;\n' +
        'more than one MAC, or one that is not a --director-mac, is a finding.',
    )
    .argument('[captures...]', 'CAPTURE or POINT=CAPTURE files (pcap, pcapng, gzip, "-")')
    .option('--vip <ip>', 'VIP, IPv4 (ARP) or IPv6 (neighbor discovery) (repeatable); else taken from --config or inferred', parseVip)
    .option('--director-mac <mac>', 'MAC of a director or VRRP peer (repeatable); else inferred', parseDirectorMac)
    .option('--director-ip <ip>', "a director's own address (DIP): the MAC claiming it is a director (repeatable)", parseDirectorIp)
    .option('--config <file>', 'ipvsadm-save/-Ln or keepalived.conf: VIPs and real servers (repeatable)', collect)
    .option('--director <file>', 'a capture taken on the director (repeatable)', collect)
    .option('--format <fmt>', 'text (default), json or html')
    .option('-q, --quiet', 'no progress line on a terminal')
    .option('--ignore <rule>', 'drop findings of this rule id (repeatable)', collect)
    .option('--decap <how>', 'mirror/overlay transports to read through: auto (default), none, erspan, teb, vxlan[:port], geneve[:port] (repeatable)', collect)
    .option('--live', 'probe the VIP on an interface instead of reading captures')
    .option('--iface <iface>', 'interface for --live (only this one is used)')
    .option('--count <n>', 'who-has probes for --live, 1..10 (default 3, 1 s apart)', parseCount);
  addWatchOptions(cmd)
    .action(async (captures: string[], opts: ArpCliOptions) => {
      setExit(await runArp(captures, opts));
    });
  addConfigReadOptions(cmd);
};

// ---- arp --watch: the options and the call into src/live/arp-watch.ts -------------------------

function parsePositiveInt(name: string, max: number): (v: string) => number {
  return (v: string): number => {
    if (!/^\d+$/.test(v) || Number(v) < 1 || Number(v) > max) throw new InputError(`${name} ${v}: must be an integer in 1..${max}`);
    return Number(v);
  };
}

function parseSeconds(v: string): number {
  if (!/^\d+(\.\d+)?$/.test(v) || Number(v) <= 0) throw new InputError(`--duration ${v}: must be a positive number of seconds`);
  return Number(v);
}

function addWatchOptions(cmd: Command): Command {
  return cmd
    .option('--watch', 'monitor: station table and one line per ARP event (live with --iface, or --file)')
    .option('--file <file>', 'for --watch: a capture to replay, POINT=FILE allowed (repeatable; merged in time)', collect)
    .option('--follow', 'for --watch --file: keep reading the file as it grows (like tail -f)')
    .option('--state <file>', 'for --watch: station table kept in this JSON file across restarts')
    .option('--evidence <dir>', "for --watch: every event's frames in a ring of pcapng files in DIR")
    .option('--evidence-size <MiB>', 'for --watch: total size of the evidence ring (default 64)', parsePositiveInt('--evidence-size', 1_048_576))
    .option('--max-stations <n>', 'for --watch: station table bound (default 65536; the longest quiet dropped first)', parsePositiveInt('--max-stations', 100_000_000))
    .option('--duration <seconds>', 'for --watch: stop after this long (live and --follow)', parseSeconds)
    .option('--output <file>', 'with --format html: write the report to FILE; for --watch: append event lines to FILE instead of stdout (reopened on SIGHUP)');
}

const WATCH_ONLY: ReadonlyArray<[keyof ArpCliOptions, string]> = [
  ['file', '--file'],
  ['follow', '--follow'],
  ['state', '--state'],
  ['evidence', '--evidence'],
  ['evidenceSize', '--evidence-size'],
  ['maxStations', '--max-stations'],
  ['duration', '--duration'],
  ['output', '--output'],
];

function checkNotWatch(opts: ArpCliOptions): void {
  for (const [k, flag] of WATCH_ONLY) if (opts[k] !== undefined) throw new InputError(`${flag} is for arp --watch`);
}

async function runArpWatchCli(captures: readonly string[], opts: ArpCliOptions, format: 'text' | 'json'): Promise<number> {
  if (captures.length > 0) throw new InputError(`arp --watch reads --file FILE or --iface IF, not a CAPTURE argument (${captures[0]})`);
  if (opts.live || opts.count !== undefined || opts.director?.length || opts.ignore?.length) {
    throw new InputError('arp --watch takes no --live, --count, --director or --ignore');
  }
  const files = (opts.file ?? []).map(splitPointArg);
  if ((opts.iface === undefined) === (files.length === 0)) throw new InputError('arp --watch needs either --iface IF or --file FILE');
  if (opts.follow && files.length !== 1) throw new InputError('arp --watch --follow needs exactly one --file');
  const vips = [...(opts.vip ?? [])];
  const realServers: string[] = [];
  if (opts.config?.length) {
    const read = configOptionsOf(opts);
    const set = mergeServiceSets(await Promise.all(opts.config.map((f) => loadServiceConfigWith(f, read))));
    for (const s of set.services) {
      if (s.vip !== '' && !vips.includes(s.vip)) vips.push(s.vip);
      for (const rs of s.realServers) if (!realServers.includes(rs.ip)) realServers.push(rs.ip);
    }
  }
  const summary = await runArpWatch({
    ...(opts.iface !== undefined ? { iface: opts.iface } : { files }),
    follow: opts.follow === true,
    vips,
    directorMacs: opts.directorMac ?? [],
    realServers,
    ...(opts.state !== undefined ? { state: opts.state } : {}),
    ...(opts.evidence !== undefined ? { evidence: opts.evidence } : {}),
    ...(opts.evidenceSize !== undefined ? { evidenceBytes: opts.evidenceSize * 1024 * 1024 } : {}),
    ...(opts.maxStations !== undefined ? { maxStations: opts.maxStations } : {}),
    ...(opts.duration !== undefined ? { durationSec: opts.duration } : {}),
    ...(opts.output !== undefined ? { output: opts.output } : {}),
    format,
    onStarted: () => {
      if (opts.iface !== undefined) process.stderr.write(`arp --watch: listening on ${opts.iface} (receive only)\n`);
      else if (opts.follow) process.stderr.write(`arp --watch: following ${files[0]![0]}\n`);
    },
  });
  const ev = Object.values(summary.events).reduce((a, b) => a + b, 0);
  process.stderr.write(
    `arp --watch: ${summary.records} ARP packets, ${summary.stations} stations (${summary.dropped} dropped at the bound), ${ev} events (${summary.errorEvents} errors)\n`,
  );
  return summary.errorEvents > 0 ? 1 : 0;
}
