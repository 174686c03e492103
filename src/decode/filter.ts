/**
 * `decode` FILTER language: a small, documented subset of tcpdump's pcap-filter syntax,
 * compiled once into a tree of closures over the reused Packet view (no allocation per packet).
 *
 *   expr      := term (('or' | '||') term)*
 *   term      := factor (('and' | '&&') factor)*
 *   factor    := ('not' | '!') factor | '(' expr ')' | primitive
 *   primitive := [src|dst] host ADDR        IPv4/IPv6 address (ARP sender/target for IPv4 too)
 *              | [src|dst] net CIDR         e.g. 10.0.0.0/8, 2001:db8::/32 (a bare address = /32, /128)
 *              | [src|dst] ADDR|CIDR        shorthand for host / net
 *              | [tcp|udp] [src|dst] port N
 *              | [tcp|udp] [src|dst] portrange N-M
 *              | ether [src|dst] [host] MAC
 *              | vlan [ID]
 *              | ip | ip6 | arp | tcp | udp | icmp | icmp6
 *              | toa [host ADDR | port N]   TCP segment carrying a TOA option (of the decode --toa-kind kinds)
 *              | tunnel                     IPIP / 6in4 / GRE / GUE encapsulation
 *              | syn | fin | rst | ack      TCP flag set
 *              | truncated | malformed | badsum
 *
 * Address, port and protocol primitives look at the outer packet AND the tunnelled packet
 * (IPIP/GRE/GUE), so `host RIP` finds a director's TUN-mode leg; ICMP-quoted packets are
 * not matched. Keywords are case-insensitive. Errors throw FilterError naming the column.
 */
import type { NetLayers, Packet } from './packet.js';
import { parseIpv4, parseIpv6, parseMac } from './addr.js';

export type PacketPredicate = (p: Packet) => boolean;

export class FilterError extends Error {
  constructor(
    message: string,
    /** 1-based column in the filter text. */
    readonly column: number,
  ) {
    super(`${message} at column ${column}`);
    this.name = 'FilterError';
  }
}

interface Token {
  text: string;
  /** 0-based start in the source. */
  pos: number;
}

function tokenize(src: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < src.length) {
    const c = src[i]!;
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r') {
      i++;
      continue;
    }
    if (c === '(' || c === ')') {
      out.push({ text: c, pos: i++ });
      continue;
    }
    if ((c === '&' || c === '|') && src[i + 1] === c) {
      out.push({ text: c + c, pos: i });
      i += 2;
      continue;
    }
    if (c === '!') {
      out.push({ text: '!', pos: i++ });
      continue;
    }
    const start = i;
    while (i < src.length && !/[\s()!]/.test(src[i]!) && !((src[i] === '&' || src[i] === '|') && src[i + 1] === src[i])) i++;
    if (i === start) throw new FilterError(`unexpected character '${c}'`, start + 1);
    out.push({ text: src.slice(start, i), pos: start });
  }
  return out;
}

type Dir = 'src' | 'dst' | 'any';

/** An address prefix: IPv4 as uint32 + mask, IPv6 as bytes + prefix length. */
type Prefix = { family: 4; addr: number; mask: number } | { family: 6; bytes: Buffer; bits: number };

function parsePrefix(text: string): Prefix | null {
  const slash = text.indexOf('/');
  const addrText = slash < 0 ? text : text.slice(0, slash);
  const lenText = slash < 0 ? null : text.slice(slash + 1);
  if (lenText !== null && !/^\d{1,3}$/.test(lenText)) return null;
  const v4 = parseIpv4(addrText);
  if (v4 !== null) {
    const bits = lenText === null ? 32 : Number(lenText);
    if (bits > 32) return null;
    const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
    return { family: 4, addr: (v4 & mask) >>> 0, mask };
  }
  const v6 = parseIpv6(addrText);
  if (v6 !== null) {
    const bits = lenText === null ? 128 : Number(lenText);
    if (bits > 128) return null;
    return { family: 6, bytes: v6, bits };
  }
  return null;
}

