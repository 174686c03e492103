/**
 * The pcap-filter grammar (`man 7 pcap-filter`) plus lvsaudit's words, parsed once into the
 * closures of compile.ts / ours.ts.
 *
 *   expr      := term (('and' | '&&' | 'or' | '||') (term | ID))*     and/or: equal precedence, left to right
 *   term      := ('not' | '!') term | '(' expr ')' | arith RELOP arith | primitive
 *   primitive := [proto] [dir] [type] ID | proto | other words (less, greater, vlan, mpls, pppoes, …)
 *   arith     := tcpdump's precedence: | < & < << >> < + - < * / < unary -; `%` and `^` take
 *                everything after them as their right operand (libpcap's grammar gives them
 *                no precedence, so yacc shifts)
 *
 * A bare ID after and/or (`host A or B`, `port 80 or 443`) takes the qualifiers of the
 * primitive before it, as in tcpdump.
 */
import { parseIpv4, parseIpv6, parseMac } from '../addr.js';
import {
  ETH_ARP,
  ETH_IPV4,

  ETH_RARP,
  anyOf,
  atDepth,
  binary,
  constant,
  etherBroadcast,
  etherHost,
  etherMulticast,
  etherProto,
  host4,
  host6,
  icmp6Base,
  ip4Proto,
  ip6Multicast,
  ip6Proto,
  ipBroadcast,
  ipMulticast,
  isType,
  lenArith,
  linkBase,
  load,
  mplsPred,
  pppoedPred,
  pppoesPred,
  negate,
  networkBase,
  onNet,
  portTest,
  protochain,
  relation,
  transportBase,
  vlanPred,
  type Arith,
  type BinOp,
  type Dir,
  type NetTest,
  type Pred,
  type RelOp,
} from './compile.js';
import { FilterError, type Token } from './lexer.js';
import { ETHER_PROTO_NAMES, IP_PROTO_NAMES, NAMED_CONSTANTS, NETWORK_WORDS, TRANSPORT_WORDS } from './names.js';
import { lookupHost, lookupPort, type ServicePort } from './netdb.js';
import { MAX_LEVELS } from '../packet.js';
import { TCP_FLAG_WORDS, badsumPred, malformedPred, tcpFlag, toaPred, truncatedPred, tunnelPred, uoaPred } from './ours.js';

type AddrType = 'host' | 'net' | 'port' | 'portrange' | 'proto';

/** Qualifiers of a primitive, kept for the bare IDs that follow it. */
interface Quals {
  proto: string | null;
  dir: Dir | null;
  type: AddrType | null;
}

const PROTO_QUALS = new Set(['ether', 'link', 'ip', 'ip6', 'arp', 'rarp', ...TRANSPORT_WORDS.keys(), 'icmp6']);
const TYPE_WORDS = new Set<string>(['host', 'net', 'port', 'portrange', 'proto']);
const RELOPS = new Set(['=', '==', '!=', '<', '>', '<=', '>=']);
const ARITH_OPS = new Set(['+', '-', '*', '/', '%', '&', '|', '^', '<<', '>>']);
/** Words that are never an ID. */
const KEYWORDS = new Set([
  'and', 'or', 'not', 'src', 'dst', 'host', 'net', 'port', 'portrange', 'proto', 'mask', 'gateway', 'less', 'greater', 'len',
  'broadcast', 'multicast', 'vlan', 'mpls', 'protochain', 'pppoed', 'pppoes', 'toa', 'uoa', 'tunnel', 'depth', 'truncated', 'malformed', 'badsum',
  ...PROTO_QUALS, ...TCP_FLAG_WORDS.keys(),
]);

const AND: (a: Pred, b: Pred) => Pred = (a, b) => (s) => a(s) && b(s);
const OR: (a: Pred, b: Pred) => Pred = (a, b) => (s) => a(s) || b(s);

