/**
 * The meaning of FILTER: closures over one EvalState, built once by the parser, that read the
 * frame's bytes where tcpdump's compiled BPF reads them (so `ip[8]`, `port 80` or `host A`
 * load the same bytes and make the same checks) and read the decoded Packet view for the
 * words that are ours (`toa`, `tunnel`, `syn`, `badsum`…).
 *
 * A read past the captured bytes ends the whole filter with "no match", as a BPF load out of
 * the packet does, whatever `not` or `or` surrounds it: `EvalState.abort`.
 *
 * Two deliberate differences from tcpdump, both for LVS captures:
 *  - network-layer words (`ip`, `host`, `port`, `tcp`, `proto`…) look past any VLAN tags, whether
 *    or not the filter says `vlan` (tcpdump reads 4 bytes further for every primitive written
 *    after a `vlan`, and without one sees a tagged frame as neither `ip` nor `ip6`);
 *  - the same words also match the packets encapsulation levels carry, at any depth (IPIP,
 *    6in4, GRE, GUE, and overlays: VXLAN, Geneve, GRE-TEB, ERSPAN, MPLS), so `host RIP` finds a
 *    TUN director's leg, also behind an overlay; `depth N` before a term limits it to one level
 *    (0: the outer packet, as tcpdump reads it). Byte offsets (`ip[8]`) read the outer packet only.
 */
import { LinkType } from '../frame.js';
import type { NetLayers, Packet } from '../packet.js';

export class EvalState {
  p!: Packet;
  buf: Buffer = Buffer.alloc(0);
  /** End of the captured bytes (absolute in buf). */
  end = 0;
  /** A load went past the captured bytes: the filter does not match. */
  abort = false;
  /** A load of a protocol the packet does not have: the relation around it is false. */
  miss = false;
  /** The first type field of the link header (EtherType, SLL protocol), -1 when none. */
  linkType0 = -1;
  /** Start of the network header (past VLAN tags) and its EtherType, -1 when unknown. */
  lpOff = 0;
  lpType = -1;
  /** Which stack network-layer words test: −1 every one (outer first), 0 the outer packet,
   *  k the one encapsulation level k−1 carries (`depth N`). */
  depth = -1;
}

export type Pred = (s: EvalState) => boolean;
export type Num = (s: EvalState) => number;
/** A test of one network header at `off` whose EtherType is `type`. */
export type NetTest = (s: EvalState, off: number, type: number) => boolean;

export const ETH_IPV4 = 0x0800;
export const ETH_IPV6 = 0x86dd;
export const ETH_ARP = 0x0806;
export const ETH_RARP = 0x8035;
const ETH_MPLS = 0x8847;
/** lpType / linkType0 of a frame too short to hold its link header's type field: any test of
 *  the type reads past the end, which ends the filter (as tcpdump's first `ldh [12]` does). */
export const TYPE_CUT = -2;
const IPPROTO_FRAGMENT = 44;
const IPPROTO_AH = 51;
const IPPROTO_NONE = 59;

function isVlanTpid(t: number): boolean {
  return t === 0x8100 || t === 0x88a8 || t === 0x9100;
}

export function ld8(s: EvalState, at: number): number {
  if (at + 1 > s.end || at < 0) {
    s.abort = true;
    return 0;
  }
  return s.buf[at]!;
}

export function ld16(s: EvalState, at: number): number {
  if (at + 2 > s.end || at < 0) {
    s.abort = true;
    return 0;
  }
  return (s.buf[at]! << 8) | s.buf[at + 1]!;
}

