/**
 * `decode --summary`: a protocol hierarchy (like `tshark -q -z io,phs`) plus counts of what
 * went wrong (truncated / malformed layers, bad checksums, capture warnings).
 *
 * Every packet walks a small trie of layer nodes keyed by numeric ids, so after the first
 * packet of each shape nothing is allocated; malformed reasons are the only strings keyed
 * per packet, and only for malformed packets.
 */
import type { EncapKind, EncapLevel, NetLayers, Packet } from './packet.js';
import type { CaptureWarning } from './capture/index.js';

// Node ids: small fixed ids for named layers; ethertypes / IP protocols / link types in ranges.
const ID = {
  eth: 1, sll: 2, sll2: 3, raw: 4, null: 5, vlan: 6, arp: 7, ipv4: 8, ipv6: 9, tcp: 10, udp: 11, icmp: 12,
  icmpv6: 13, gre: 14, gue: 15, toa: 16, quoted: 17, fragment: 18, vxlan: 19, geneve: 20, erspan: 21, mpls: 22,
  uoa: 23,
} as const;
/** The node an encapsulation level adds between its carrier and what it carries (0: none, as
 *  IPIP/SIT/6in6 have no header of their own). */
const LEVEL_ID: Record<EncapKind, number> = {
  ipip: 0, ip6ip: 0, sit: 0, ip6ip6: 0, gre: ID.gre, 'gre-udp': ID.gre, gue: ID.gue, erspan2: ID.erspan, erspan3: ID.erspan,
  vxlan: ID.vxlan, geneve: ID.geneve, mpls: ID.mpls, 'mpls-udp': ID.mpls,
};
/** Levels whose header is a UDP payload: their node hangs below the carrier's udp node. */
function overUdp(kind: EncapKind): boolean {
  return kind === 'gue' || kind === 'vxlan' || kind === 'geneve' || kind === 'gre-udp' || kind === 'mpls-udp';
}
const NAMES: Record<number, string> = Object.fromEntries(Object.entries(ID).map(([k, v]) => [v, k]));
const ETHERTYPE_BASE = 0x10000;
const IPPROTO_BASE = 0x20000;
const LINKTYPE_BASE = 0x30000;

function idName(id: number): string {
  if (id >= LINKTYPE_BASE) return 'linktype-' + (id - LINKTYPE_BASE);
  if (id >= IPPROTO_BASE) return 'ip-proto-' + (id - IPPROTO_BASE);
  if (id >= ETHERTYPE_BASE) return 'ethertype-0x' + (id - ETHERTYPE_BASE).toString(16).padStart(4, '0');
  return NAMES[id] ?? 'id-' + id;
}

class PhsNode {
  packets = 0;
  bytes = 0;
  readonly children = new Map<number, PhsNode>();
  /** The child asked for last: captures repeat one packet shape, so this skips most Map lookups. */
  private lastId = -1;
  private lastChild: PhsNode | null = null;
  constructor(readonly name: string) {}

  child(id: number): PhsNode {
    if (id === this.lastId) return this.lastChild!;
    let c = this.children.get(id);
    if (c === undefined) {
      c = new PhsNode(idName(id));
      this.children.set(id, c);
    }
    this.lastId = id;
    this.lastChild = c;
    return c;
  }
}

export interface ProtocolCount {
  name: string;
  packets: number;
  bytes: number;
  children: ProtocolCount[];
}

export interface SummaryReport {
  frames: number;
  bytes: number;
  seconds: number;
  packetsPerSecond: number;
  protocols: ProtocolCount[];
  truncated: Record<string, number>;
  malformed: Record<string, number>;
  badChecksum: Record<string, number>;
  warnings: string[];
}

const CKSUM_KEYS = ['ipv4', 'tcp', 'udp', 'icmp', 'icmpv6'] as const;

/** One node of the protocol trie in export form: children in first-seen order, keyed by node id. */
export interface CountNode {
  id: number;
  packets: number;
  bytes: number;
  children: CountNode[];
}

/**
 * Everything a DecodeSummary has counted, as plain data (structured-clone / JSON safe), so a
 * summary built in a worker thread over one part of a capture can be merged into another.
 * Maps are exported as entry lists in insertion (first-seen) order: merging the parts in
 * capture order then rebuilds exactly the order a single pass would have produced, which
 * decides the order of equal-count rows and of keys in the JSON report.
 */
export interface SummaryCounts {
  frames: number;
  bytes: number;
  protocols: CountNode[];
  truncated: Array<[string, number]>;
  malformed: Array<[string, number]>;
  badChecksum: { ipv4: number; tcp: number; udp: number; icmp: number; icmpv6: number };
  warnings: string[];
}

