/**
 * TCP: tcpdump-style text (`Flags [S.], seq 1, ack 2, win 3, options [...], length 0`) and
 * the JSON object of cli.md. Option values are read from the option bytes themselves (the
 * view keeps kind/offset/length of every option), so repeated or odd options print as sent.
 * `toa` options are the kinds the decoder recognised as TOA (`tcp.toaIndex`).
 */
import type { TcpView } from '../packet.js';
import { ipv6ToString } from '../addr.js';
import { hex, hex16, ip4At, tcpFlagsText } from './fmt.js';
import type { ByteSink } from './sink.js';

/** Flag letters for every 9-bit flags value, computed once. */
const FLAGS_TEXT: string[] = Array.from({ length: 512 }, (_, f) => tcpFlagsText(f));

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
  o.ascii('{"kind":');
  o.uint(kind);
  if (i === tcp.toaIndex && tcp.toaKind !== 0) {
    o.ascii(',"name":"toa","addr":"');
    toaAddrJson(o, tcp, buf);
    o.ascii('","port":');
    o.uint(tcp.toaPort);
    o.byte(125);
    return;
  }
  switch (kind) {
    case 0:
      o.ascii(',"name":"eol"}');
      return;
    case 1:
      o.ascii(',"name":"nop"}');
      return;
    case 2:
      if (len === 4) {
        o.ascii(',"name":"mss","value":');
        o.uint(u16(buf, off + 2));
        o.byte(125);
        return;
      }
      break;
    case 3:
      if (len === 3) {
        o.ascii(',"name":"wscale","value":');
        o.uint(buf[off + 2]!);
        o.byte(125);
        return;
      }
      break;
    case 4:
      o.ascii(',"name":"sackOK"}');
      return;
    case 5:
      if (len >= 2 && (len - 2) % 8 === 0) {
        o.ascii(',"name":"sack","blocks":[');
        for (let b = 0; b < (len - 2) / 8; b++) {
          o.ascii(b > 0 ? ',[' : '[');
          o.uint(u32(buf, off + 2 + 8 * b));
          o.byte(44);
          o.uint(u32(buf, off + 6 + 8 * b));
          o.byte(93);
        }
        o.ascii(']}');
        return;
      }
      break;
    case 8:
      if (len === 10) {
        o.ascii(',"name":"ts","val":');
        o.uint(u32(buf, off + 2));
        o.ascii(',"ecr":');
        o.uint(u32(buf, off + 6));
        o.byte(125);
        return;
      }
      break;
  }
  // Unknown kinds, and known kinds with a length the RFC does not allow: raw bytes.
  o.ascii(',"name":"');
  o.ascii(tcpOptionName(kind));
  o.ascii('","len":');
  o.uint(len);
  o.ascii(',"data":"');
  if (len > 2) o.hex(buf, off + 2, len - 2);
  o.ascii('"}');
}

export function tcpJson(o: ByteSink, tcp: TcpView, buf: Uint8Array): void {
  o.ascii('{"sport":');
  o.uint(tcp.sport);
  o.ascii(',"dport":');
  o.uint(tcp.dport);
  o.ascii(',"seq":');
  o.uint(tcp.seq);
  if (tcp.hdrLen === 0) {
    o.ascii(',"hdrLen":0}');
    return;
  }
  o.ascii(',"ack":');
  o.uint(tcp.ack);
  o.ascii(',"hdrLen":');
  o.uint(tcp.hdrLen);
  o.ascii(',"flags":');
  o.uint(tcp.flags);
  o.ascii(',"flagsText":"');
  o.ascii(FLAGS_TEXT[tcp.flags]!);
  o.ascii('","window":');
  o.uint(tcp.window);
  o.ascii(',"urgent":');
  o.uint(tcp.urgent);
  o.ascii(',"checksum":');
  o.uint(tcp.checksum);
  o.ascii(',"checksumOk":');
  o.bool(tcp.checksumOk);
  o.ascii(',"payloadLen":');
  o.uint(tcp.payloadWireLen);
  o.ascii(',"capturedPayloadLen":');
  o.uint(tcp.payloadLen);
  o.ascii(',"options":[');
  for (let i = 0; i < tcp.optCount; i++) {
    if (i > 0) o.byte(44);
    optionJson(o, tcp, buf, i);
  }
  o.byte(93);
  if (tcp.toaKind !== 0) {
    o.ascii(',"toa":{"kind":');
    o.uint(tcp.toaKind);
    o.ascii(',"addr":"');
    toaAddrJson(o, tcp, buf);
    o.ascii('","port":');
    o.uint(tcp.toaPort);
    o.byte(125);
  }
  o.byte(125);
}
