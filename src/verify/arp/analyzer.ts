/**
 * The ARP engine: feed it every packet of every capture (`observe`), then `finish()` for the
 * report. `lvsaudit arp` drives it over its captures; `verify` calls it on its own stream.
 *
 *   const a = new ArpAnalyzer({ vips: ['10.0.0.100'] });
 *   await forEachPacket(file, (p) => a.observe(p, 'client'));
 *   const report = a.finish();
 */
import { formatTimestamp } from '../../decode/frame.js';
import type { Packet } from '../../decode/packet.js';
import { AddressBook } from './addr.js';
import type { Finding, NotEvaluated } from '../model/findings.js';
import { learn, type Knowledge } from './knowledge.js';
import { macText, parseMacNum } from './mac.js';
import { ArpCollector, byTime, mergeCopies, type ArpRecord } from './records.js';
import * as rules from './rules.js';
import type { ArpContext, ArpReport, TimelineRow, VipInfo } from './types.js';

/** Rule ids in catalog order (rules.md "ARP"). */
export const ARP_RULES = [
  'arp.vip-conflict',
  'arp.vip-answered-by-rs',
  'arp.vip-announced-by-rs',
  'arp.vip-garp-by-non-director',
  'arp.client-poisoned',
  'arp.flip-flop',
  'arp.changed-mac',
  'arp.unsolicited-reply',
  'arp.sender-mac-mismatch',
  'arp.unanswered',
  'arp.garp-burst',
] as const;

/** Rules that need the VIP's directors (arp.vip-conflict needs only the VIP). */
const VIP_RULES = ARP_RULES.slice(1, 5);

export class ArpAnalyzer {
  private readonly collector: ArpCollector;
  private readonly givenVips = new Map<number, VipInfo['source']>();
  private readonly directorMacs: number[] = [];
  private readonly realServers = new Set<number>();
  private readonly directorIps = new Set<number>();
  private readonly addrs = new AddressBook();

  /**
   * Throws a plain Error naming the bad value when a VIP, MAC or RIP does not parse; the CLI
   * validates options first and turns its own errors into exit 2.
   */
  constructor(private readonly ctx: ArpContext = {}) {
    for (const v of ctx.vips ?? []) {
      const n = this.addrs.parse(v);
      if (n === null) throw new Error(`not an IP address: VIP ${v}`);
      this.givenVips.set(n, ctx.vipSources?.[v] ?? 'given');
    }
    for (const d of ctx.directorIps ?? []) {
      const n = this.addrs.parse(d);
      if (n === null) throw new Error(`not an IP address: director ${d}`);
      this.directorIps.add(n);
    }
    for (const m of ctx.directorMacs ?? []) {
      const n = parseMacNum(m);
      if (n === null) throw new Error(`not a MAC address: ${m}`);
      this.directorMacs.push(n);
    }
    for (const r of ctx.realServers ?? []) {
      const n = this.addrs.parse(r);
      if (n !== null) this.realServers.add(n);
    }
    const vips = this.givenVips;
    // Without VIPs every destination is aggregated (bounded) so they can be inferred later.
    this.collector = new ArpCollector(vips.size > 0 ? (d) => vips.has(d) : () => true, { addrs: this.addrs, vipsGiven: vips.size > 0 });
  }

  /** Look at one decoded packet taken at capture point `point` ("client", "director", "rs:IP"). */
  observe(p: Packet, point: string): void {
    this.collector.observe(p, point);
  }