/** A number as libpcap reads one: decimal, 0x hex, or 0-prefixed octal. */
function parseNumber(text: string): number | null {
  if (/^0x[0-9a-f]+$/i.test(text)) return parseInt(text.slice(2), 16);
  if (/^0[0-7]+$/.test(text)) return parseInt(text, 8);
  if (/^\d+$/.test(text)) return Number(text);
  return null;
}

export class Parser {
  private i = 0;
  private last: Quals | null = null;

  constructor(
    private readonly toks: Token[],
    private readonly srcLen: number,
  ) {}

  private tok(k = 0): Token | undefined {
    return this.toks[this.i + k];
  }

  private peek(k = 0): string | null {
    const t = this.toks[this.i + k];
    return t === undefined ? null : t.text;
  }

  private col(): number {
    const t = this.toks[this.i];
    return (t === undefined ? this.srcLen : t.pos) + 1;
  }

  private fail(msg: string): never {
    const t = this.toks[this.i];
    throw new FilterError(t === undefined ? `${msg}, found end of filter` : `${msg}, found '${t.raw}'`, this.col());
  }

  private expect(text: string): void {
    if (this.peek() !== text) this.fail(`expected '${text}'`);
    this.i++;
  }

  parse(): Pred {
    const e = this.expr();
    if (this.i < this.toks.length) this.fail("expected 'and', 'or' or end of filter");
    return e;
  }

  private expr(): Pred {
    let left = this.term();
    for (;;) {
      const op = this.peek();
      let isAnd: boolean;
      if (op === 'and' || op === '&&') isAnd = true;
      else if (op === 'or' || op === '||') isAnd = false;
      else return left;
      this.i++;
      const right = this.inheritedOrTerm();
      left = isAnd ? AND(left, right) : OR(left, right);
    }
  }

  /** A bare ID (possibly negated) after and/or takes the previous primitive's qualifiers. */
  private inheritedOrTerm(): Pred {
    let nots = 0;
    while (this.peek(nots) === 'not' || this.peek(nots) === '!') nots++;
    const t = this.tok(nots);
    const after = this.peek(nots + 1);
    if (this.last !== null && t !== undefined && t.kind === 'word' && this.isBareId(t.text) && (after === null || !RELOPS.has(after) && !ARITH_OPS.has(after) && after !== '[')) {
      this.i += nots;
      let p = this.withQuals(this.last);
      for (let k = 0; k < nots; k++) {
        const inner = p;
        p = (s) => !inner(s);
      }
      return p;
    }
    return this.term();
  }

  private isBareId(w: string): boolean {
    return !KEYWORDS.has(w) && !NAMED_CONSTANTS.has(w) && !w.startsWith('\\');
  }

  private term(): Pred {
    const t = this.peek();
    if (t === 'not' || t === '!') {
      this.i++;
      const inner = this.term();
      return (s) => !inner(s);
    }
    if (t === '(') {
      // '(' opens either an arithmetic operand of a relation or a boolean group: try the
      // relation first, and report whichever reading got further when neither fits.
      const save = this.i;
      let relErr: FilterError;
      try {
        return this.relation();
      } catch (e) {
        if (!(e instanceof FilterError)) throw e;
        relErr = e;
      }
      this.i = save + 1;
      try {
        const e = this.expr();
        this.expect(')');
        return e;
      } catch (e) {
        if (e instanceof FilterError && e.column < relErr.column) throw relErr;
        throw e;
      }
    }
    if (this.startsArith()) return this.relation();
    return this.primitive();
  }

  private startsArith(): boolean {
    const t = this.tok();
    if (t === undefined) return false;
    if (t.text === '-') return true;
    if (t.kind !== 'word') return false;
    if (t.text === 'len' || NAMED_CONSTANTS.has(t.text) || parseNumber(t.text) !== null) {
      const n = this.peek(1);
      return n !== null && (RELOPS.has(n) || ARITH_OPS.has(n));
    }
    return this.peek(1) === '[' && loadBaseFor(t.text) !== null;
  }