export function ld32(s: EvalState, at: number): number {
  if (at + 4 > s.end || at < 0) {
    s.abort = true;
    return 0;
  }
  const b = s.buf;
  return ((b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!) >>> 0;
}

/** Fills the link-level fields of `s` for `p` (called once per packet). */
export function linkSetup(s: EvalState, p: Packet): void {
  s.p = p;
  const buf = p.buf;
  s.buf = buf;
  s.end = p.end;
  s.abort = false;
  s.miss = false;
  s.linkType0 = -1;
  s.lpType = -1;
  const o = p.off;
  s.lpOff = o;
  const end = p.end;
  switch (p.linkType) {
    case LinkType.ETHERNET: {
      if (o + 14 > end) {
        s.linkType0 = s.lpType = TYPE_CUT;
        return;
      }
      let t = (buf[o + 12]! << 8) | buf[o + 13]!;
      s.linkType0 = t;
      let off = o + 14;
      while (isVlanTpid(t) && off + 4 <= end) {
        t = (buf[off + 2]! << 8) | buf[off + 3]!;
        off += 4;
      }
      s.lpOff = off;
      s.lpType = isVlanTpid(t) ? -1 : t;
      return;
    }
    case LinkType.LINUX_SLL:
      if (o + 16 > end) {
        s.linkType0 = s.lpType = TYPE_CUT;
        return;
      }
      s.linkType0 = s.lpType = (buf[o + 14]! << 8) | buf[o + 15]!;
      s.lpOff = o + 16;
      return;
    case LinkType.LINUX_SLL2:
      if (o + 20 > end) {
        s.linkType0 = s.lpType = TYPE_CUT;
        return;
      }
      s.linkType0 = s.lpType = (buf[o]! << 8) | buf[o + 1]!;
      s.lpOff = o + 20;
      return;
    case LinkType.RAW: {
      if (o + 1 > end) {
        s.linkType0 = s.lpType = TYPE_CUT;
        return;
      }
      const v = buf[o]! >> 4;
      // Link types without a type field: tcpdump's `ether proto` asks the same question as `ip`/`ip6`.
      s.linkType0 = s.lpType = v === 4 ? ETH_IPV4 : v === 6 ? ETH_IPV6 : -1;
      return;
    }
    case LinkType.IPV4:
      s.linkType0 = s.lpType = ETH_IPV4;
      return;
    case LinkType.IPV6:
      s.linkType0 = s.lpType = ETH_IPV6;
      return;
    case LinkType.NULL:
    case LinkType.LOOP: {
      if (o + 4 > end) {
        s.linkType0 = s.lpType = TYPE_CUT;
        return;
      }
      const le = buf[o]! | (buf[o + 1]! << 8) | (buf[o + 2]! << 16) | (buf[o + 3]! << 24);
      const be = (buf[o]! << 24) | (buf[o + 1]! << 16) | (buf[o + 2]! << 8) | buf[o + 3]!;
      const af = (le & 0xffff0000) === 0 ? le : be;
      s.lpOff = o + 4;
      s.linkType0 = s.lpType = af === 2 ? ETH_IPV4 : af === 24 || af === 28 || af === 30 ? ETH_IPV6 : -1;
      return;
    }
    default:
      return;
  }
}

function cut(s: EvalState): false {
  s.abort = true;
  return false;
}

function innerType(n: NetLayers): number {
  return n.ip.version === 4 ? ETH_IPV4 : ETH_IPV6;
}

/** A network-layer test on the outer packet, or else on an encapsulated one (see the header). */
export function onNet(t: NetTest): Pred {
  return (s) => {
    const d = s.depth;
    if (d <= 0) {
      if (s.lpType === TYPE_CUT) return cut(s);
      if (t(s, s.lpOff, s.lpType)) return true;
      if (d === 0 || s.abort) return false;
    }
    const p = s.p;
    const from = d < 0 ? 0 : d - 1;
    const to = d < 0 ? p.depth : d <= p.depth ? d : 0;
    for (let i = from; i < to; i++) {
      const n = p.levels[i]!.net;
      if (!n.present) continue;
      // Encapsulated packets are our extension: a read past one's end is no match for it alone.
      const r = t(s, n.ip.off, innerType(n));
      s.abort = false;
      if (r) return true;
    }
    return false;
  };
}

/** `depth N term`: the term's network-layer words test only stack N (EvalState.depth). */
export function atDepth(depth: number, inner: Pred): Pred {
  return (s) => {
    const saved = s.depth;
    s.depth = depth;
    const r = inner(s);
    s.depth = saved;
    return r;
  };
}

export const isType =
  (type: number): NetTest =>
  (_s, _off, t) =>
    t === type;

/** `ip proto N` (IPv4 protocol field). */
export function ip4Proto(n: number): NetTest {
  return (s, off, t) => t === ETH_IPV4 && ld8(s, off + 9) === n;
}

/** `ip6 proto N`: the next header, or the one after a fragment header, as libpcap checks it. */
export function ip6Proto(n: number): NetTest {
  return (s, off, t) => {
    if (t !== ETH_IPV6) return false;
    const nh = ld8(s, off + 6);
    return nh === n || (nh === IPPROTO_FRAGMENT && ld8(s, off + 40) === n);
  };
}

/**
 * `[ip|ip6] protochain N`: libpcap's walk (gen_protochain) from the IP header's protocol through
 * IPv6 hop-by-hop, destination options, routing and fragment headers ((len + 1) × 8 bytes each)
 * and AH, stopping at N or "no next header". Its AH step sets the offset to the AH length
 * ((len + 2) × 4) instead of adding it, and an IPv4 packet walks AH only: both as libpcap does,
 * so the same frames match. Reads past the capture end the filter as any BPF load does; a walk
 * that comes back on itself (possible after AH) stops after 64 headers, unmatched.
 */
export function protochain(v: number, family: 4 | 6): NetTest {
  return (s, off, t) => {
    let a: number;
    let x: number;
    if (family === 4) {
      if (t !== ETH_IPV4) return false;
      a = ld8(s, off + 9);
      x = (ld8(s, off) & 15) * 4;
    } else {
      if (t !== ETH_IPV6) return false;
      a = ld8(s, off + 6);
      x = 40;
    }
    for (let n = 0; n < 64 && !s.abort; n++) {
      if (a === v || a === IPPROTO_NONE) return a === v;
      if (family === 6 && (a === 0 || a === 60 || a === 43 || a === IPPROTO_FRAGMENT)) {
        const next = ld8(s, off + x);
        x += (ld8(s, off + x + 1) + 1) * 8;
        a = next;
      } else if (a === IPPROTO_AH) {
        const next = ld8(s, off + x);
        x = (ld8(s, off + x + 1) + 2) * 4;
        a = next;
      } else return false;
    }
    return false;
  };
}

export function anyOf(tests: NetTest[]): NetTest {
  if (tests.length === 1) return tests[0]!;
  if (tests.length === 2) {
    const [a, b] = tests as [NetTest, NetTest];
    return (s, off, t) => a(s, off, t) || b(s, off, t);
  }
  return (s, off, t) => {
    for (const f of tests) if (f(s, off, t)) return true;
    return false;
  };
}

export type Dir = 'src' | 'dst' | 'or' | 'and';

/** `test` at the source and/or destination spot as `dir` says; `test` is made once per filter,
 *  so a packet's evaluation creates no closure. */
function both(dir: Dir, s: EvalState, test: (s: EvalState, at: number) => boolean, srcAt: number, dstAt: number): boolean {
  switch (dir) {
    case 'src':
      return test(s, srcAt);
    case 'dst':
      return test(s, dstAt);
    case 'or':
      return test(s, srcAt) || test(s, dstAt);
    case 'and':
      return test(s, srcAt) && test(s, dstAt);
  }
}

/** IPv4 address under a mask, in IPv4 (offsets 12/16) or ARP/RARP (14/24, libpcap's fixed spots). */
export function host4(addr: number, mask: number, dir: Dir, types: readonly number[]): NetTest {
  const inIp = types.includes(ETH_IPV4);
  const inArp = types.includes(ETH_ARP);
  const inRarp = types.includes(ETH_RARP);
  const eq = (s: EvalState, at: number): boolean => ((ld32(s, at) & mask) >>> 0) === addr;
  return (s, off, t) => {
    let so: number;
    let dO: number;
    if (t === ETH_IPV4 && inIp) {
      so = off + 12;
      dO = off + 16;
    } else if ((t === ETH_ARP && inArp) || (t === ETH_RARP && inRarp)) {
      so = off + 14;
      dO = off + 24;
    } else return false;
    return both(dir, s, eq, so, dO);
  };
}

function match6(s: EvalState, at: number, want: Uint8Array, bits: number): boolean {
  if (at + 16 > s.end) {
    s.abort = true;
    return false;
  }
  const buf = s.buf;
  const full = bits >> 3;
  for (let i = 0; i < full; i++) if (buf[at + i] !== want[i]) return false;
  const rest = bits & 7;
  if (rest === 0) return true;
  const m = (0xff << (8 - rest)) & 0xff;
  return (buf[at + full]! & m) === (want[full]! & m);
}

export function host6(want: Uint8Array, bits: number, dir: Dir): NetTest {
  const eq = (s: EvalState, at: number): boolean => match6(s, at, want, bits);
  return (s, off, t) => t === ETH_IPV6 && both(dir, s, eq, off + 8, off + 24);
}

/**
 * Ports of TCP/UDP/SCTP (those in `protos`): IPv4 when not a later fragment, the transport header
 * after the IHL; IPv6 only when the first next header is the protocol, right after the 40 bytes.
 */
export function portTest(lo: number, hi: number, dir: Dir, protos: readonly number[], v4: boolean, v6: boolean): NetTest {
  const has = (n: number): boolean => protos.includes(n);
  const inRange = (s: EvalState, at: number): boolean => {
    const v = ld16(s, at);
    return v >= lo && v <= hi;
  };
  return (s, off, t) => {
    let tr: number;
    if (t === ETH_IPV4 && v4) {
      if (!has(ld8(s, off + 9))) return false;
      if ((ld16(s, off + 6) & 0x1fff) !== 0) return false;
      tr = off + (ld8(s, off) & 0xf) * 4;
    } else if (t === ETH_IPV6 && v6) {
      if (!has(ld8(s, off + 6))) return false;
      tr = off + 40;
    } else return false;
    return both(dir, s, inRange, tr, tr + 2);
  };
}

/** `ether [src|dst] host MAC`: Ethernet frames only. */
export function etherHost(mac: Uint8Array, dir: Dir): Pred {
  const eq = (s: EvalState, at: number): boolean => {
    if (at + 6 > s.end) {
      s.abort = true;
      return false;
    }
    for (let i = 0; i < 6; i++) if (s.buf[at + i] !== mac[i]) return false;
    return true;
  };
  return (s) => s.p.linkType === LinkType.ETHERNET && both(dir, s, eq, s.p.off + 6, s.p.off);
}

export const etherBroadcast: Pred = (s) => {
  if (s.p.linkType !== LinkType.ETHERNET) return false;
  const o = s.p.off;
  return ld32(s, o) === 0xffffffff && ld16(s, o + 4) === 0xffff;
};

export const etherMulticast: Pred = (s) => s.p.linkType === LinkType.ETHERNET && (ld8(s, s.p.off) & 1) !== 0;

/** `ether proto N`: the link header's own type field (before any VLAN tag). */
export function etherProto(n: number): Pred {
  return (s) => (s.linkType0 === TYPE_CUT ? cut(s) : s.linkType0 === n);
}

export const ipBroadcast: NetTest = (s, off, t) => {
  if (t !== ETH_IPV4) return false;
  const d = ld32(s, off + 16);
  return d === 0 || d === 0xffffffff;
};
export const ipMulticast: NetTest = (s, off, t) => t === ETH_IPV4 && ld8(s, off + 16) >= 224;
export const ip6Multicast: NetTest = (s, off, t) => t === ETH_IPV6 && ld8(s, off + 24) === 0xff;

export function vlanPred(id: number | null): Pred {
  if (id === null) return (s) => (s.linkType0 === TYPE_CUT ? cut(s) : s.p.vlan.count > 0);
  return (s) => {
    if (s.linkType0 === TYPE_CUT) return cut(s);
    const v = s.p.vlan;
    for (let i = 0; i < v.count; i++) if (v.id[i] === id) return true;
    return false;
  };
}

/** `pppoed` (discovery), `pppoes [session]` (session stage; the id after version/type and code). */
export const pppoedPred: Pred = (s) => (s.lpType === TYPE_CUT ? cut(s) : s.lpType === 0x8863);

export function pppoesPred(session: number | null): Pred {
  if (session === null) return (s) => (s.lpType === TYPE_CUT ? cut(s) : s.lpType === 0x8864);
  return (s) => (s.lpType === TYPE_CUT ? cut(s) : s.lpType === 0x8864 && (ld32(s, s.lpOff) & 0xffff) === session);
}

/** `mpls [label]`: unicast MPLS (0x8847, as tcpdump), the first label stack entry after the
 *  link header (and VLAN tags). */
export function mplsPred(label: number | null): Pred {
  if (label === null) return (s) => (s.lpType === TYPE_CUT ? cut(s) : s.lpType === ETH_MPLS);
  const want = (label << 12) >>> 0;
  return (s) => (s.lpType === TYPE_CUT ? cut(s) : s.lpType === ETH_MPLS && ((ld32(s, s.lpOff) & 0xfffff000) >>> 0) === want);
}

// ---- arithmetic ----------------------------------------------------------------------------

/**
 * An arithmetic expression: its closure, its value when it is a constant, and `u`, the same
 * value without the protocol checks of its loads. libpcap keeps only the left operand's
 * protocol check in `a OP b` (`len + icmp[0]` reads icmp[0] from any packet, where the IPv4
 * header length would put it), so the right operand of an operator is evaluated by `u`.
 */
export interface Arith {
  f: Num;
  c: number | null;
  u: Num;
}

export const constant = (v: number): Arith => {
  const f: Num = () => v;
  return { f, c: v >>> 0, u: f };
};
const lenF: Num = (s) => s.p.len >>> 0;
export const lenArith: Arith = { f: lenF, c: null, u: lenF };

export type BinOp = '+' | '-' | '*' | '/' | '%' | '&' | '|' | '^' | '<<' | '>>';

function applyOp(op: BinOp, a: number, b: number): number {
  switch (op) {
    case '+':
      return (a + b) >>> 0;
    case '-':
      return (a - b) >>> 0;
    case '*':
      return Math.imul(a, b) >>> 0;
    case '/':
      return Math.floor(a / b) >>> 0;
    case '%':
      return a % b >>> 0;
    case '&':
      return (a & b) >>> 0;
    case '|':
      return (a | b) >>> 0;
    case '^':
      return (a ^ b) >>> 0;
    case '<<':
      return b < 32 ? (a << b) >>> 0 : 0;
    case '>>':
      return b < 32 ? a >>> b : 0;
  }
}

/** A binary operation; a division by a value that is 0 at run time ends the filter (as BPF does). */
export function binary(op: BinOp, l: Arith, r: Arith): Arith {
  if (l.c !== null && r.c !== null && !((op === '/' || op === '%') && r.c === 0)) return constant(applyOp(op, l.c, r.c));
  const make = (lf: Num, rf: Num): Num =>
    op === '/' || op === '%'
      ? (s) => {
          const a = lf(s);
          const b = rf(s);
          if (b === 0) {
            s.abort = true;
            return 0;
          }
          return applyOp(op, a, b);
        }
      : (s) => applyOp(op, lf(s), rf(s));
  return { f: make(l.f, r.u), c: null, u: make(l.u, r.u) };
}

export function negate(e: Arith): Arith {
  if (e.c !== null) return constant((0 - e.c) >>> 0);
  const f = e.f;
  const u = e.u;
  return { f: (s) => (0 - f(s)) >>> 0, c: null, u: (s) => (0 - u(s)) >>> 0 };
}

/** Where `proto[...]` counts from (-1: the packet is not of this protocol), with the
 *  protocol check (`checked`) and without it (`raw`: where libpcap reads when it drops the check). */
export interface LoadBase {
  checked: (s: EvalState) => number;
  raw: (s: EvalState) => number;
}

const linkStart = (s: EvalState): number => s.p.off;
export const linkBase: LoadBase = { checked: linkStart, raw: linkStart };

const networkStart = (s: EvalState): number => (s.lpType === TYPE_CUT ? (cut(s), -1) : s.lpOff);

export function networkBase(type: number): LoadBase {
  return { checked: (s) => (s.lpType === TYPE_CUT ? (cut(s), -1) : s.lpType === type ? s.lpOff : -1), raw: networkStart };
}

/** tcp[], udp[], icmp[]…: IPv4 only, not a later fragment, after the IHL (as libpcap does). */
export function transportBase(proto: number): LoadBase {
  const raw = (s: EvalState): number => {
    if (s.lpType === TYPE_CUT) return (cut(s), -1);
    return s.lpOff + (ld8(s, s.lpOff) & 0xf) * 4;
  };
  return {
    checked: (s) => {
      if (s.lpType === TYPE_CUT) return (cut(s), -1);
      if (s.lpType !== ETH_IPV4) return -1;
      const off = s.lpOff;
      if (ld8(s, off + 9) !== proto || (ld16(s, off + 6) & 0x1fff) !== 0) return -1;
      return raw(s);
    },
    raw,
  };
}

/** icmp6[]: IPv6 whose first next header is ICMPv6, after the fixed 40 bytes. */
export const icmp6Base: LoadBase = {
  checked: (s) => (s.lpType === TYPE_CUT ? (cut(s), -1) : s.lpType === ETH_IPV6 && ld8(s, s.lpOff + 6) === 58 ? s.lpOff + 40 : -1),
  raw: (s) => (s.lpType === TYPE_CUT ? (cut(s), -1) : s.lpOff + 40),
};

/** A load `proto[index:size]`; a packet without that protocol makes the relation around it false. */
export function load(base: LoadBase, index: Arith, size: 1 | 2 | 4): Arith {
  const idx = index.f;
  const rd = size === 1 ? ld8 : size === 2 ? ld16 : ld32;
  const { checked, raw } = base;
  return {
    f: (s) => {
      const b = checked(s);
      if (b < 0) {
        s.miss = true;
        return 0;
      }
      return rd(s, b + idx(s));
    },
    c: null,
    u: (s) => {
      const b = raw(s);
      return b < 0 ? 0 : rd(s, b + idx(s));
    },
  };
}

export type RelOp = '=' | '!=' | '<' | '>' | '<=' | '>=';

/**
 * `l OP r`. A load of a protocol the packet lacks makes only this relation false (libpcap ANDs
 * the protocol test into the comparison); a read past the captured bytes ends the filter.
 */
export function relation(op: RelOp, l: Arith, r: Arith): Pred {
  const lf = l.f;
  const rf = r.f;
  const cmp = (a: number, b: number): boolean => {
    switch (op) {
      case '=':
        return a === b;
      case '!=':
        return a !== b;
      case '<':
        return a < b;
      case '>':
        return a > b;
      case '<=':
        return a <= b;
      case '>=':
        return a >= b;
    }
  };
  return (s) => {
    const a = lf(s);
    const b = rf(s);
    if (s.miss) {
      s.miss = false;
      return false;
    }
    return !s.abort && cmp(a, b);
  };
}
