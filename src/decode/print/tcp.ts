/**
 * TCP: tcpdump-style text (`Flags [S.], seq 1, ack 2, win 3, options [...], length 0`) and
 * the JSON object of cli.md. Option values are read from the option bytes themselves (the
 * view keeps kind/offset/length of every option), so repeated or odd options print as sent.
 * `toa` options are the kinds the decoder recognised as TOA (`tcp.toaIndex`).
 */
import type { TcpView } from '../packet.js';
import { ipv6ToString } from '../addr.js';
import { hex, hex16, ip4At, tcpFlagsText } from './fmt.js';
import { lit, litw, type ByteSink } from './sink.js';

/** Constant output fragments, encoded once (ByteSink.lit copies bytes, no per-char work). */
const L0 = litw('{"kind":');
const L1 = litw(',"name":"toa","addr":"');
const L2 = litw('","port":');
const L3 = litw(',"name":"eol"}');
const L4 = litw(',"name":"nop"}');
const L5 = litw(',"name":"mss","value":');
const L6 = litw(',"name":"wscale","value":');
const L7 = litw(',"name":"sackOK"}');
const L8 = litw(',"name":"sack","blocks":[');
const L9 = litw(']}');
const L10 = litw(',"name":"ts","val":');
const L11 = litw(',"ecr":');
const L12 = litw(',"name":"');
const L13 = litw(',"len":');
/** RFC 6994 experiment options also carry their ExID. */
const EXID = litw('","exid":');
const L14 = litw(',"data":"');
const L15 = litw('"}');
const L16 = litw('{"sport":');
const L17 = litw(',"dport":');
const L18 = litw(',"seq":');
const L19 = litw(',"hdrLen":0}');
const L20 = litw(',"ack":');
const L21 = litw(',"hdrLen":');
const L22 = litw(',"flags":');
const L23 = litw(',"flagsText":"');
const L24 = litw('","window":');
const L25 = litw(',"urgent":');
const L26 = litw(',"checksum":');
const L27 = litw(',"checksumOk":');
const L28 = litw(',"payloadLen":');
/** Only when set: a TX-offload checksum (the pseudo-header sum alone). */
const PARTIAL = litw(',"checksumPartial":true');
const L29 = litw(',"capturedPayloadLen":');
const L30 = litw(',"options":[');
const L31 = litw(',"toa":{"kind":');
const L32 = litw(',"addr":"');

/** Flag letters for every 9-bit flags value, computed once. */
/** Flag letters of every 9-bit flags value, pre-encoded for ByteSink.lit. */
const FLAGS_TEXT: Uint8Array[] = Array.from({ length: 512 }, (_, f) => lit(tcpFlagsText(f)));

/** Names of the TCP option kinds, as tcpdump spells them (its table of the IANA registry). */
const OPTION_NAMES: Record<number, string> = {
  0: 'eol',
  1: 'nop',
  2: 'mss',
  3: 'wscale',
  4: 'sackOK',
  5: 'sack',
  6: 'echo',
  7: 'echoreply',
  8: 'TS',
  11: 'cc',
  12: 'ccnew',
  13: 'ccecho',
  19: 'md5',
  20: 'scps',
  28: 'uto',
  29: 'tcp-ao',
  30: 'mptcp',
  34: 'tfo',
  254: 'exp',
};

export function tcpOptionName(kind: number): string {
  return OPTION_NAMES[kind] ?? 'unknown-' + kind;
}

/** RFC 6994 experiment IDs with a name: TCP Fast Open's (RFC 7413 §4.1.1). */
const EXID_TFO = 0xf989;

/**
 * The name of the option at `off`, RFC 6994 experiments (kind 253/254) included: tcpdump's
 * `exp-tfo` for the TFO ExID, `exp-XXXX` (the ExID in hex) otherwise; kind 253 stays
 * `unknown-253` in text as in tcpdump, but its ExID is still read (`optionExid`).
 */
export function tcpOptionLabel(kind: number, buf: Uint8Array, off: number, len: number): string {
  if (kind === 254 && len >= 4) {
    const exid = u16(buf, off + 2);
    return exid === EXID_TFO ? 'exp-tfo' : 'exp-' + exid.toString(16).padStart(4, '0');
  }
  return tcpOptionName(kind);
}

/** The RFC 6994 ExID of a kind 253/254 option, or -1. */
export function optionExid(kind: number, buf: Uint8Array, off: number, len: number): number {
  return (kind === 253 || kind === 254) && len >= 4 ? u16(buf, off + 2) : -1;
}

/** A TFO option's cookie part (RFC 7413 §4.1.1: none = a cookie request, else 4..16 even bytes). */
function tfoText(buf: Uint8Array, off: number, n: number): string {
  if (n === 0) return ' cookiereq';
  if (n % 2 !== 0 || n < 4 || n > 16) return ' invalid';
  return ' cookie ' + hex(buf, off, n);
}