  // ---- arithmetic ----------------------------------------------------------------------

  private relation(): Pred {
    const l = this.arith();
    const op = this.peek();
    if (op === null || !RELOPS.has(op)) this.fail('expected a comparison (= != < > <= >=)');
    this.i++;
    const r = this.arith();
    return relation((op === '==' ? '=' : op) as RelOp, l, r);
  }

  private static readonly LEVELS: readonly (readonly string[])[] = [['|'], ['&'], ['<<', '>>'], ['+', '-'], ['*', '/']];

  private arith(level = 0): Arith {
    if (level === Parser.LEVELS.length) return this.unary();
    let l = this.arith(level + 1);
    for (;;) {
      const op = this.peek();
      if (op === null || !Parser.LEVELS[level]!.includes(op)) return l;
      const col = this.col();
      this.i++;
      const r = this.arith(level + 1);
      l = this.binary(op as BinOp, l, r, col);
    }
  }

  private binary(op: BinOp, l: Arith, r: Arith, col: number): Arith {
    if ((op === '/' || op === '%') && r.c === 0) throw new FilterError('division by zero', col);
    return binary(op, l, r);
  }

  private unary(): Arith {
    if (this.peek() === '-') {
      this.i++;
      return negate(this.unary());
    }
    return this.grab(this.primary());
  }

  /** `%` and `^` take the whole rest of the arithmetic as their right operand (see header). */
  private grab(x: Arith): Arith {
    const op = this.peek();
    if (op !== '%' && op !== '^') return x;
    const col = this.col();
    this.i++;
    return this.binary(op, x, this.arith(), col);
  }

  private primary(): Arith {
    const t = this.tok();
    if (t === undefined) this.fail('expected a number, len, or proto[offset]');
    if (t.text === '(') {
      this.i++;
      const e = this.arith();
      this.expect(')');
      return e;
    }
    if (t.kind === 'word') {
      if (t.text === 'len') {
        this.i++;
        return lenArith;
      }
      const named = NAMED_CONSTANTS.get(t.text);
      if (named !== undefined) {
        this.i++;
        return constant(named);
      }
      const n = parseNumber(t.text);
      if (n !== null) {
        if (n > 0xffffffff) this.fail('number larger than 32 bits');
        this.i++;
        return constant(n);
      }
      const base = loadBaseFor(t.text);
      if (base !== null && this.peek(1) === '[') {
        this.i += 2;
        const index = this.arith();
        let size: 1 | 2 | 4 = 1;
        if (this.peek() === ':') {
          this.i++;
          const sz = this.tok();
          if (sz === undefined || (sz.text !== '1' && sz.text !== '2' && sz.text !== '4')) this.fail('expected a size of 1, 2 or 4');
          size = Number(sz.text) as 1 | 2 | 4;
          this.i++;
        }
        this.expect(']');
        return load(base, index, size);
      }
    }
    return this.fail('expected a number, len, a named constant or proto[offset]');
  }

  // ---- primitives ------------------------------------------------------------------------

  private number(what: string, max: number): number {
    const t = this.tok();
    const n = t === undefined ? null : parseNumber(t.text);
    if (n === null || n > max) this.fail(`expected ${what} (0-${max})`);
    this.i++;
    return n;
  }

  private optionalNumber(what: string, max: number): number | null {
    const t = this.tok();
    if (t === undefined || parseNumber(t.text) === null) return null;
    return this.number(what, max);
  }