function match6(buf: Uint8Array, off: number, want: Buffer, bits: number): boolean {
  const full = bits >> 3;
  for (let i = 0; i < full; i++) if (buf[off + i] !== want[i]) return false;
  const rest = bits & 7;
  if (rest === 0) return true;
  const m = (0xff << (8 - rest)) & 0xff;
  return (buf[off + full]! & m) === (want[full]! & m);
}

/** Predicate over one stack's IP addresses. */
function stackAddr(pfx: Prefix, dir: Dir): (n: NetLayers, buf: Uint8Array) => boolean {
  if (pfx.family === 4) {
    const { addr, mask } = pfx;
    return (n) =>
      n.ip.version === 4 &&
      ((dir !== 'dst' && ((n.ip.src4 & mask) >>> 0) === addr) || (dir !== 'src' && ((n.ip.dst4 & mask) >>> 0) === addr));
  }
  const { bytes, bits } = pfx;
  return (n, buf) =>
    n.ip.version === 6 &&
    ((dir !== 'dst' && match6(buf, n.ip.srcOff, bytes, bits)) || (dir !== 'src' && match6(buf, n.ip.dstOff, bytes, bits)));
}

function addrPredicate(pfx: Prefix, dir: Dir): PacketPredicate {
  const inStack = stackAddr(pfx, dir);
  const arp4 = pfx.family === 4 ? pfx : null;
  return (p) => {
    if (p.net.present && inStack(p.net, p.buf)) return true;
    if (p.tunnel !== null && p.inner.present && inStack(p.inner, p.buf)) return true;
    if (arp4 !== null && p.arp.present && p.arp.isEthIpv4) {
      if (dir !== 'dst' && ((p.arp.spa & arp4.mask) >>> 0) === arp4.addr) return true;
      if (dir !== 'src' && ((p.arp.tpa & arp4.mask) >>> 0) === arp4.addr) return true;
    }
    return false;
  };
}

/** Either stack (outer or tunnelled) satisfies `f`. */
function eitherStack(f: (n: NetLayers, p: Packet) => boolean): PacketPredicate {
  return (p) => (p.net.present && f(p.net, p)) || (p.tunnel !== null && p.inner.present && f(p.inner, p));
}

function portPredicate(lo: number, hi: number, dir: Dir, proto: 'tcp' | 'udp' | null): PacketPredicate {
  const inRange = (v: number): boolean => v >= lo && v <= hi;
  return eitherStack((n) => {
    let sp: number;
    let dp: number;
    if (n.l4 === 'tcp' && n.tcp.present && proto !== 'udp') {
      sp = n.tcp.sport;
      dp = n.tcp.dport;
    } else if (n.l4 === 'udp' && n.udp.present && proto !== 'tcp') {
      sp = n.udp.sport;
      dp = n.udp.dport;
    } else return false;
    return (dir !== 'dst' && inRange(sp)) || (dir !== 'src' && inRange(dp));
  });
}

const KEYWORDS = new Set([
  'and', 'or', 'not', 'src', 'dst', 'host', 'net', 'port', 'portrange', 'ether', 'vlan', 'ip', 'ip6', 'arp', 'tcp', 'udp',
  'icmp', 'icmp6', 'toa', 'tunnel', 'syn', 'fin', 'rst', 'ack', 'truncated', 'malformed', 'badsum',
]);

const FLAG_BITS: Record<string, number> = { fin: 0x001, syn: 0x002, rst: 0x004, ack: 0x010 };

class Parser {
  private i = 0;
  constructor(
    private readonly toks: Token[],
    private readonly srcLen: number,
  ) {}

  private peek(): string | null {
    const t = this.toks[this.i];
    return t === undefined ? null : t.text.toLowerCase();
  }

  private col(): number {
    const t = this.toks[this.i];
    return (t === undefined ? this.srcLen : t.pos) + 1;
  }

  private fail(msg: string): never {
    const t = this.toks[this.i];
    throw new FilterError(t === undefined ? `${msg}, found end of filter` : `${msg}, found '${t.text}'`, this.col());
  }