/** Text of the options tcpdump prints with their fields beyond the name; null for the others. */
function namedOptionText(kind: number, buf: Uint8Array, off: number, len: number): string | null {
  switch (kind) {
    case 6:
    case 7:
    case 11:
    case 12:
    case 13:
      return len === 6 ? tcpOptionName(kind) + ' ' + u32(buf, off + 2) : null;
    case 20:
      return len === 4 ? 'scps cap ' + hex(buf, off + 2, 1) + ' id ' + buf[off + 3]! : 'scps[bad opt]';
    case 29:
      return len >= 4 ? 'tcp-ao keyid ' + buf[off + 2]! + ' rnextkeyid ' + buf[off + 3]! + ' mac 0x' + hex(buf, off + 4, len - 4) : null;
    case 34:
      return 'tfo' + tfoText(buf, off + 2, len - 2);
    case 254:
      if (len < 4) return null;
      if (u16(buf, off + 2) === EXID_TFO) return 'exp-tfo' + tfoText(buf, off + 4, len - 4);
      // tcpdump prints the ExID alone; --json keeps the bytes after it ("data").
      return tcpOptionLabel(kind, buf, off, len);
    default:
      return null;
  }
}

function u16(buf: Uint8Array, off: number): number {
  return (buf[off]! << 8) | buf[off + 1]!;
}

function u32(buf: Uint8Array, off: number): number {
  return ((buf[off]! << 24) | (buf[off + 1]! << 16) | (buf[off + 2]! << 8) | buf[off + 3]!) >>> 0;
}

/** "198.51.100.7:40123" or "[2001:db8::7]:40123" for the TOA option. */
export function toaText(tcp: TcpView, buf: Uint8Array): string {
  const addr = tcp.toaFamily === 6 ? '[' + ipv6ToString(buf, tcp.toaAddrOff) + ']' : ip4At(buf, tcp.toaAddrOff);
  return addr + ':' + tcp.toaPort;
}

/** Text of one option, tcpdump spelling; TOA as `toa ADDR:PORT`. */
function optionText(tcp: TcpView, buf: Uint8Array, i: number): string {
  const kind = tcp.optKind[i]!;
  const off = tcp.optOff[i]!;
  const len = tcp.optLen[i]!;
  if (i === tcp.toaIndex && tcp.toaKind !== 0) return 'toa ' + toaText(tcp, buf);
  switch (kind) {
    case 0:
      return 'eol';
    case 1:
      return 'nop';
    case 2:
      return len === 4 ? 'mss ' + u16(buf, off + 2) : 'mss [bad length ' + len + ']';
    case 3:
      return len === 3 ? 'wscale ' + buf[off + 2]! : 'wscale [bad length ' + len + ']';
    case 4:
      return 'sackOK';
    case 5: {
      if (len < 2 || (len - 2) % 8 !== 0) return 'sack [bad length ' + len + ']';
      const n = (len - 2) / 8;
      let s = 'sack ' + n;
      for (let b = 0; b < n; b++) s += ' {' + u32(buf, off + 2 + 8 * b) + ':' + u32(buf, off + 6 + 8 * b) + '}';
      return s;
    }
    case 8:
      return len === 10 ? 'TS val ' + u32(buf, off + 2) + ' ecr ' + u32(buf, off + 6) : 'TS [bad length ' + len + ']';
    default: {
      const named = namedOptionText(kind, buf, off, len);
      if (named !== null) return named;
      return len > 2 ? tcpOptionName(kind) + ' 0x' + hex(buf, off + 2, len - 2) : tcpOptionName(kind);
    }
  }
}

/** `Flags [S], seq N[, ack N], win N[, urg N][, options [...]], length N` plus a bad-checksum mark. */
export function tcpText(tcp: TcpView, buf: Uint8Array): string {
  // Only ports and seq are there (an ICMP quote keeps 8 bytes of the segment).
  if (tcp.hdrLen === 0) return 'tcp seq ' + tcp.seq;
  let s = '';
  if (tcp.checksumOk === false) s += (tcp.checksumPartial ? '[partial tcp cksum ' : '[bad tcp cksum ') + hex16(tcp.checksum) + '] ';
  s += 'Flags [' + tcpFlagsText(tcp.flags) + '], seq ' + tcp.seq;
  if (tcp.flags & 0x010) s += ', ack ' + tcp.ack;
  s += ', win ' + tcp.window;
  if (tcp.flags & 0x020) s += ', urg ' + tcp.urgent;
  if (tcp.optCount > 0) {
    s += ', options [';
    for (let i = 0; i < tcp.optCount; i++) s += (i > 0 ? ',' : '') + optionText(tcp, buf, i);
    s += ']';
  }
  return s + ', length ' + tcp.payloadWireLen;
}

function toaAddrJson(o: ByteSink, tcp: TcpView, buf: Uint8Array): void {
  if (tcp.toaFamily === 6) o.ascii(ipv6ToString(buf, tcp.toaAddrOff));
  else o.ip4At(buf, tcp.toaAddrOff);
}

