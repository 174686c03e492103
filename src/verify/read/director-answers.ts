/**
 * What the director did with a client packet it did not forward, when that is its documented
 * behaviour rather than a drop. The connection records only hold TCP/UDP packets, so the two
 * pieces of evidence that live elsewhere are collected here while the captures stream:
 *
 *  - ICMP errors naming a packet (the decoder fills `Packet.quoted`): TTL ≤ 1 is answered with
 *    time-exceeded (lvs-behavior.md §1.2 step 3, R1) and a DF packet above the (tunnel) MTU with
 *    fragmentation-needed / packet-too-big (§1.2 step 5, R8) — both dropped, not forwarded;
 *  - IP fragments: the kernel reassembles before IPVS sees the packet (conntrack/defrag; §1.6
 *    `ip_vs_gather_frags` for ICMP), so the forwarded copy of a fragmented request is one packet
 *    whose TCP payload is the sum of the fragments, not a copy of the first fragment.
 *
 * Beside them, from any point on the real-server leg: a real server's refusal of a datagram in
 * DPVS's private UOA protocol (fnat.uoa-rejected) — ICMP protocol unreachable (ICMPv6 parameter
 * problem, unrecognized next header) quoting IP protocol 248, what a kernel without DPVS's uoa
 * module answers (fixtures/lab/dpvs-udp-opp). The datagram is lost to the application.
 *
 * All are rare, so keys are plain strings and the tables are bounded FIFO-style.
 */
import { ipv4ToString, ipv6ToString } from '../../decode/addr.js';
import { UoaMode, type IpView, type Packet } from '../../decode/packet.js';
import type { PacketRef } from '../model/record.js';

export interface IcmpAnswer {
  /** 4 or 6 (ICMP or ICMPv6). */
  family: 4 | 6;
  type: number;
  code: number;
  /** Next-hop MTU of frag-needed / packet-too-big, -1 otherwise. */
  mtu: number;
  /** Source of the ICMP error (the VIP or a director address). */
  from: string;
  capture: string;
  frame: number;
  /** Capture timestamp of the ICMP error (ns, on the director's clock). */
  ts: number;
  /** The quoted packet: its IP ID, TCP sequence number and TCP payload length (from the quoted
   *  IP total length; -1 when the quote does not tell, or for UDP). */
  quotedId: number;
  quotedSeq: number;
  quotedPayload: number;
}

interface FragTotal {
  /** L4 header length of the first fragment (-1 until it is seen). */
  l4Hdr: number;
  /** L4 bytes of the whole datagram (-1 until the last fragment is seen). */
  l4Total: number;
}

const MAX_ENTRIES = 1 << 16;

/** One observation, as DirectorAnswers.drain hands it over. */
export type AnswerNote = { icmp: string; answer: IcmpAnswer } | { frag: string; l4Hdr: number; l4Total: number } | { refused: string; by: PacketRef };

function addrText(ip: IpView, buf: Buffer, src: boolean): string {
  if (ip.version === 4) return ipv4ToString(src ? ip.src4 : ip.dst4);
  return ipv6ToString(buf, src ? ip.srcOff : ip.dstOff);
}

function bounded<K, V>(m: Map<K, V>, k: K, v: V): void {
  if (m.size >= MAX_ENTRIES) {
    const first = m.keys().next();
    if (!first.done) m.delete(first.value);
  }
  m.set(k, v);
}

/** Key of a TCP/UDP packet as the director received it (client address/port, IP ID, seq). */
export function answerKey(src: string, sport: number, id: number, seq: number): string {
  return `${src}|${sport}|${id}|${seq}`;
}

/** Key of a datagram on the real-server leg (LIP → RIP, the local port, the IP ID DPVS keeps). */
function refusedKey(src: string, dst: string, sport: number, id: number): string {
  return `${src}>${dst}|${sport}|${id}`;
}

function fragKey(src: string, dst: string, id: number): string {
  return `${src}>${dst}#${id}`;
}

/** The client endpoint (address|port) part of an answerKey. */
function endpointOf(key: string): string {
  return key.slice(0, key.indexOf('|', key.indexOf('|') + 1));
}