  parse(): PacketPredicate {
    const e = this.expr();
    if (this.i < this.toks.length) this.fail("expected 'and', 'or' or end of filter");
    return e;
  }

  private expr(): PacketPredicate {
    let left = this.term();
    while (this.peek() === 'or' || this.peek() === '||') {
      this.i++;
      const l = left;
      const r = this.term();
      left = (p) => l(p) || r(p);
    }
    return left;
  }

  private term(): PacketPredicate {
    let left = this.factor();
    while (this.peek() === 'and' || this.peek() === '&&') {
      this.i++;
      const l = left;
      const r = this.factor();
      left = (p) => l(p) && r(p);
    }
    return left;
  }

  private factor(): PacketPredicate {
    const t = this.peek();
    if (t === 'not' || t === '!') {
      this.i++;
      const inner = this.factor();
      return (p) => !inner(p);
    }
    if (t === '(') {
      this.i++;
      const e = this.expr();
      if (this.peek() !== ')') this.fail("expected ')'");
      this.i++;
      return e;
    }
    return this.primitive();
  }

  private number(what: string, max: number): number {
    const t = this.toks[this.i];
    if (t === undefined || !/^\d+$/.test(t.text) || Number(t.text) > max) this.fail(`expected ${what} (0-${max})`);
    this.i++;
    return Number(t.text);
  }

  private prefix(hostOnly: boolean): Prefix {
    const t = this.toks[this.i];
    const pfx = t === undefined ? null : parsePrefix(t.text);
    if (pfx === null || (hostOnly && t!.text.includes('/'))) this.fail(hostOnly ? 'expected an IP address' : 'expected an IP address or CIDR');
    this.i++;
    return pfx;
  }

  private portOrRange(kw: string, dir: Dir, proto: 'tcp' | 'udp' | null): PacketPredicate {
    if (kw === 'port') {
      const n = this.number('a port number', 65535);
      return portPredicate(n, n, dir, proto);
    }
    const t = this.toks[this.i];
    const m = t === undefined ? null : /^(\d+)-(\d+)$/.exec(t.text);
    if (m === null || Number(m[1]) > 65535 || Number(m[2]) > 65535 || Number(m[1]) > Number(m[2])) {
      this.fail('expected a port range N-M');
    }
    this.i++;
    return portPredicate(Number(m[1]), Number(m[2]), dir, proto);
  }

  private primitive(): PacketPredicate {
    const startCol = this.col();
    const kw = this.peek();
    if (kw === null) this.fail('expected a filter primitive');
    if (kw === ')' || kw === 'and' || kw === 'or' || kw === '&&' || kw === '||') this.fail('expected a filter primitive');
    this.i++;
    switch (kw) {
      case 'src':
      case 'dst':
        return this.directed(kw);
      case 'host':
        return addrPredicate(this.prefix(true), 'any');
      case 'net':
        return addrPredicate(this.prefix(false), 'any');
      case 'port':
      case 'portrange':
        return this.portOrRange(kw, 'any', null);
      case 'ether':
        return this.ether();
      case 'vlan': {
        const t = this.peek();
        if (t !== null && /^\d+$/.test(t)) {
          const id = this.number('a VLAN id', 4095);
          return (p) => {
            for (let i = 0; i < p.vlan.count; i++) if (p.vlan.id[i] === id) return true;
            return false;
          };
        }
        return (p) => p.vlan.count > 0;
      }
      case 'tcp':
      case 'udp': {
        const next = this.peek();
        if (next === 'port' || next === 'portrange' || next === 'src' || next === 'dst') {
          let dir: Dir = 'any';
          if (next === 'src' || next === 'dst') {
            dir = next;
            this.i++;
          }
          const pk = this.peek();
          if (pk !== 'port' && pk !== 'portrange') this.fail("expected 'port' or 'portrange'");
          this.i++;
          return this.portOrRange(pk, dir, kw);
        }
        return kw === 'tcp' ? eitherStack((n) => n.l4 === 'tcp') : eitherStack((n) => n.l4 === 'udp');
      }
      case 'ip':
        return eitherStack((n) => n.ip.version === 4);
      case 'ip6':
        return eitherStack((n) => n.ip.version === 6);
      case 'icmp':
        return eitherStack((n) => n.l4 === 'icmp');
      case 'icmp6':
        return eitherStack((n) => n.l4 === 'icmpv6');
      case 'arp':
        return (p) => p.arp.present;
      case 'tunnel':
        return (p) => p.tunnel !== null;
      case 'truncated':
        return (p) => p.truncated !== null;
      case 'malformed':
        return (p) => p.malformed.present;
      case 'badsum':
        return (p) => badsum(p.net) || (p.tunnel !== null && badsum(p.inner));
      case 'syn':
      case 'fin':
      case 'rst':
      case 'ack': {
        const bit = FLAG_BITS[kw]!;
        return eitherStack((n) => n.l4 === 'tcp' && n.tcp.present && (n.tcp.flags & bit) !== 0);
      }
      case 'toa':
        return this.toa();
      default: {
        this.i--;
        throw new FilterError(`unknown filter primitive '${this.toks[this.i]!.text}'`, startCol);
      }
    }
  }