  private primitive(): Pred {
    const start = this.tok();
    if (start === undefined || start.kind !== 'word') return this.fail('expected a filter primitive');
    const w = start.text;
    switch (w) {
      case 'less':
      case 'greater': {
        this.i++;
        const n = this.number('a length', 0xffffffff);
        return relation(w === 'less' ? '<=' : '>=', lenArith, constant(n));
      }
      case 'broadcast':
        this.i++;
        return etherBroadcast;
      case 'multicast':
        this.i++;
        return etherMulticast;
      case 'vlan':
        this.i++;
        return vlanPred(this.optionalNumber('a VLAN id', 4095));
      case 'mpls':
        this.i++;
        return mplsPred(this.optionalNumber('an MPLS label', 0xfffff));
      case 'pppoed':
        this.i++;
        return pppoedPred;
      case 'pppoes':
        this.i++;
        return pppoesPred(this.optionalNumber('a PPPoE session id', 0xffff));
      case 'tunnel':
        this.i++;
        return tunnelPred;
      case 'depth': {
        this.i++;
        const n = this.number('an encapsulation depth', MAX_LEVELS);
        return atDepth(n, this.term());
      }
      case 'truncated':
        this.i++;
        return truncatedPred;
      case 'malformed':
        this.i++;
        return malformedPred;
      case 'badsum':
        this.i++;
        return badsumPred;
      case 'toa':
        this.i++;
        return this.clientOption(toaPred);
      case 'uoa':
        this.i++;
        return this.clientOption(uoaPred);
      case 'protochain': {
        this.i++;
        const n = this.protoNumber(IP_PROTO_NAMES, 255, 'a protocol number');
        return onNet(anyOf([protochain(n, 4), protochain(n, 6)]));
      }
      case 'gateway':
        return this.fail("'gateway' needs host name lookups and is not supported");
      default:
        break;
    }
    const flag = TCP_FLAG_WORDS.get(w);
    if (flag !== undefined) {
      this.i++;
      return tcpFlag(flag);
    }
    return this.qualified();
  }

  /** [proto] [dir] [type] ID, a bare proto word, or proto-specific words (ip broadcast, ether proto…). */
  private qualified(): Pred {
    const q: Quals = { proto: null, dir: null, type: null };
    const first = this.peek()!;
    if (PROTO_QUALS.has(first)) {
      q.proto = first;
      this.i++;
      const special = this.protoSpecial(first);
      if (special !== null) return special;
    }
    const d = this.peek();
    if (d === 'src' || d === 'dst') {
      this.i++;
      q.dir = d;
      const conj = this.peek();
      const other = this.peek(1);
      if ((conj === 'or' || conj === 'and') && (other === 'src' || other === 'dst') && other !== d && this.startsQualifiedId(2)) {
        q.dir = conj;
        this.i += 2;
      }
    }
    const ty = this.peek();
    if (ty !== null && TYPE_WORDS.has(ty)) {
      q.type = ty as AddrType;
      this.i++;
    }
    if (q.dir === null && q.type === null) {
      if (q.proto !== null) return this.protoAbbrev(q.proto);
      const t = this.tok();
      if (t === undefined || !this.isBareId(t.text)) this.fail('expected a filter primitive');
      if (!looksLikeId(t.text)) throw new FilterError(`unknown filter primitive '${t.raw}'`, this.col());
    }
    this.last = q;
    return this.withQuals(q);
  }

  /** After `src or`: is this `dst ID`/`dst host ID` (a combined direction) rather than a new primitive? */
  private startsQualifiedId(k: number): boolean {
    const n = this.peek(k);
    return n !== null && (TYPE_WORDS.has(n) || this.isBareId(n));
  }

  private protoSpecial(proto: string): Pred | null {
    const w = this.peek();
    if (proto === 'ether' || proto === 'link') {
      if (w === 'broadcast') return this.i++, etherBroadcast;
      if (w === 'multicast') return this.i++, etherMulticast;
      if (w === 'proto') {
        this.i++;
        return etherProto(this.protoNumber(ETHER_PROTO_NAMES, 0xffff, 'an EtherType'));
      }
    }
    if (proto === 'ip') {
      if (w === 'broadcast') return this.i++, onNet(ipBroadcast);
      if (w === 'multicast') return this.i++, onNet(ipMulticast);
    }
    if (proto === 'ip6' && w === 'multicast') return this.i++, onNet(ip6Multicast);
    if ((proto === 'ip' || proto === 'ip6') && w === 'protochain') {
      this.i++;
      return onNet(protochain(this.protoNumber(IP_PROTO_NAMES, 255, 'a protocol number'), proto === 'ip' ? 4 : 6));
    }
    return null;
  }