export class DecodeSummary {
  private readonly root = new PhsNode('');
  frames = 0;
  bytes = 0;
  private readonly truncated = new Map<string, number>();
  private readonly malformed = new Map<string, number>();
  private readonly badSum = { ipv4: 0, tcp: 0, udp: 0, icmp: 0, icmpv6: 0 };
  private readonly warnings: string[] = [];
  private readonly started = process.hrtime.bigint();

  add(p: Packet): void {
    this.frames++;
    this.bytes += p.len;
    const len = p.len;
    let n = this.root;
    if (p.eth.present) n = this.bump(n, ID.eth, len);
    else if (p.sll.present) n = this.bump(n, p.sll.version === 2 ? ID.sll2 : ID.sll, len);
    else if (p.linkType === 101 || p.linkType === 228 || p.linkType === 229) n = this.bump(n, ID.raw, len);
    else if (p.linkType === 0 || p.linkType === 108) n = this.bump(n, ID.null, len);
    else n = this.bump(n, LINKTYPE_BASE + p.linkType, len);
    for (let i = 0; i < p.vlan.count; i++) n = this.bump(n, ID.vlan, len);
    if (p.mpls.count > 0) n = this.bump(n, ID.mpls, len);
    if (p.arp.present) n = this.bump(n, ID.arp, len);
    else if (p.net.present) {
      n = this.stack(n, p.net, p, len, p.depth > 0 ? p.levels[0]! : null);
      for (let i = 0; i < p.depth; i++) {
        const lv = p.levels[i]!;
        // A level that carries nothing decoded adds nothing (its carrier's node says enough).
        if (!lv.net.present && !lv.arp.present) break;
        const tag = LEVEL_ID[lv.kind];
        if (tag === ID.erspan) n = this.bump(n, ID.gre, len); // ERSPAN rides in GRE
        if (tag !== 0) n = this.bump(n, tag, len);
        if (lv.eth.present) n = this.bump(n, ID.eth, len);
        for (let k = 0; k < lv.vlan.count; k++) n = this.bump(n, ID.vlan, len);
        if (lv.kind !== 'mpls-udp' && lv.mpls.count > 0) n = this.bump(n, ID.mpls, len);
        if (lv.arp.present) {
          this.bump(n, ID.arp, len);
          break;
        }
        n = this.stack(n, lv.net, p, len, i + 1 < p.depth ? p.levels[i + 1]! : null);
      }
    } else if (p.eth.present || p.sll.present) {
      this.bump(n, ETHERTYPE_BASE + (p.eth.present ? p.eth.etherType : p.sll.protocol), len);
    }
    if (p.truncated !== null) this.truncated.set(p.truncated, (this.truncated.get(p.truncated) ?? 0) + 1);
    if (p.malformed.present) {
      const key = p.malformed.layer + ': ' + p.malformed.reason;
      this.malformed.set(key, (this.malformed.get(key) ?? 0) + 1);
    }
    this.checksums(p.net);
    for (let i = 0; i < p.depth; i++) this.checksums(p.levels[i]!.net);
  }

  private bump(n: PhsNode, id: number, len: number): PhsNode {
    const c = n.child(id);
    c.packets++;
    c.bytes += len;
    return c;
  }

  /** IP layer and transport of one stack; returns the node the level it carries (`next`) hangs
   *  below: its udp node for a UDP encapsulation, else the IP node. */
  private stack(n: PhsNode, s: NetLayers, p: Packet, len: number, next: EncapLevel | null): PhsNode {
    const ipNode = this.bump(n, s.ip.version === 4 ? ID.ipv4 : ID.ipv6, len);
    let l4: PhsNode | null = null;
    switch (s.l4) {
      case 'tcp':
        l4 = this.bump(ipNode, ID.tcp, len);
        if (s.tcp.toaKind !== 0) this.bump(l4, ID.toa, len);
        break;
      case 'udp':
        l4 = this.bump(ipNode, ID.udp, len);
        if (s.uoa.mode !== 0) this.bump(l4, ID.uoa, len);
        break;
      case 'icmp':
      case 'icmpv6':
        l4 = this.bump(ipNode, s.l4 === 'icmp' ? ID.icmp : ID.icmpv6, len);
        if (s.icmp.hasQuoted && p.quoted.present) {
          const q = this.bump(l4, ID.quoted, len);
          this.bump(q, p.quoted.ip.version === 4 ? ID.ipv4 : ID.ipv6, len);
        }
        break;
      case 'other':
        if (s.ip.isFragment && s.ip.fragOffset !== 0) this.bump(ipNode, ID.fragment, len);
        else if (next === null) this.bump(ipNode, IPPROTO_BASE + s.ip.proto, len);
        break;
      default:
        break;
    }
    return next !== null && overUdp(next.kind) && l4 !== null ? l4 : ipNode;
  }