/** Frag-needed answers kept per client endpoint (the latest). */
const MAX_TOO_BIG_PER_ENDPOINT = 64;

export class DirectorAnswers {
  private readonly icmp = new Map<string, IcmpAnswer>();
  /** Frag-needed / packet-too-big answers per client endpoint, for pieces of the refused packet. */
  private readonly tooBig = new Map<string, IcmpAnswer[]>();
  private readonly frags = new Map<string, FragTotal>();
  /** Real servers' refusals of UOA datagrams (opp), by refusedKey: the ICMP error's frame. */
  private readonly refused = new Map<string, PacketRef>();
  /** ICMP errors and fragments noted so far. Rules read them when they judge a connection, so
   *  a run that judges connections before the full grace cannot vouch for them (share.ts). */
  noted = 0;

  /** Looks at every decoded packet of a point (cheap test first: most packets are neither). */
  observe(p: Packet): void {
    const net = p.net;
    if (!net.present) return;
    if (net.l4 === 'icmp' || net.l4 === 'icmpv6') {
      if (net.icmp.hasQuoted) this.noteIcmp(p);
      return;
    }
    if (net.ip.isFragment && p.tunnel === null) this.noteFragment(p);
  }

  /** A real server's ICMP error about a datagram in DPVS's private UOA protocol, seen at `point`
   *  (a real server's capture, or the director's toward it). Not counted in `noted`: only the
   *  FullNAT UOA rule reads these, and no tracker judges FullNAT connections early. */
  observeRefusal(p: Packet, point: number): void {
    const net = p.net;
    if (!net.present || (net.l4 !== 'icmp' && net.l4 !== 'icmpv6') || !net.icmp.hasQuoted) return;
    const ic = net.icmp;
    const unknownProtocol = ic.version === 4 ? ic.type === 3 && ic.code === 2 : ic.type === 4 && ic.code === 1;
    const q = p.quoted;
    if (!unknownProtocol || !q.present || q.uoa.mode !== UoaMode.OPP || q.l4 !== 'udp') return;
    this.putRefused(refusedKey(addrText(q.ip, p.buf, true), addrText(q.ip, p.buf, false), q.udp.sport, q.ip.id), { point, capture: p.capture, frame: p.frame, role: null, note: ic.version === 4 ? 'ICMP protocol unreachable' : 'ICMPv6 unrecognized next header' });
  }

  private putRefused(key: string, by: PacketRef): void {
    this.log?.push({ refused: key, by });
    if (!this.refused.has(key)) bounded(this.refused, key, by);
  }

  /** The ICMP error a real server sent about the UOA datagram src:sport → dst with IP ID `id`. */
  refusalOf(src: string, dst: string, sport: number, id: number): PacketRef | undefined {
    return this.refused.get(refusedKey(src, dst, sport, id));
  }

  private noteIcmp(p: Packet): void {
    const ic = p.net.icmp;
    const v4 = ic.version === 4;
    // Errors the director sends about a packet it refused: time exceeded, frag-needed/too-big.
    const relevant = v4 ? ic.type === 11 || (ic.type === 3 && ic.code === 4) : ic.type === 3 || ic.type === 2;
    if (!relevant) return;
    const q = p.quoted;
    if (!q.present || (q.l4 !== 'tcp' && q.l4 !== 'udp')) return;
    const sport = q.l4 === 'tcp' ? q.tcp.sport : q.udp.sport;
    const seq = q.l4 === 'tcp' ? q.tcp.seq : 0;
    // The quoted IP header keeps the refused packet's total length even where the quote is cut.
    const quotedPayload = q.l4 === 'tcp' && q.tcp.hdrLen >= 20 ? q.ip.totalLen - q.ip.hdrLen - q.tcp.hdrLen : -1;
    this.putIcmp(answerKey(addrText(q.ip, p.buf, true), sport, q.ip.id, seq), {
      family: v4 ? 4 : 6,
      type: ic.type,
      code: ic.code,
      mtu: ic.mtu,
      from: addrText(p.net.ip, p.buf, true),
      capture: p.capture,
      frame: p.frame,
      ts: p.tsSec * 1e9 + p.tsNsec,
      quotedId: q.ip.id,
      quotedSeq: seq,
      quotedPayload,
    });
  }

