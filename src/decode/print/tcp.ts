/**
 * TCP: tcpdump-style text (`Flags [S.], seq 1, ack 2, win 3, options [...], length 0`) and
 * the JSON object of cli.md. Option values are read from the option bytes themselves (the
 * view keeps kind/offset/length of every option), so repeated or odd options print as sent.
 * `toa` options are the kinds the decoder recognised as TOA (`tcp.toaIndex`).
 */
import type { TcpView } from '../packet.js';
import { ipv6ToString } from '../addr.js';
import { hex, hex16, ip4At, tcpFlagsText } from './fmt.js';

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

function toaAddr(tcp: TcpView, buf: Uint8Array): string {
  return tcp.toaFamily === 6 ? ipv6ToString(buf, tcp.toaAddrOff) : ip4At(buf, tcp.toaAddrOff);
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

/** JSON of one option: kind, name and the parsed value(s). */
function optionJson(tcp: TcpView, buf: Uint8Array, i: number): string {
  const kind = tcp.optKind[i]!;
  const off = tcp.optOff[i]!;
  const len = tcp.optLen[i]!;
  if (i === tcp.toaIndex && tcp.toaKind !== 0) {
    return '{"kind":' + kind + ',"name":"toa","addr":"' + toaAddr(tcp, buf) + '","port":' + tcp.toaPort + '}';
  }
  const head = '{"kind":' + kind + ',"name":"';
  switch (kind) {
    case 0:
      return head + 'eol"}';
    case 1:
      return head + 'nop"}';
    case 2:
      if (len === 4) return head + 'mss","value":' + u16(buf, off + 2) + '}';
      break;
    case 3:
      if (len === 3) return head + 'wscale","value":' + buf[off + 2]! + '}';
      break;
    case 4:
      return head + 'sackOK"}';
    case 5:
      if (len >= 2 && (len - 2) % 8 === 0) {
        let s = head + 'sack","blocks":[';
        for (let b = 0; b < (len - 2) / 8; b++) {
          s += (b > 0 ? ',' : '') + '[' + u32(buf, off + 2 + 8 * b) + ',' + u32(buf, off + 6 + 8 * b) + ']';
        }
        return s + ']}';
      }
      break;
    case 8:
      if (len === 10) return head + 'ts","val":' + u32(buf, off + 2) + ',"ecr":' + u32(buf, off + 6) + '}';
      break;
  }
  // Unknown kinds, and known kinds with a length the RFC does not allow: raw bytes.
  return head + tcpOptionName(kind) + '","len":' + len + ',"data":"' + (len > 2 ? hex(buf, off + 2, len - 2) : '') + '"}';
}

export function tcpJson(tcp: TcpView, buf: Uint8Array): string {
  if (tcp.hdrLen === 0) return '{"sport":' + tcp.sport + ',"dport":' + tcp.dport + ',"seq":' + tcp.seq + ',"hdrLen":0}';
  let s =
    '{"sport":' + tcp.sport + ',"dport":' + tcp.dport + ',"seq":' + tcp.seq + ',"ack":' + tcp.ack +
    ',"hdrLen":' + tcp.hdrLen + ',"flags":' + tcp.flags + ',"flagsText":"' + tcpFlagsText(tcp.flags) +
    '","window":' + tcp.window + ',"urgent":' + tcp.urgent + ',"checksum":' + tcp.checksum +
    ',"checksumOk":' + tcp.checksumOk + ',"payloadLen":' + tcp.payloadWireLen + ',"capturedPayloadLen":' + tcp.payloadLen;
  s += ',"options":[';
  for (let i = 0; i < tcp.optCount; i++) s += (i > 0 ? ',' : '') + optionJson(tcp, buf, i);
  s += ']';
  if (tcp.toaKind !== 0) {
    s += ',"toa":{"kind":' + tcp.toaKind + ',"addr":"' + toaAddr(tcp, buf) + '","port":' + tcp.toaPort + '}';
  }
  return s + '}';
}