  private checksums(s: NetLayers): void {
    if (!s.present) return;
    if (s.ip.checksumOk === false) this.badSum.ipv4++;
    if (s.l4 === 'tcp' && s.tcp.checksumOk === false) this.badSum.tcp++;
    if (s.l4 === 'udp' && s.udp.checksumOk === false) this.badSum.udp++;
    if (s.l4 === 'icmp' && s.icmp.checksumOk === false) this.badSum.icmp++;
    if (s.l4 === 'icmpv6' && s.icmp.checksumOk === false) this.badSum.icmpv6++;
  }

  warning(w: CaptureWarning): void {
    this.warnings.push(`${w.file}: offset ${w.offset}: ${w.message}`);
  }

  /** The counts so far as plain data (see SummaryCounts). */
  exportCounts(): SummaryCounts {
    const conv = (id: number, n: PhsNode): CountNode => ({
      id,
      packets: n.packets,
      bytes: n.bytes,
      children: [...n.children].map(([cid, c]) => conv(cid, c)),
    });
    return {
      frames: this.frames,
      bytes: this.bytes,
      protocols: [...this.root.children].map(([id, c]) => conv(id, c)),
      truncated: [...this.truncated],
      malformed: [...this.malformed],
      badChecksum: { ...this.badSum },
      warnings: [...this.warnings],
    };
  }

  /**
   * Adds counts taken over a later part of the same input (or another input) as if its
   * packets had been added here after the ones already counted: a node or key not seen yet
   * is appended after the existing ones, as add() would have appended it.
   */
  mergeCounts(c: SummaryCounts): void {
    this.frames += c.frames;
    this.bytes += c.bytes;
    const walk = (into: PhsNode, nodes: readonly CountNode[]): void => {
      for (const n of nodes) {
        const t = into.child(n.id);
        t.packets += n.packets;
        t.bytes += n.bytes;
        walk(t, n.children);
      }
    };
    walk(this.root, c.protocols);
    for (const [k, v] of c.truncated) this.truncated.set(k, (this.truncated.get(k) ?? 0) + v);
    for (const [k, v] of c.malformed) this.malformed.set(k, (this.malformed.get(k) ?? 0) + v);
    for (const k of CKSUM_KEYS) this.badSum[k] += c.badChecksum[k];
    this.warnings.push(...c.warnings);
  }

  report(): SummaryReport {
    const seconds = Number(process.hrtime.bigint() - this.started) / 1e9;
    const conv = (n: PhsNode): ProtocolCount => ({
      name: n.name,
      packets: n.packets,
      bytes: n.bytes,
      children: [...n.children.values()].sort((a, b) => b.packets - a.packets).map(conv),
    });
    const badChecksum: Record<string, number> = {};
    for (const k of CKSUM_KEYS) if (this.badSum[k] > 0) badChecksum[k] = this.badSum[k];
    return {
      frames: this.frames,
      bytes: this.bytes,
      seconds,
      packetsPerSecond: seconds > 0 ? this.frames / seconds : 0,
      protocols: conv(this.root).children,
      truncated: Object.fromEntries(this.truncated),
      malformed: Object.fromEntries(this.malformed),
      badChecksum,
      warnings: [...this.warnings],
    };
  }
}

/** Text table of a summary report (stdout of `decode --summary`). */
export function formatSummary(r: SummaryReport): string {
  const lines: string[] = [];
  const row = (label: string, packets: number, bytes?: number): void => {
    lines.push(label.padEnd(48) + String(packets).padStart(12) + (bytes === undefined ? '' : String(bytes).padStart(16)));
  };
  lines.push('Protocol hierarchy'.padEnd(48) + 'frames'.padStart(12) + 'bytes'.padStart(16));
  row('all', r.frames, r.bytes);
  const walk = (nodes: ProtocolCount[], depth: number): void => {
    for (const n of nodes) {
      row('  '.repeat(depth + 1) + n.name, n.packets, n.bytes);
      walk(n.children, depth + 1);
    }
  };
  walk(r.protocols, 0);
  lines.push('');
  lines.push('Problems'.padEnd(48) + 'frames'.padStart(12));
  const section = (title: string, m: Record<string, number>): void => {
    const keys = Object.keys(m).sort((a, b) => m[b]! - m[a]! || a.localeCompare(b));
    let total = 0;
    for (const k of keys) total += m[k]!;
    row(title, total);
    for (const k of keys) row('  ' + k, m[k]!);
  };
  section('truncated', r.truncated);
  section('malformed', r.malformed);
  section('bad checksum', r.badChecksum);
  row('capture warnings', r.warnings.length);
  for (const w of r.warnings) lines.push('  ' + w);
  return lines.join('\n') + '\n';
}
