/**
 * One network stack (IP header + transport) as text and JSON, and the composition rules
 * for encapsulation levels and ICMP-quoted packets:
 *   plain   `IP a.p > b.q: Flags [S], …, length 0, ttl 64, id 1`
 *   tunnel  `IP a > b (ttl 64, id 1): GRE, IP c.p > d.q: Flags [S], …, ttl 63, id 2`
 *   nested  `IP a > b (…): GRE, key 0x2a, IP c > d (…): IP e.p > f.q: …` (one `carrier (…): TAG` per level)
 *   overlay `IP a.p > b.4789 (…): VXLAN, vni 7, m1 > m2, IP c.p > d.q: …`
 *   quoted  `IP a > b: ICMP unreachable - need to frag, mtu 1480, quoting [IP c.p > d.q: …], ttl 64, id 3`
 */
import type { EncapLevel, NetLayers, Packet } from '../packet.js';
import { arpJson, arpText } from './arp.js';
import { ethJson, ethText, mplsJson, mplsText } from './link.js';
import { icmpJsonOpen, icmpText } from './icmp.js';
import { ipDetails, ipDst, ipJson, ipSrc } from './ip.js';
import { tcpJson, tcpText } from './tcp.js';
import { udpJson, udpText } from './udp.js';
import { uoaJson, uoaText } from './uoa.js';
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
  let body = l4Text(n, p, quoted);
  if (n.uoa.mode !== 0) body = (body === '' ? '' : body + ', ') + uoaText(n.uoa, p.buf);
  return head(n, p.buf) + ': ' + (body === '' ? '' : body + ', ') + ipDetails(n.ip);
}

/** The ICMP-quoted stack belongs to whichever stack carries the ICMP error. */
function quotedFor(n: NetLayers, p: Packet): NetLayers | null {
  return (n.l4 === 'icmp' || n.l4 === 'icmpv6') && n.icmp.hasQuoted && p.quoted.present ? p.quoted : null;
}

function hex(n: number): string {
  return '0x' + n.toString(16);
}

/** The GRE header's fields as tcpdump names them (`key=`, `seq`, v1 `call`, `ack`). */
function greTag(lv: EncapLevel): string {
  if (lv.greVersion === 1) {
    let s = 'GREv1, call ' + (lv.greKey & 0xffff);
    if (lv.greSeq !== -1) s += ', seq ' + lv.greSeq;
    if (lv.greAck !== -1) s += ', ack ' + lv.greAck;
    if (lv.pppProto !== -1) s += ', PPP proto ' + hex(lv.pppProto);
    return s + ', ';
  }
  let s = 'GRE, ';
  if (lv.greChecksum !== -1) s += lv.greChecksumOk === false ? '[bad gre cksum ' + hex(lv.greChecksum) + '], ' : 'cksum ' + hex(lv.greChecksum) + ', ';
  if (lv.greKey !== -1) s += 'key ' + hex(lv.greKey) + ', ';
  if (lv.greSeq !== -1) s += 'seq ' + lv.greSeq + ', ';
  return s;
}

/** What opened level `lv`, before what it carries: `GRE, key 0x2a, `, `VXLAN, vni 7, `, … */
function levelTag(lv: EncapLevel, buf: Uint8Array): string {
  let s: string;
  switch (lv.kind) {
    case 'gre':
    case 'gre-udp':
      s = greTag(lv);
      break;
    case 'erspan2':
      s = greTag(lv) + 'ERSPAN II, session ' + lv.vni + ', vlan ' + lv.spanVlan + ', index ' + lv.spanIndex + ', ';
      break;
    case 'erspan3':
      s = greTag(lv) + 'ERSPAN III, session ' + lv.vni + ', vlan ' + lv.spanVlan + ', ';
      break;
    case 'gue':
      s = 'GUE, ';
      break;
    case 'vxlan':
      s = 'VXLAN, vni ' + lv.vni + ', ';
      break;
    case 'geneve':
      s = 'Geneve, vni ' + lv.vni + ', proto ' + hex(lv.proto) + (lv.optLen > 0 ? ', options ' + lv.optLen : '') + ', ';
      break;
    default:
      s = ''; // IPIP, SIT, 6in6: the carried IP header follows directly; MPLS-in-UDP: its labels
  }
  if (lv.eth.present) s += ethText(buf, lv.eth, lv.vlan);
  return s + mplsText(lv.mpls);
}