  private protoNumber(names: ReadonlyMap<string, number>, max: number, what: string): number {
    const t = this.tok();
    if (t !== undefined) {
      const byName = names.get(t.text.startsWith('\\') ? t.text.slice(1) : t.text);
      if (byName !== undefined) {
        this.i++;
        return byName;
      }
    }
    return this.number(`${what} or a protocol name`, max);
  }

  private protoAbbrev(proto: string): Pred {
    const net = NETWORK_WORDS.get(proto);
    if (net !== undefined) return onNet(isType(net));
    if (proto === 'icmp6') return onNet(ip6Proto(58));
    if (proto === 'ether' || proto === 'link') return () => true;
    const tr = TRANSPORT_WORDS.get(proto)!;
    return onNet(tr.v6 ? anyOf([ip4Proto(tr.proto), ip6Proto(tr.proto)]) : ip4Proto(tr.proto));
  }

  /** Builds the primitive for qualifiers `q` and the ID at the cursor. */
  private withQuals(q: Quals): Pred {
    // Protocol names are keywords too (`ip proto tcp`, tcpdump's `ip proto \tcp`).
    if (q.type === 'proto') return this.protoPrimitive(q.proto);
    const t = this.tok();
    if (t === undefined || t.kind !== 'word' || !this.isBareId(t.text)) {
      if (q.type === 'port') this.fail('expected a port number (0-65535)');
      if (q.type === 'portrange') this.fail('expected a port range N-M');
      if (q.proto === 'ether' || q.proto === 'link') this.fail('expected a MAC address');
      this.fail('expected an IP address');
    }
    const dir: Dir = q.dir ?? 'or';
    const proto = q.proto;
    switch (q.type) {
      case 'port':
      case 'portrange':
        return this.port(q.type, proto, dir);
      case 'net':
        return this.net(proto, dir);
      case 'host':
      case null:
        break;
    }
    const mac = t.text.includes(':') && !t.text.includes('::') ? parseMac(t.text) : null;
    if (mac !== null && (t.text.match(/:/g) ?? []).length === 5) {
      if (proto !== null && proto !== 'ether' && proto !== 'link') this.fail(`'${proto}' does not take a MAC address`);
      this.i++;
      return etherHost(mac, dir);
    }
    if (proto === 'ether' || proto === 'link') this.fail('expected a MAC address');
    if (q.type === null && (t.text.includes('/') || /^\d+(\.\d+){0,2}$/.test(t.text))) {
      if (/^\d+$/.test(t.text) && q.dir === null) this.fail('expected an address');
      return this.net(proto, dir);
    }
    return this.host(proto, dir);
  }

  private host(proto: string | null, dir: Dir): Pred {
    const t = this.tok()!;
    const v4 = parseIpv4(t.text);
    if (v4 !== null) {
      const types = this.v4Types(proto, 'host');
      this.i++;
      return onNet(host4(v4 >>> 0, 0xffffffff, dir, types));
    }
    const v6 = parseIpv6(t.text);
    if (v6 !== null) {
      if (proto !== null && proto !== 'ip6') this.fail(`'${proto}' does not take an IPv6 address`);
      this.i++;
      return onNet(host6(v6, 128, dir));
    }
    if (/^[a-z0-9_][-a-z0-9_.]*$/.test(t.text) && /[a-z_]/.test(t.text)) return this.hostName(proto, dir);
    return this.fail('expected an IP address');
  }

