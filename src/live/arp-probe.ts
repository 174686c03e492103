/**
 * Live ARP probe (`lvsaudit arp --live --iface IF --vip IP`): like `arping`, send who-has VIP on
 * one interface through libpcap (the optional `cap` binding) and list every MAC that answers.
 * In DR/TUN only the director may answer; a second MAC is a real server with arp_ignore=0.
 *
 * Safe by default: only the named interface, at most MAX_COUNT probes, at least MIN_INTERVAL_MS
 * apart, a bounded wait; the frames are plain broadcast who-has, as any host sends.
 */
import { existsSync, readFileSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import { EnvironmentError, InputError } from '../errors.js';
import { loadCap } from '../decode/capture/cap-port.js';
import { ipv4ToString, parseIpv4 } from '../decode/addr.js';
import { decodeBytes } from '../decode/decoder.js';
import { LinkType } from '../decode/frame.js';
import { PacketBuilder } from '../replay/builder/index.js';
import type { Finding } from '../verify/model/findings.js';
import { macNum, macText, parseMacNum } from '../verify/arp/mac.js';
import { arpIgnoreHint } from '../verify/arp/hints.js';

export const MAX_COUNT = 10;
export const MIN_INTERVAL_MS = 200;
export const MAX_WAIT_MS = 10_000;

export interface ArpProbeOptions {
  iface: string;
  vip: string;
  /** Who-has frames to send (default 3, at most MAX_COUNT). */
  count?: number;
  /** Gap between probes (default 1000 ms, at least MIN_INTERVAL_MS). */
  intervalMs?: number;
  /** How long to keep listening after the last probe (default 1500 ms, at most MAX_WAIT_MS). */
  waitMs?: number;
  /** Sender IP of the probes: default the interface's first IPv4 address, else 0.0.0.0 (RFC 5227 probe). */
  sourceIp?: string;
  /** Known director MACs: any other answering MAC is an error. */
  directorMacs?: readonly string[];
}

export interface ProbeAnswer {
  mac: string;
  /** Ethernet source of the replies (differs from `mac` only on a sender-MAC mismatch). */
  ethSrc: string;
  replies: number;
  /** Milliseconds from the first probe to the first reply from this MAC. */
  firstMs: number;
  isDirector: boolean | null;
}

export interface ArpProbeResult {
  iface: string;
  vip: string;
  sourceMac: string;
  sourceIp: string;
  sent: number;
  answers: ProbeAnswer[];
  findings: Finding[];
}

/** Interface MAC (sysfs) and first IPv4 address; EnvironmentError when the interface is absent. */
export function interfaceInfo(iface: string): { mac: string; ipv4: string | null } {
  if (!/^[\w.:@-]{1,15}$/.test(iface) || !existsSync(`/sys/class/net/${iface}`)) {
    throw new EnvironmentError(`--iface ${iface}: no such network interface here`);
  }
  let mac = '';
  try {
    mac = readFileSync(`/sys/class/net/${iface}/address`, 'utf8').trim();
  } catch {
    /* checked below */
  }
  if (parseMacNum(mac) === null || mac === '00:00:00:00:00:00') {
    throw new EnvironmentError(`--iface ${iface}: not an Ethernet interface (no MAC address), ARP cannot be probed there`);
  }
  const v4 = (networkInterfaces()[iface] ?? []).find((a) => a.family === 'IPv4');
  return { mac, ipv4: v4?.address ?? null };
}

/** who-has VIP tell SRC, broadcast, as arping sends it. */
export function buildWhoHas(srcMac: string, srcIp: string, vip: string): Buffer {
  return PacketBuilder.eth({ src: srcMac, dst: 'ff:ff:ff:ff:ff:ff' })
    .arp({ op: 1, sha: srcMac, spa: srcIp, tha: '00:00:00:00:00:00', tpa: vip })
    .build();
}

/** Collects replies "VIP is-at MAC" addressed to the prober. Pure: fed frame bytes. */
export class ProbeCollector {
  private readonly byMac = new Map<number, ProbeAnswer>();
  private readonly vip: number;
  private readonly src: number;
  private readonly myMac: number;

  constructor(vip: string, sourceIp: string, sourceMac: string, private readonly directors: ReadonlySet<number> | null) {
    this.vip = parseIpv4(vip)!;
    this.src = parseIpv4(sourceIp)!;
    this.myMac = parseMacNum(sourceMac)!;
  }

  /** One captured frame `ms` after the first probe. */
  add(frame: Buffer, ms: number): void {
    const p = decodeBytes(frame, LinkType.ETHERNET);
    const a = p.arp;
    if (!a.present || !a.isEthIpv4 || a.op !== 2 || a.spa !== this.vip) return;
    // Only answers to us: addressed to our IP, or to our MAC (replies to a 0.0.0.0 probe).
    if (a.tpa !== this.src && macNum(p.buf, a.thaOff) !== this.myMac) return;
    const sha = macNum(p.buf, a.shaOff);
    const prev = this.byMac.get(sha);
    if (prev) prev.replies++;
    else {
      this.byMac.set(sha, {
        mac: macText(sha),
        ethSrc: p.eth.present ? macText(macNum(p.buf, p.eth.srcOff)) : macText(sha),
        replies: 1,
        firstMs: Math.round(ms),
        isDirector: this.directors === null ? null : this.directors.has(sha),
      });
    }
  }

  answers(): ProbeAnswer[] {
    return [...this.byMac.values()].sort((x, y) => x.firstMs - y.firstMs);
  }
}

/** Findings of a probe: a non-director answer, several answering MACs, or no answer at all. */
export function judgeProbe(iface: string, vip: string, sent: number, answers: readonly ProbeAnswer[], directorsKnown: boolean): Finding[] {
  const evidence = [{ capture: `live:${iface}`, frame: 0, point: 'live' }];
  if (answers.length === 0) {
    return [
      {
        rule: 'arp.unanswered',
        severity: 'warning',
        message: `${sent} who-has ${vip} on ${iface} got no reply: no host on this segment claims the VIP`,
        hint: `Is the director up and is ${vip} configured on it? Is ${iface} on the director's segment/VLAN?`,
        evidence,
      },
    ];
  }
  const out: Finding[] = [];
  const all = answers.map((a) => a.mac).join(', ');
  if (directorsKnown) {
    for (const a of answers) {
      if (a.isDirector) continue;
      out.push({
        rule: 'arp.vip-answered-by-rs',
        severity: 'error',
        message: `${a.mac} answered who-has ${vip} on ${iface} (${a.replies} of ${sent} probes, first after ${a.firstMs} ms) and is not a director; answering MACs: ${all}`,
        hint: arpIgnoreHint(`the host with MAC ${a.mac} (see \`ip -br link\` there)`, vip),
        evidence,
      });
    }
  } else if (answers.length > 1) {
    out.push({
      rule: 'arp.vip-answered-by-rs',
      severity: 'error',
      message: `${answers.length} MACs answered who-has ${vip} on ${iface}: ${all}; only the director may (pass --director-mac to name it)`,
      hint: arpIgnoreHint('every answering host that is not the director', vip),
      evidence,
    });
  }
  return out;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function bounded(name: string, v: number | undefined, def: number, min: number, max: number): number {
  const x = v ?? def;
  if (!Number.isInteger(x) || x < min || x > max) throw new InputError(`${name} must be an integer in ${min}..${max} (got ${x})`);
  return x;
}

/** Sends the probes and listens; resolves with every answering MAC and the findings. */
export async function probeArp(opts: ArpProbeOptions): Promise<ArpProbeResult> {
  const vipNum = parseIpv4(opts.vip);
  if (vipNum === null) throw new InputError(`--vip ${opts.vip}: not an IPv4 address (ARP is IPv4 only)`);
  const vip = ipv4ToString(vipNum);
  const count = bounded('--count', opts.count, 3, 1, MAX_COUNT);
  const intervalMs = bounded('interval', opts.intervalMs, 1000, MIN_INTERVAL_MS, 60_000);
  const waitMs = bounded('wait', opts.waitMs, 1500, 0, MAX_WAIT_MS);
  const directors = opts.directorMacs?.length
    ? new Set(
        opts.directorMacs.map((m) => {
          const n = parseMacNum(m);
          if (n === null) throw new InputError(`--director-mac ${m}: not a MAC address`);
          return n;
        }),
      )
    : null;
  if (typeof process.getuid === 'function' && process.getuid() !== 0) {
    throw new EnvironmentError('arp --live sends raw frames: run as root (or with CAP_NET_RAW)');
  }
  const info = interfaceInfo(opts.iface);
  const sourceIp = opts.sourceIp ?? info.ipv4 ?? '0.0.0.0';
  if (parseIpv4(sourceIp) === null) throw new InputError(`source address ${sourceIp}: not an IPv4 address`);
  const { Cap } = await loadCap('arp --live');

  const cap = new Cap();
  const buf = Buffer.alloc(65535);
  let linkType: string;
  try {
    linkType = cap.open(opts.iface, 'arp', 1024 * 1024, buf);
  } catch (e) {
    throw new EnvironmentError(`cannot open ${opts.iface} with libpcap: ${(e as Error).message}`);
  }
  const collector = new ProbeCollector(vip, sourceIp, info.mac, directors);
  let t0 = 0;
  let sent = 0;
  try {
    if (linkType !== 'ETHERNET') throw new EnvironmentError(`${opts.iface} has link type ${linkType}, not Ethernet: ARP cannot be probed there`);
    cap.on('packet', (nbytes) => {
      if (sent > 0) collector.add(Buffer.from(buf.subarray(0, nbytes)), performance.now() - t0);
    });
    const frame = buildWhoHas(info.mac, sourceIp, vip);
    for (let i = 0; i < count; i++) {
      if (i > 0) await sleep(intervalMs);
      if (i === 0) t0 = performance.now();
      try {
        cap.send(frame, frame.length);
      } catch (e) {
        throw new EnvironmentError(`cannot send on ${opts.iface}: ${(e as Error).message}`);
      }
      sent++;
    }
    await sleep(waitMs);
  } finally {
    cap.close();
  }
  const answers = collector.answers();
  return {
    iface: opts.iface,
    vip,
    sourceMac: info.mac,
    sourceIp,
    sent,
    answers,
    findings: judgeProbe(opts.iface, vip, sent, answers, directors !== null),
  };
}