  private directed(dir: 'src' | 'dst'): PacketPredicate {
    const kw = this.peek();
    if (kw === 'host' || kw === 'net') {
      this.i++;
      return addrPredicate(this.prefix(kw === 'host'), dir);
    }
    if (kw === 'port' || kw === 'portrange') {
      this.i++;
      return this.portOrRange(kw, dir, null);
    }
    if (kw !== null && !KEYWORDS.has(kw)) return addrPredicate(this.prefix(false), dir);
    return this.fail("expected 'host', 'net', 'port' or an address after '" + dir + "'");
  }

  private ether(): PacketPredicate {
    let dir: Dir = 'any';
    const kw = this.peek();
    if (kw === 'src' || kw === 'dst') {
      dir = kw;
      this.i++;
    }
    if (this.peek() === 'host') this.i++;
    const t = this.toks[this.i];
    const m = t === undefined ? null : parseMac(t.text);
    if (m === null) this.fail('expected a MAC address');
    this.i++;
    const eq = (buf: Uint8Array, off: number): boolean => {
      for (let i = 0; i < 6; i++) if (buf[off + i] !== m[i]) return false;
      return true;
    };
    return (p) => p.eth.present && ((dir !== 'dst' && eq(p.buf, p.eth.srcOff)) || (dir !== 'src' && eq(p.buf, p.eth.dstOff)));
  }

  private toa(): PacketPredicate {
    const has = (n: NetLayers): boolean => n.l4 === 'tcp' && n.tcp.present && n.tcp.toaKind !== 0;
    const kw = this.peek();
    if (kw === 'host') {
      this.i++;
      const pfx = this.prefix(true);
      return eitherStack((n, p) => {
        if (!has(n)) return false;
        const t = n.tcp;
        if (pfx.family === 4) return t.toaFamily === 4 && t.toaAddr4 === pfx.addr;
        return t.toaFamily === 6 && match6(p.buf, t.toaAddrOff, pfx.bytes, 128);
      });
    }
    if (kw === 'port') {
      this.i++;
      const port = this.number('a port number', 65535);
      return eitherStack((n) => has(n) && n.tcp.toaPort === port);
    }
    return eitherStack(has);
  }
}

function badsum(n: NetLayers): boolean {
  return (
    n.ip.checksumOk === false ||
    (n.l4 === 'tcp' && n.tcp.checksumOk === false) ||
    (n.l4 === 'udp' && n.udp.checksumOk === false) ||
    ((n.l4 === 'icmp' || n.l4 === 'icmpv6') && n.icmp.checksumOk === false)
  );
}

/** Compiles a FILTER expression; an empty or blank expression matches every packet. */
export function compileFilter(source: string): PacketPredicate {
  const toks = tokenize(source);
  if (toks.length === 0) return () => true;
  return new Parser(toks, source.length).parse();
}