  /** `host NAME`: every address /etc/hosts gives the name, of the families `proto` allows. */
  private hostName(proto: string | null, dir: Dir): Pred {
    const t = this.tok()!;
    const found = lookupHost(t.text);
    if (found === null) throw new FilterError(`unknown host '${t.raw}' (not in /etc/hosts)`, this.col());
    const tests: NetTest[] = [];
    if (proto === null || proto === 'ip' || proto === 'arp' || proto === 'rarp') {
      const types = this.v4Types(proto, 'host');
      for (const a of found.v4) tests.push(host4(a, 0xffffffff, dir, types));
    } else if (proto !== 'ip6') this.fail(`'${proto}' does not take a host`);
    if (proto === null || proto === 'ip6') for (const a of found.v6) tests.push(host6(a, 128, dir));
    if (tests.length === 0) throw new FilterError(`unknown host '${t.raw}' for the address family of '${proto ?? ''}'`, this.col());
    this.i++;
    return onNet(anyOf(tests));
  }

  private v4Types(proto: string | null, what: string): number[] {
    if (proto === null) return [ETH_IPV4, ETH_ARP, ETH_RARP];
    if (proto === 'ip') return [ETH_IPV4];
    if (proto === 'arp') return [ETH_ARP];
    if (proto === 'rarp') return [ETH_RARP];
    return this.fail(`'${proto}' does not take a ${what}`);
  }

  private net(proto: string | null, dir: Dir): Pred {
    const t = this.tok()!;
    const text = t.text;
    const slash = text.indexOf('/');
    const addrText = slash < 0 ? text : text.slice(0, slash);
    let bits: number | null = slash < 0 ? null : Number(text.slice(slash + 1));
    if (bits !== null && !Number.isInteger(bits)) this.fail('expected a prefix length');
    if (/^\d+(\.\d+){0,3}$/.test(addrText)) {
      const parts = addrText.split('.').map(Number);
      if (parts.some((x) => x > 255)) this.fail('expected an IPv4 network');
      if (bits !== null && bits > 32) this.fail('expected a CIDR prefix length of at most 32');
      let addr = 0;
      for (let k = 0; k < 4; k++) addr = addr * 256 + (parts[k] ?? 0);
      this.i++;
      let mask: number;
      if (bits === null && this.peek() === 'mask') {
        this.i++;
        const m = this.tok();
        const mv = m === undefined ? null : parseIpv4(m.text);
        if (mv === null) this.fail('expected a netmask');
        this.i++;
        mask = mv >>> 0;
      } else {
        if (bits === null) bits = parts.length * 8;
        if (bits > 32) this.fail('expected a CIDR prefix length of at most 32');
        mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
      }
      const types = this.v4Types(proto, 'net');
      return onNet(host4((addr & mask) >>> 0, mask, dir, types));
    }
    const v6 = parseIpv6(addrText);
    if (v6 === null) this.fail('expected an IPv4 or IPv6 network');
    if (proto !== null && proto !== 'ip6') this.fail(`'${proto}' does not take an IPv6 network`);
    if (bits === null) bits = 128;
    if (bits > 128) this.fail('expected a CIDR prefix length of at most 128');
    this.i++;
    return onNet(host6(v6, bits, dir));
  }

  private portName(name: string, why: string): ServicePort {
    const sp = lookupPort(name);
    if (sp === null) throw new FilterError(why, this.col());
    return sp;
  }