  finish(): ArpReport {
    const c = this.collector;
    const arp = mergeCopies([...c.arp].sort(byTime));
    const k = learn({
      addrs: this.addrs,
      arp,
      aggs: c.aggs,
      replies: c.replies,
      givenVips: this.givenVips,
      directorMacs: this.directorMacs,
      directorIps: this.directorIps,
      realServers: this.realServers,
      directorPoint: this.ctx.directorPoint ?? 'director',
      pointMacs: c.pointMacs,
    });
    const input: rules.RuleInput = {
      arp,
      aggs: c.aggs.filter((a) => k.vipSet.has(a.dst)),
      k,
      windowNs: (this.ctx.replyWindowSec ?? 3) * 1e9,
      captureStart: c.captureStart,
      captureEnd: c.captureEnd,
      unicastSeen: c.unicastSeenFromOthers,
    };

    const notEvaluated = this.notEvaluated(k, arp.length, input.aggs.length);
    const skip = new Set(notEvaluated.filter((n) => !n.reason.startsWith('for VIP')).map((n) => n.rule));
    const producers: Array<[string, (i: rules.RuleInput) => Finding[]]> = [
      ['arp.vip-conflict', rules.vipConflict],
      ['arp.vip-answered-by-rs', rules.vipAnsweredByRs],
      ['arp.vip-announced-by-rs', rules.vipAnnouncedByRs],
      ['arp.vip-garp-by-non-director', rules.vipGarpByNonDirector],
      ['arp.client-poisoned', rules.clientPoisoned],
      ['arp.flip-flop', rules.flipFlop],
      ['arp.changed-mac', rules.changedMac],
      ['arp.unsolicited-reply', rules.unsolicitedReply],
      ['arp.sender-mac-mismatch', rules.senderMacMismatch],
      ['arp.unanswered', rules.unanswered],
      ['arp.garp-burst', rules.garpBurst],
    ];
    const findings: Finding[] = [];
    for (const [id, produce] of producers) if (!skip.has(id)) findings.push(...produce(input));

    return {
      vips: k.vips,
      directors: k.directors,
      roles: k.roles,
      findings,
      notEvaluated,
      timeline: timeline(arp, k),
      stats: {
        frames: c.frames,
        arpPackets: c.arp.length,
        ndpPackets: c.arp.reduce((n, r) => n + (r.ndp ? 1 : 0), 0),
        vipFrames: input.aggs.reduce((s, a) => s + a.frames, 0),
        dropped: c.dropped,
      },
    };
  }

  private notEvaluated(k: Knowledge, arpCount: number, vipAggs: number): NotEvaluated[] {
    const out: NotEvaluated[] = [];
    if (arpCount === 0) {
      for (const rule of ARP_RULES) if (rule !== 'arp.client-poisoned') out.push({ rule, reason: 'no ARP or neighbor discovery packets in the captures' });
    }
    if (k.vipSet.size === 0) {
      for (const rule of ['arp.vip-conflict', ...VIP_RULES]) {
        if (!out.some((n) => n.rule === rule)) {
          out.push({ rule, reason: 'no VIP given (--vip, --config) and none inferred (no host both claims an address and forwards traffic to it)' });
        }
      }
      return out;
    }
    for (const d of k.directors) {
      if (d.method !== 'none') continue;
      for (const rule of VIP_RULES) out.push({ rule, reason: `for VIP ${d.vip}: director MAC unknown — ${d.reason}` });
    }
    if (vipAggs === 0 && !out.some((n) => n.rule === 'arp.client-poisoned')) {
      out.push({
        rule: 'arp.client-poisoned',
        reason: 'no Ethernet frames to a VIP in the captures (cooked/SLL captures have no destination MAC)',
      });
    }
    return out;
  }
}

function timeline(arp: readonly ArpRecord[], k: Knowledge): TimelineRow[] {
  const rows = new Map<string, { r: TimelineRow; first: ArpRecord; ip: number }>();
  for (const r of arp) {
    if (r.probe || r.spa === 0) continue;
    const key = `${r.vlan}|${r.spa}|${r.sha}`;
    let row = rows.get(key);
    if (!row) {
      const isVip = k.vipSet.has(r.spa);
      const role = k.allDirectors.has(r.sha)
        ? 'director'
        : isVip && (k.directorsOf.get(r.spa)?.size ?? 0) > 0
          ? 'NOT a director'
          : k.realServers.has(r.spa) || k.vipServers.has(r.sha)
            ? 'real server'
            : k.roles.some((x) => x.role === 'router' && x.mac === macText(r.sha))
              ? 'router'
              : '';
      row = {
        r: {
          vlan: r.vlan,
          ip: k.addrs.text(r.spa) + (isVip ? ' (VIP)' : ''),
          mac: macText(r.sha),
          firstSeen: formatTimestamp(r.tsSec, r.tsNsec),
          lastSeen: '',
          packets: 0,
          requests: 0,
          replies: 0,
          gratuitous: 0,
          role,
        },
        first: r,
        ip: r.spa,
      };
      rows.set(key, row);
    }
    row.r.lastSeen = formatTimestamp(r.tsSec, r.tsNsec);
    row.r.packets++;
    if (r.gratuitous) row.r.gratuitous++;
    else if (r.op === 1) row.r.requests++;
    else if (r.op === 2) row.r.replies++;
  }
  return [...rows.values()]
    .sort((a, b) => a.r.vlan.localeCompare(b.r.vlan) || a.ip - b.ip || byTime(a.first, b.first))
    .map((x) => x.r);
}