/** Network part of a packet's text line, every encapsulation level included. */
export function netText(p: Packet): string {
  let n = p.net;
  let s = '';
  for (let i = 0; i < p.depth; i++) {
    const lv = p.levels[i]!;
    if (lv.arp.present) return s + head(n, p.buf) + ' (' + ipDetails(n.ip) + '): ' + levelTag(lv, p.buf) + arpText(p, lv.arp);
    if (!lv.net.present) {
      // A carried Ethernet frame of another protocol (LLDP, STP…): its EtherType ends the line.
      if (lv.eth.present) return s + head(n, p.buf) + ' (' + ipDetails(n.ip) + '): ' + levelTag(lv, p.buf) + 'ethertype 0x' + lv.eth.etherType.toString(16).padStart(4, '0');
      // GRE of a protocol not decoded (WCCP, keep-alives, PPP control): its header says what it carries.
      if ((lv.kind === 'gre' || lv.kind === 'gre-udp') && lv.hdrLen > 0 && lv.mpls.count === 0) {
        const what = lv.pppProto === -1 ? 'proto 0x' + lv.greProto.toString(16).padStart(4, '0') + ', ' : '';
        return s + head(n, p.buf) + ' (' + ipDetails(n.ip) + '): ' + levelTag(lv, p.buf) + what + 'length ' + (n.l4 === 'udp' ? n.udp.payloadLen : n.ip.payloadWireLen);
      }
      // A level whose payload was not decoded (unknown GRE protocol, a cut header) prints as its carrier did.
      break;
    }
    s += head(n, p.buf) + ' (' + ipDetails(n.ip) + '): ' + levelTag(lv, p.buf);
    n = lv.net;
  }
  return s + stackText(n, p, quotedFor(n, p));
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
  if (n.uoa.mode !== 0) uoaJson(o, n.uoa, p.buf);
}

const GUE_KEY = litw(',"gue":{"proto":');