  private port(type: 'port' | 'portrange', proto: string | null, dir: Dir): Pred {
    let lo: number;
    let hi: number;
    // A port name's protocol as libpcap decides it: 'any' unless only TCP or only UDP has it.
    let named: ServicePort['proto'] = 'any';
    const t = this.tok()!;
    if (type === 'port') {
      if (parseNumber(t.text) === null && /^[a-z]/.test(t.text)) {
        const sp = this.portName(t.raw, `unknown port '${t.raw}' (not in /etc/services)`);
        lo = hi = sp.port;
        named = sp.proto;
      } else {
        lo = hi = this.number('a port number', 65535);
        this.i--;
      }
    } else {
      const m = /^(\d+)-(\d+)$/.exec(t.text);
      if (m !== null) {
        if (Number(m[1]) > 65535 || Number(m[2]) > 65535) this.fail('expected a port range N-M');
        lo = Number(m[1]);
        hi = Number(m[2]);
      } else {
        // NAME-NAME, split at the first '-' as libpcap splits it.
        const dash = t.raw.indexOf('-');
        if (dash <= 0 || !/^[a-z]/i.test(t.raw) || !/^[a-z]/i.test(t.raw.slice(dash + 1))) this.fail('expected a port range N-M');
        const why = `unknown port in range '${t.raw}' (not in /etc/services)`;
        const a = this.portName(t.raw.slice(0, dash), why);
        const b = this.portName(t.raw.slice(dash + 1), why);
        lo = a.port;
        hi = b.port;
        named = a.proto === b.proto ? a.proto : 'any';
      }
      if (lo > hi) [lo, hi] = [hi, lo];
    }
    let protos = [6, 17, 132];
    let v4 = true;
    let v6 = true;
    if (proto === 'tcp') protos = [6];
    else if (proto === 'udp') protos = [17];
    else if (proto === 'sctp') protos = [132];
    else if (proto === 'ip') v6 = false;
    else if (proto === 'ip6') v4 = false;
    else if (proto !== null) this.fail(`'${proto}' does not take a port`);
    if (named !== 'any') {
      // A name only TCP (or UDP) has: a transport qualifier must be that one, and without one
      // only that protocol is matched (libpcap's "real protocol").
      if (proto === 'udp' || proto === 'tcp' || proto === 'sctp') {
        if (proto !== named) this.fail(`port '${t.raw}' is ${named}`);
      } else protos = [named === 'tcp' ? 6 : 17];
    }
    this.i++;
    return onNet(portTest(lo, hi, dir, protos, v4, v6));
  }

  private protoPrimitive(proto: string | null): Pred {
    if (proto === 'ether' || proto === 'link') return etherProto(this.protoNumber(ETHER_PROTO_NAMES, 0xffff, 'an EtherType'));
    const n = this.protoNumber(IP_PROTO_NAMES, 255, 'a protocol number');
    let test: NetTest;
    if (proto === 'ip') test = ip4Proto(n);
    else if (proto === 'ip6') test = ip6Proto(n);
    else if (proto === null) test = anyOf([ip4Proto(n), ip6Proto(n)]);
    else return this.fail(`'${proto}' does not take 'proto'`);
    return onNet(test);
  }

  /** `toa` / `uoa` and their optional `host A` or `port N`. */
  private clientOption(pred: typeof toaPred): Pred {
    const kw = this.peek();
    if (kw === 'host') {
      this.i++;
      const t = this.tok();
      const v4 = t === undefined ? null : parseIpv4(t.text);
      const v6 = t === undefined || v4 !== null ? null : parseIpv6(t.text);
      if (v4 === null && v6 === null) this.fail('expected an IP address');
      this.i++;
      return pred(v4 !== null ? { family: 4, addr: v4 >>> 0 } : { family: 6, bytes: v6! }, null);
    }
    if (kw === 'port') {
      this.i++;
      return pred(null, this.number('a port number', 65535));
    }
    return pred(null, null);
  }
}

/** An address, network, MAC or number: what may stand alone as a primitive's ID. */
function looksLikeId(w: string): boolean {
  return /^[0-9]/.test(w) || w.includes(':');
}

/** Where `word[...]` counts from, or null when `word` takes no byte offsets. */
function loadBaseFor(word: string): ReturnType<typeof networkBase> | null {
  if (word === 'ether' || word === 'link') return linkBase;
  const net = NETWORK_WORDS.get(word);
  if (net !== undefined) return networkBase(net);
  if (word === 'icmp6') return icmp6Base;
  const tr = TRANSPORT_WORDS.get(word);
  if (tr !== undefined) return transportBase(tr.proto);
  return null;
}