  private putIcmp(key: string, a: IcmpAnswer): void {
    this.noted++;
    this.log?.push({ icmp: key, answer: a });
    bounded(this.icmp, key, a);
    if (a.mtu > 0 && a.quotedPayload > 0) {
      const ep = endpointOf(key);
      const same = this.tooBig.get(ep);
      if (same) {
        if (same.length >= MAX_TOO_BIG_PER_ENDPOINT) same.shift();
        same.push(a);
      } else bounded(this.tooBig, ep, [a]);
    }
  }

  private noteFragment(p: Packet): void {
    const ip = p.net.ip;
    const l = p.net;
    const first = ip.fragOffset === 0 && (l.l4 === 'tcp' || l.l4 === 'udp');
    const l4Hdr = first ? (l.l4 === 'tcp' ? l.tcp.hdrLen : 8) : -1;
    const l4Total = ip.mf ? -1 : ip.fragOffset + ip.totalLen - ip.hdrLen;
    this.putFragment(fragKey(addrText(ip, p.buf, true), addrText(ip, p.buf, false), ip.id), l4Hdr, l4Total);
  }

  /** `l4Hdr` from a first fragment, `l4Total` from a last one; -1: this fragment does not tell. */
  private putFragment(key: string, l4Hdr: number, l4Total: number): void {
    this.noted++;
    this.log?.push({ frag: key, l4Hdr, l4Total });
    let f = this.frags.get(key);
    if (!f) bounded(this.frags, key, (f = { l4Hdr: -1, l4Total: -1 }));
    if (l4Hdr >= 0) f.l4Hdr = l4Hdr;
    if (l4Total >= 0) f.l4Total = l4Total;
  }

  /**
   * What was noted, for another thread's copy: a feeder thread observes the packets and the
   * judging thread's copy replays its notes at each tick (verify/parallel/feeder.ts), so both
   * hold the same answers whenever rules read them. Null: nothing is kept.
   */
  log: AnswerNote[] | null = null;

  /** The notes since the last call (logging from now on). */
  drain(): AnswerNote[] {
    const out = this.log ?? [];
    this.log = [];
    return out;
  }

  /** Notes drained from another copy, in their order. */
  replay(notes: readonly AnswerNote[]): void {
    for (const n of notes) {
      if ('icmp' in n) this.putIcmp(n.icmp, n.answer);
      else if ('refused' in n) this.putRefused(n.refused, n.by);
      else this.putFragment(n.frag, n.l4Hdr, n.l4Total);
    }
  }

  /** The ICMP error the director sent about this packet, if any. */
  icmpFor(src: string, sport: number, id: number, seq: number): IcmpAnswer | undefined {
    return this.icmp.get(answerKey(src, sport, id, seq));
  }

  /**
   * The frag-needed / packet-too-big error whose quoted TCP segment holds the bytes
   * [seq, seq + len) of a packet the director captured at `ts` with IP ID `id`, where that
   * capture shows the segment in pieces (capture-artifacts.md §2: cut by segmentation offload,
   * each piece with the next IP ID). The pieces reached the director no later than its answer,
   * and only shortly before it (`withinNs`).
   */
  tooBigCovering(src: string, sport: number, id: number, seq: number, len: number, ts: number, withinNs: number): IcmpAnswer | undefined {
    const list = this.tooBig.get(`${src}|${sport}`);
    if (list === undefined || len <= 0) return undefined;
    for (const a of list) {
      const from = (seq - a.quotedSeq) >>> 0;
      // A segment of n bytes is cut into at most n pieces, numbered from the quoted IP ID.
      if (from + len > a.quotedPayload || ((id - a.quotedId) & 0xffff) >= a.quotedPayload) continue;
      if (ts <= a.ts && a.ts - ts <= withinNs) return a;
    }
    return undefined;
  }

  /** Transport payload of the reassembled datagram a first fragment belongs to, or -1. */
  reassembledPayload(src: string, dst: string, id: number): number {
    const f = this.frags.get(fragKey(src, dst, id));
    if (!f || f.l4Hdr < 0 || f.l4Total < 0) return -1;
    return f.l4Total - f.l4Hdr;
  }
}
