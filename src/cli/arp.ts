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
import Table from 'cli-table3';
import type { Command } from 'commander';
import { parseIpv4, parseMac } from '../decode/addr.js';
import { CaptureError, oneShotInputs, type CaptureWarning } from '../decode/capture/index.js';
import { forEachPacket } from '../decode/stream.js';
import { probeArp, type ArpProbeResult } from '../live/arp-probe.js';
import { ArpAnalyzer, ARP_RULES, type ArpReport } from '../verify/arp/index.js';
import { hasError, type Finding, type Severity } from '../verify/model/findings.js';
import { loadServiceConfig, mergeServiceSets } from '../verify/service/index.js';
import { VERSION } from '../version.js';
import { InputError } from '../errors.js';
import type { CommandRegistrar } from './registrar.js';

export interface ArpCliOptions {
  vip?: string[];
  directorMac?: string[];
  config?: string[];
  director?: string[];
  format?: string;
  ignore?: string[];
  live?: boolean;
  iface?: string;
  count?: number;
}

const collect = (v: string, prev: string[] | undefined): string[] => [...(prev ?? []), v];

function parseVip(v: string, prev: string[] | undefined): string[] {
  // ARP is IPv4: an IP:PORT form (as verify takes) is accepted and the port ignored.
  const ip = v.includes(':') && v.split(':').length === 2 ? v.split(':')[0]! : v;
  if (parseIpv4(ip) === null) throw new InputError(`--vip ${v}: not an IPv4 address (ARP is IPv4 only)`);
  return collect(ip, prev);
}

function parseDirectorMac(v: string, prev: string[] | undefined): string[] {
  if (parseMac(v) === null) throw new InputError(`--director-mac ${v}: not a MAC address (aa:bb:cc:dd:ee:ff)`);
  return collect(v, prev);
}

function parseCount(v: string): number {
  if (!/^\d+$/.test(v) || Number(v) < 1 || Number(v) > 10) throw new InputError(`--count ${v}: must be 1..10`);
  return Number(v);
}

const POINT_ARG = /^(client|router|director|rs\d*|rs:[0-9.]+)=(.+)$/;

/** `director=d.pcap` → ['d.pcap', 'director']; a plain file is point "capture". */
export function splitPointArg(arg: string): [string, string] {
  const m = POINT_ARG.exec(arg);
  return m ? [m[2]!, m[1]!] : [arg, 'capture'];
}

/** Runs the offline diagnosis; resolves to the report (the CLI prints it). */
export async function runArpOffline(captures: readonly string[], opts: ArpCliOptions): Promise<ArpReport> {
  const inputs = [...(opts.director ?? []).map((f): [string, string] => [f, 'director']), ...captures.map(splitPointArg)];
  if (inputs.length === 0) throw new InputError('arp: no CAPTURE given (or use --live --iface IF --vip IP)');
  oneShotInputs(inputs.map(([file]) => file));
  for (const r of opts.ignore ?? []) {
    if (!(ARP_RULES as readonly string[]).includes(r)) throw new InputError(`--ignore ${r}: not an ARP rule id (${ARP_RULES.join(', ')})`);
  }
  const vips = [...(opts.vip ?? [])];
  const vipSources: Record<string, 'given' | 'config'> = Object.fromEntries(vips.map((v) => [v, 'given']));
  const realServers: string[] = [];
  if (opts.config?.length) {
    const set = mergeServiceSets(await Promise.all(opts.config.map((f) => loadServiceConfig(f))));
    for (const s of set.services) {
      if (s.family === 4 && s.vip !== '' && !vips.includes(s.vip)) {
        vips.push(s.vip);
        vipSources[s.vip] = 'config';
      }
      for (const rs of s.realServers) if (!realServers.includes(rs.ip)) realServers.push(rs.ip);
    }
  }
  const analyzer = new ArpAnalyzer({ vips, vipSources, directorMacs: opts.directorMac ?? [], realServers });
  const onWarning = (w: CaptureWarning): void => {
    process.stderr.write(`lvsaudit: warning: ${w.file}: offset ${w.offset}: ${w.message}\n`);
  };
  for (const [file, point] of inputs) {
    try {
      await forEachPacket(file, (p) => analyzer.observe(p, point), { onWarning });
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
  out.push(`arp: ${hasError(r.findings) ? 'FAIL' : 'PASS'}  (${summaryLine(r.findings)}; ${r.stats.arpPackets} ARP packets in ${r.stats.frames} frames)`);
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

function checkFormat(f: string | undefined): 'text' | 'json' {
  if (f === undefined || f === 'text' || f === 'json') return f ?? 'text';
  throw new InputError(`--format ${f}: arp writes text or json`);
}

/** The whole command: resolves to the exit code. */
export async function runArp(captures: readonly string[], opts: ArpCliOptions): Promise<number> {
  const format = checkFormat(opts.format);
  if (opts.live) {
    if (captures.length > 0 || opts.director?.length || opts.config?.length) {
      throw new InputError('arp --live takes no CAPTURE, --director or --config');
    }
    if (!opts.iface) throw new InputError('arp --live needs --iface IFACE');
    if (opts.vip?.length !== 1) throw new InputError('arp --live needs exactly one --vip IP');
    const r = await probeArp({ iface: opts.iface, vip: opts.vip[0]!, count: opts.count ?? 3, directorMacs: opts.directorMac ?? [] });
    process.stdout.write(format === 'json' ? renderProbeJson(r) : renderProbeText(r));
    return hasError(r.findings) ? 1 : 0;
  }
  if (opts.iface || opts.count !== undefined) throw new InputError('--iface and --count are for arp --live');
  const r = await runArpOffline(captures, opts);
  process.stdout.write(format === 'json' ? renderArpJson(r) : renderArpText(r));
  return hasError(r.findings) ? 1 : 0;
}

export const registerArp: CommandRegistrar = (program: Command, setExit: (code: number) => void): void => {
  program
    .command('arp')
    .summary('diagnose DR/TUN ARP problems (real servers claiming the VIP) offline or live')
    .description(
      'Offline: the ARP rules over the captures, the director inference and a per-VLAN/IP MAC timeline.\n' +
        'A CAPTURE may be POINT=FILE (client, router, director, rs:IP, rsN) to say where it was taken.\n' +
        'Live (--live --iface IF --vip IP): send who-has VIP like arping and list every MAC that answers;\n' +
        'more than one MAC, or one that is not a --director-mac, is a finding.',
    )
    .argument('[captures...]', 'CAPTURE or POINT=CAPTURE files (pcap, pcapng, gzip, "-")')
    .option('--vip <ip>', 'VIP (repeatable); else taken from --config or inferred', parseVip)
    .option('--director-mac <mac>', 'MAC of a director or VRRP peer (repeatable); else inferred', parseDirectorMac)
    .option('--config <file>', 'ipvsadm-save/-Ln or keepalived.conf: VIPs and real servers (repeatable)', collect)
    .option('--director <file>', 'a capture taken on the director (repeatable)', collect)
    .option('--format <fmt>', 'text (default) or json')
    .option('--ignore <rule>', 'drop findings of this rule id (repeatable)', collect)
    .option('--live', 'probe the VIP on an interface instead of reading captures')
    .option('--iface <iface>', 'interface for --live (only this one is used)')
    .option('--count <n>', 'who-has probes for --live, 1..10 (default 3, 1 s apart)', parseCount)
    .action(async (captures: string[], opts: ArpCliOptions) => {
      setExit(await runArp(captures, opts));
    });
};