/** The `"gre"`, `"erspan"`, `"vxlan"`, `"geneve"`, `"gue"` member of a level's header (leading comma). */
function levelHeaderJson(o: ByteSink, lv: EncapLevel): void {
  switch (lv.kind) {
    case 'gre':
    case 'gre-udp':
    case 'erspan2':
    case 'erspan3':
      o.ascii(',"gre":{"version":');
      o.uint(lv.greVersion);
      o.ascii(',"flags":');
      o.uint(lv.greFlags);
      o.ascii(',"proto":');
      o.uint(lv.greProto);
      o.ascii(',"checksum":');
      numOrNull(o, lv.greChecksum);
      o.ascii(',"checksumOk":');
      o.ascii(lv.greChecksumOk === null ? 'null' : lv.greChecksumOk ? 'true' : 'false');
      if (lv.greVersion === 1) {
        o.ascii(',"payloadLen":');
        numOrNull(o, lv.greKey === -1 ? -1 : lv.greKey >>> 16);
        o.ascii(',"callId":');
        numOrNull(o, lv.greKey === -1 ? -1 : lv.greKey & 0xffff);
        o.ascii(',"seq":');
        numOrNull(o, lv.greSeq);
        o.ascii(',"ack":');
        numOrNull(o, lv.greAck);
        o.ascii(',"ppp":');
        numOrNull(o, lv.pppProto);
      } else {
        o.ascii(',"key":');
        numOrNull(o, lv.greKey);
        o.ascii(',"seq":');
        numOrNull(o, lv.greSeq);
      }
      o.byte(125);
      if (lv.kind === 'erspan2' || lv.kind === 'erspan3') {
        o.ascii(lv.kind === 'erspan2' ? ',"erspan":{"type":2' : ',"erspan":{"type":3');
        o.ascii(',"version":');
        o.uint(lv.flags);
        o.ascii(',"session":');
        numOrNull(o, lv.vni);
        o.ascii(',"vlan":');
        o.uint(lv.spanVlan);
        o.ascii(',"cos":');
        o.uint(lv.spanCos);
        o.ascii(lv.kind === 'erspan2' ? ',"en":' : ',"bso":');
        o.uint(lv.spanEn);
        o.ascii(',"t":');
        o.uint(lv.spanT);
        o.ascii(lv.kind === 'erspan2' ? ',"index":' : ',"timestamp":');
        o.uint(lv.spanIndex);
        if (lv.kind === 'erspan3') {
          o.ascii(',"sgt":');
          o.uint(lv.spanSgt);
          o.ascii(',"hwId":');
          o.uint(lv.spanHwId);
          o.ascii(',"dir":');
          o.uint(lv.spanDir);
          o.ascii(',"gra":');
          o.uint(lv.spanGra);
          o.ascii(',"o":');
          o.uint(lv.spanO);
          o.ascii(',"ft":');
          o.uint(lv.spanFt);
        }
        o.byte(125);
      }
      return;
    case 'vxlan':
      o.ascii(',"vxlan":{"flags":');
      o.uint(lv.flags);
      o.ascii(',"vni":');
      o.uint(lv.vni);
      o.byte(125);
      return;
    case 'geneve':
      o.ascii(',"geneve":{"optLen":');
      o.uint(lv.optLen);
      o.ascii(',"oam":');
      o.ascii((lv.flags & 0x80) !== 0 ? 'true' : 'false');
      o.ascii(',"critical":');
      o.ascii((lv.flags & 0x40) !== 0 ? 'true' : 'false');
      o.ascii(',"proto":');
      o.uint(lv.proto);
      o.ascii(',"vni":');
      o.uint(lv.vni);
      o.byte(125);
      return;
    case 'gue':
      o.pos = GUE_KEY(o.buf, o.pos);
      o.uint(lv.proto);
      o.ascii(lv.flags !== 0 ? ',"control":true}' : ',"control":false}');
      return;
    default:
      return;
  }
}

function numOrNull(o: ByteSink, n: number): void {
  if (n < 0) o.ascii('null');
  else o.uint(n);
}

/**
 * JSON members of the packet's network part: the outer stack, then per level `"tunnel"`, the
 * level's header member and `"inner":{…}` holding what it carries (Ethernet, VLAN, MPLS, the
 * IP stack and, nested in it, the next level): one object per level, nested.
 */
export function netJson(o: ByteSink, p: Packet): void {
  let n = p.net;
  stackJson(o, n, p, quotedFor(n, p));
  let closes = 0;
  for (let i = 0; i < p.depth; i++) {
    const lv = p.levels[i]!;
    o.pos = L3(o.buf, o.pos);
    o.ascii(lv.kind);
    o.byte(34);
    levelHeaderJson(o, lv);
    if (!lv.net.present && !lv.eth.present && lv.mpls.count === 0) break;
    o.pos = L2(o.buf, o.pos);
    closes++;
    ethJson(o, p.buf, lv.eth, lv.vlan);
    mplsJson(o, lv.mpls);
    if (lv.arp.present) {
      o.ascii('"arp":');
      arpJson(o, p, lv.arp);
      o.byte(44);
    }
    if (!lv.net.present) {
      o.pos--; // the comma after the last link member
      break;
    }
    n = lv.net;
    stackJson(o, n, p, quotedFor(n, p));
  }
  for (; closes > 0; closes--) o.byte(125);
}