/** JSON of one option: kind, name and the parsed value(s). */
function optionJson(o: ByteSink, tcp: TcpView, buf: Uint8Array, i: number): void {
  const kind = tcp.optKind[i]!;
  const off = tcp.optOff[i]!;
  const len = tcp.optLen[i]!;
  o.pos = L0(o.buf, o.pos);
  o.uint(kind);
  if (i === tcp.toaIndex && tcp.toaKind !== 0) {
    o.pos = L1(o.buf, o.pos);
    toaAddrJson(o, tcp, buf);
    o.pos = L2(o.buf, o.pos);
    o.uint(tcp.toaPort);
    o.byte(125);
    return;
  }
  switch (kind) {
    case 0:
      o.pos = L3(o.buf, o.pos);
      return;
    case 1:
      o.pos = L4(o.buf, o.pos);
      return;
    case 2:
      if (len === 4) {
        o.pos = L5(o.buf, o.pos);
        o.uint(u16(buf, off + 2));
        o.byte(125);
        return;
      }
      break;
    case 3:
      if (len === 3) {
        o.pos = L6(o.buf, o.pos);
        o.uint(buf[off + 2]!);
        o.byte(125);
        return;
      }
      break;
    case 4:
      o.pos = L7(o.buf, o.pos);
      return;
    case 5:
      if (len >= 2 && (len - 2) % 8 === 0) {
        o.pos = L8(o.buf, o.pos);
        for (let b = 0; b < (len - 2) / 8; b++) {
          o.ascii(b > 0 ? ',[' : '[');
          o.uint(u32(buf, off + 2 + 8 * b));
          o.byte(44);
          o.uint(u32(buf, off + 6 + 8 * b));
          o.byte(93);
        }
        o.pos = L9(o.buf, o.pos);
        return;
      }
      break;
    case 8:
      if (len === 10) {
        o.pos = L10(o.buf, o.pos);
        o.uint(u32(buf, off + 2));
        o.pos = L11(o.buf, o.pos);
        o.uint(u32(buf, off + 6));
        o.byte(125);
        return;
      }
      break;
  }
  // Unknown kinds, and known kinds with a length the RFC does not allow: raw bytes.
  o.pos = L12(o.buf, o.pos);
  o.ascii(tcpOptionLabel(kind, buf, off, len));
  const exid = optionExid(kind, buf, off, len);
  if (exid >= 0) {
    o.pos = EXID(o.buf, o.pos);
    o.uint(exid);
  } else o.byte(34);
  o.pos = L13(o.buf, o.pos);
  o.uint(len);
  o.pos = L14(o.buf, o.pos);
  if (len > 2) o.hex(buf, off + 2, len - 2);
  o.pos = L15(o.buf, o.pos);
}

export function tcpJson(o: ByteSink, tcp: TcpView, buf: Uint8Array): void {
  o.pos = L16(o.buf, o.pos);
  o.uint(tcp.sport);
  o.pos = L17(o.buf, o.pos);
  o.uint(tcp.dport);
  o.pos = L18(o.buf, o.pos);
  o.uint(tcp.seq);
  if (tcp.hdrLen === 0) {
    o.pos = L19(o.buf, o.pos);
    return;
  }
  o.pos = L20(o.buf, o.pos);
  o.uint(tcp.ack);
  o.pos = L21(o.buf, o.pos);
  o.uint(tcp.hdrLen);
  o.pos = L22(o.buf, o.pos);
  o.uint(tcp.flags);
  o.pos = L23(o.buf, o.pos);
  o.lit(FLAGS_TEXT[tcp.flags & 511]!);
  o.pos = L24(o.buf, o.pos);
  o.uint(tcp.window);
  o.pos = L25(o.buf, o.pos);
  o.uint(tcp.urgent);
  o.pos = L26(o.buf, o.pos);
  o.uint(tcp.checksum);
  o.pos = L27(o.buf, o.pos);
  o.bool(tcp.checksumOk);
  if (tcp.checksumPartial) o.pos = PARTIAL(o.buf, o.pos);
  o.pos = L28(o.buf, o.pos);
  o.uint(tcp.payloadWireLen);
  o.pos = L29(o.buf, o.pos);
  o.uint(tcp.payloadLen);
  o.pos = L30(o.buf, o.pos);
  for (let i = 0; i < tcp.optCount; i++) {
    if (i > 0) o.byte(44);
    optionJson(o, tcp, buf, i);
  }
  o.byte(93);
  if (tcp.toaKind !== 0) {
    o.pos = L31(o.buf, o.pos);
    o.uint(tcp.toaKind);
    o.pos = L32(o.buf, o.pos);
    toaAddrJson(o, tcp, buf);
    o.pos = L2(o.buf, o.pos);
    o.uint(tcp.toaPort);
    o.byte(125);
  }
  o.byte(125);
}
