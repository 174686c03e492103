/**
 * TCP: tcpdump-style text (`Flags [S.], seq 1, ack 2, win 3, options [...], length 0`) and
 * the JSON object of cli.md. Option values are read from the option bytes themselves (the
 * view keeps kind/offset/length of every option), so repeated or odd options print as sent.
 * `toa` options are the kinds the decoder recognised as TOA (`tcp.toaIndex`).
 */
import type { TcpView } from '../packet.js';
import { ipv6ToString } from '../addr.js';
import { hex, hex16, ip4At, tcpFlagsText } from './fmt.js';
import { lit, type ByteSink } from './sink.js';

/** Constant output fragments, encoded once (ByteSink.lit copies bytes, no per-char work). */
const L0 = lit('{"kind":');
const L1 = lit(',"name":"toa","addr":"');
const L2 = lit('","port":');
const L3 = lit(',"name":"eol"}');
const L4 = lit(',"name":"nop"}');
const L5 = lit(',"name":"mss","value":');
const L6 = lit(',"name":"wscale","value":');
const L7 = lit(',"name":"sackOK"}');
const L8 = lit(',"name":"sack","blocks":[');
const L9 = lit(']}');
const L10 = lit(',"name":"ts","val":');
const L11 = lit(',"ecr":');
const L12 = lit(',"name":"');
const L13 = lit('","len":');
const L14 = lit(',"data":"');
const L15 = lit('"}');
const L16 = lit('{"sport":');
const L17 = lit(',"dport":');
const L18 = lit(',"seq":');
const L19 = lit(',"hdrLen":0}');
const L20 = lit(',"ack":');
const L21 = lit(',"hdrLen":');
const L22 = lit(',"flags":');
const L23 = lit(',"flagsText":"');
const L24 = lit('","window":');
const L25 = lit(',"urgent":');
const L26 = lit(',"checksum":');
const L27 = lit(',"checksumOk":');
const L28 = lit(',"payloadLen":');
const L29 = lit(',"capturedPayloadLen":');
const L30 = lit(',"options":[');
const L31 = lit(',"toa":{"kind":');
const L32 = lit(',"addr":"');

/** Flag letters for every 9-bit flags value, computed once. */
/** Flag letters of every 9-bit flags value, pre-encoded for ByteSink.lit. */
const FLAGS_TEXT: Uint8Array[] = Array.from({ length: 512 }, (_, f) => lit(tcpFlagsText(f)));

/** Names of the TCP option kinds we print by name (IANA registry). */
const OPTION_NAMES: Record<number, string> = {
  0: 'eol',
  1: 'nop',
  2: 'mss',
  3: 'wscale',
  4: 'sackOK',
  5: 'sack',
  8: 'TS',
  19: 'md5',
  28: 'uto',
  29: 'tcp-ao',
  30: 'mptcp',
  34: 'tfo',
};

export function tcpOptionName(kind: number): string {
  return OPTION_NAMES[kind] ?? 'unknown-' + kind;
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
    default:
      return len > 2 ? tcpOptionName(kind) + ' 0x' + hex(buf, off + 2, len - 2) : tcpOptionName(kind);
  }
}

/** `Flags [S], seq N[, ack N], win N[, urg N][, options [...]], length N` plus a bad-checksum mark. */
export function tcpText(tcp: TcpView, buf: Uint8Array): string {
  // Only ports and seq are there (an ICMP quote keeps 8 bytes of the segment).
  if (tcp.hdrLen === 0) return 'tcp seq ' + tcp.seq;
  let s = '';
  if (tcp.checksumOk === false) s += '[bad tcp cksum ' + hex16(tcp.checksum) + '] ';
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
  o.lit(L0);
  o.uint(kind);
  if (i === tcp.toaIndex && tcp.toaKind !== 0) {
    o.lit(L1);
    toaAddrJson(o, tcp, buf);
    o.lit(L2);
    o.uint(tcp.toaPort);
    o.byte(125);
    return;
  }
  switch (kind) {
    case 0:
      o.lit(L3);
      return;
    case 1:
      o.lit(L4);
      return;
    case 2:
      if (len === 4) {
        o.lit(L5);
        o.uint(u16(buf, off + 2));
        o.byte(125);
        return;
      }
      break;
    case 3:
      if (len === 3) {
        o.lit(L6);
        o.uint(buf[off + 2]!);
        o.byte(125);
        return;
      }
      break;
    case 4:
      o.lit(L7);
      return;
    case 5:
      if (len >= 2 && (len - 2) % 8 === 0) {
        o.lit(L8);
        for (let b = 0; b < (len - 2) / 8; b++) {
          o.ascii(b > 0 ? ',[' : '[');
          o.uint(u32(buf, off + 2 + 8 * b));
          o.byte(44);
          o.uint(u32(buf, off + 6 + 8 * b));
          o.byte(93);
        }
        o.lit(L9);
        return;
      }
      break;
    case 8:
      if (len === 10) {
        o.lit(L10);
        o.uint(u32(buf, off + 2));
        o.lit(L11);
        o.uint(u32(buf, off + 6));
        o.byte(125);
        return;
      }
      break;
  }
  // Unknown kinds, and known kinds with a length the RFC does not allow: raw bytes.
  o.lit(L12);
  o.ascii(tcpOptionName(kind));
  o.lit(L13);
  o.uint(len);
  o.lit(L14);
  if (len > 2) o.hex(buf, off + 2, len - 2);
  o.lit(L15);
}

export function tcpJson(o: ByteSink, tcp: TcpView, buf: Uint8Array): void {
  o.lit(L16);
  o.uint(tcp.sport);
  o.lit(L17);
  o.uint(tcp.dport);
  o.lit(L18);
  o.uint(tcp.seq);
  if (tcp.hdrLen === 0) {
    o.lit(L19);
    return;
  }
  o.lit(L20);
  o.uint(tcp.ack);
  o.lit(L21);
  o.uint(tcp.hdrLen);
  o.lit(L22);
  o.uint(tcp.flags);
  o.lit(L23);
  o.lit(FLAGS_TEXT[tcp.flags & 511]!);
  o.lit(L24);
  o.uint(tcp.window);
  o.lit(L25);
  o.uint(tcp.urgent);
  o.lit(L26);
  o.uint(tcp.checksum);
  o.lit(L27);
  o.bool(tcp.checksumOk);
  o.lit(L28);
  o.uint(tcp.payloadWireLen);
  o.lit(L29);
  o.uint(tcp.payloadLen);
  o.lit(L30);
  for (let i = 0; i < tcp.optCount; i++) {
    if (i > 0) o.byte(44);
    optionJson(o, tcp, buf, i);
  }
  o.byte(93);
  if (tcp.toaKind !== 0) {
    o.lit(L31);
    o.uint(tcp.toaKind);
    o.lit(L32);
    toaAddrJson(o, tcp, buf);
    o.lit(L2);
    o.uint(tcp.toaPort);
    o.byte(125);
  }
  o.byte(125);
}
