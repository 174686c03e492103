/**
 * One network stack (IP header + transport) as text and JSON, and the composition rules
 * for tunnels and ICMP-quoted packets:
 *   plain   `IP a.p > b.q: Flags [S], …, length 0, ttl 64, id 1`
 *   tunnel  `IP a > b (ttl 64, id 1): GRE, IP c.p > d.q: Flags [S], …, ttl 63, id 2`
 *   quoted  `IP a > b: ICMP unreachable - need to frag, mtu 1480, quoting [IP c.p > d.q: …], ttl 64, id 3`
 */
import type { NetLayers, Packet } from '../packet.js';
import { icmpJsonOpen, icmpText } from './icmp.js';
import { ipDetails, ipDst, ipJson, ipSrc } from './ip.js';
import { tcpJson, tcpText } from './tcp.js';
import { udpJson, udpText } from './udp.js';
import { litw, type ByteSink } from './sink.js';

/** Constant output fragments, encoded once (ByteSink.lit copies bytes, no per-char work). */
const L0 = litw(',"tcp":');
const L1 = litw(',"udp":');
const L2 = litw(',"inner":{');
const L3 = litw(',"tunnel":"');

function ports(n: NetLayers): [number, number] | null {
  if (n.l4 === 'tcp' && n.tcp.present) return [n.tcp.sport, n.tcp.dport];
  if (n.l4 === 'udp' && n.udp.present) return [n.udp.sport, n.udp.dport];
  return null;
}

/** `IP a.p > b.q` */
function head(n: NetLayers, buf: Uint8Array): string {
  const pp = ports(n);
  const tag = n.ip.version === 4 ? 'IP ' : 'IP6 ';
  if (pp === null) return tag + ipSrc(n.ip, buf) + ' > ' + ipDst(n.ip, buf);
  return tag + ipSrc(n.ip, buf) + '.' + pp[0] + ' > ' + ipDst(n.ip, buf) + '.' + pp[1];
}

/** Transport text of a stack that is not a tunnel carrier; '' when no transport header was decoded. */
function l4Text(n: NetLayers, p: Packet, quoted: NetLayers | null): string {
  switch (n.l4) {
    case 'tcp':
      return n.tcp.present ? tcpText(n.tcp, p.buf) : '';
    case 'udp':
      return n.udp.present ? udpText(n.udp) : '';
    case 'icmp':
    case 'icmpv6': {
      if (!n.icmp.present) return '';
      let s = icmpText(n.icmp);
      if (quoted !== null) s += ', quoting [' + stackText(quoted, p, null) + ']';
      return s;
    }
    default:
      if (n.ip.isFragment && n.ip.fragOffset !== 0) return 'frag proto ' + n.ip.proto + ', length ' + n.ip.payloadWireLen;
      return 'ip-proto-' + n.ip.proto + ' ' + n.ip.payloadWireLen;
  }
}

/** Text of one stack with its IP details at the end. */
export function stackText(n: NetLayers, p: Packet, quoted: NetLayers | null): string {
  const body = l4Text(n, p, quoted);
  return head(n, p.buf) + ': ' + (body === '' ? '' : body + ', ') + ipDetails(n.ip);
}

/** The ICMP-quoted stack belongs to whichever stack carries the ICMP error. */
function quotedFor(n: NetLayers, p: Packet): NetLayers | null {
  return (n.l4 === 'icmp' || n.l4 === 'icmpv6') && n.icmp.hasQuoted && p.quoted.present ? p.quoted : null;
}

const TUNNEL_TAG: Record<string, string> = { gre: 'GRE, ', gue: 'GUE, ' };

/** Network part of a packet's text line, tunnels included. */
export function netText(p: Packet): string {
  const outer = p.net;
  if (p.tunnel !== null && p.inner.present) {
    const tag = TUNNEL_TAG[p.tunnel] ?? '';
    return head(outer, p.buf) + ' (' + ipDetails(outer.ip) + '): ' + tag + stackText(p.inner, p, quotedFor(p.inner, p));
  }
  return stackText(outer, p, quotedFor(outer, p));
}

/** JSON members of one stack (`"ipv4":{…},"tcp":{…}`), no surrounding braces. */
export function stackJson(o: ByteSink, n: NetLayers, p: Packet, quoted: NetLayers | null): void {
  ipJson(o, n.ip, p.buf);
  switch (n.l4) {
    case 'tcp':
      if (n.tcp.present) {
        o.pos = L0(o.buf, o.pos);
        tcpJson(o, n.tcp, p.buf);
      }
      break;
    case 'udp':
      if (n.udp.present) {
        o.pos = L1(o.buf, o.pos);
        udpJson(o, n.udp);
      }
      break;
    case 'icmp':
    case 'icmpv6':
      if (n.icmp.present) {
        o.ascii(n.l4 === 'icmp' ? ',"icmp":' : ',"icmpv6":');
        icmpJsonOpen(o, n.icmp);
        if (quoted !== null) {
          o.pos = L2(o.buf, o.pos);
          stackJson(o, quoted, p, null);
          o.byte(125);
        }
        o.byte(125);
      }
      break;
    default:
      break;
  }
}

/** JSON members of the packet's network part: outer stack, `tunnel` and `inner`. */
export function netJson(o: ByteSink, p: Packet): void {
  stackJson(o, p.net, p, quotedFor(p.net, p));
  if (p.tunnel !== null) {
    o.pos = L3(o.buf, o.pos);
    o.ascii(p.tunnel);
    o.byte(34);
    if (p.inner.present) {
      o.pos = L2(o.buf, o.pos);
      stackJson(o, p.inner, p, quotedFor(p.inner, p));
      o.byte(125);
    }
  }
}
