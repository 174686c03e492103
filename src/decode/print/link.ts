/**
 * Link layer: Ethernet (+ 802.1Q/802.1ad tags) and Linux cooked captures (SLL, SLL2).
 * Text: `src > dst, vlan 10, ` / `In ifindex 3 aa:bb:cc:dd:ee:ff, `; JSON: the `eth`, `vlan`
 * and `sll` members of cli.md.
 */
import type { EthernetView, MplsView, Packet, VlanView } from '../packet.js';
import { hexColon, mac } from './fmt.js';
import { litw, type ByteSink } from './sink.js';

/** Constant output fragments, encoded once (ByteSink.lit copies bytes, no per-char work). */
const L0 = litw('"eth":{"src":"');
const L1 = litw('","dst":"');
const L2 = litw('","type":');
const L3 = litw('},');
const L4 = litw('"sll":{"version":');
const L5 = litw(',"ifindex":');
const L6 = litw('null');
const L7 = litw(',"pkttype":');
const L8 = litw(',"hatype":');
const L9 = litw(',"addr":');
const L10 = litw(',"protocol":');
const L11 = litw('"vlan":[');
const L12 = litw(',"pcp":');
const L13 = litw(',"dei":');
const L14 = litw(',"tpid":');
const L15 = litw('],');

/** tcpdump's names for the SLL packet types. */
const PKT_TYPE = ['In', 'B', 'M', 'P', 'Out'];

export function sllPktTypeName(t: number): string {
  return PKT_TYPE[t] ?? 'pkttype-' + t;
}

function sllAddr(p: Packet): string {
  const s = p.sll;
  return s.addrLen === 6 ? mac(p.buf, s.addrOff) : hexColon(p.buf, s.addrOff, s.addrLen);
}

function vlanText(v: VlanView): string {
  let s = '';
  for (let i = 0; i < v.count; i++) {
    s += 'vlan ' + v.id[i]!;
    if (v.pcp[i]! !== 0) s += ' p ' + v.pcp[i]!;
    s += ', ';
  }
  return s;
}

/** `MPLS (label 16, tc 0, ttl 64) (label 17, tc 0, [S], ttl 64), ` or '' without labels. */
export function mplsText(m: MplsView): string {
  if (m.count === 0) return '';
  let s = 'MPLS';
  for (let i = 0; i < m.count; i++) {
    s += ' (label ' + m.label[i]! + ', tc ' + m.tc[i]! + (m.s[i]! ? ', [S]' : '') + ', ttl ' + m.ttl[i]! + ')';
  }
  return s + ', ';
}

/** An Ethernet header (the frame's or an encapsulated one) with its tags: `src > dst, vlan 10, `. */
export function ethText(buf: Uint8Array, eth: EthernetView, vlan: VlanView): string {
  return mac(buf, eth.srcOff) + ' > ' + mac(buf, eth.dstOff) + ', ' + vlanText(vlan);
}

/** Everything before the network layer, ending in ", " (or "" for raw/null link types). */
export function linkText(p: Packet): string {
  if (p.eth.present) return ethText(p.buf, p.eth, p.vlan) + mplsText(p.mpls);
  if (p.sll.present) {
    let s = sllPktTypeName(p.sll.pktType);
    if (p.sll.version === 2) s += ' ifindex ' + p.sll.ifIndex;
    if (p.sll.addrLen > 0) s += ' ' + sllAddr(p);
    return s + ', ' + vlanText(p.vlan) + mplsText(p.mpls);
  }
  return vlanText(p.vlan) + mplsText(p.mpls);
}

/** `"eth":{…},` and `"vlan":[…],` of an Ethernet header (the frame's or an encapsulated one). */
export function ethJson(o: ByteSink, buf: Uint8Array, eth: EthernetView, vlan: VlanView): void {
  ethHeaderJson(o, buf, eth);
  vlanJson(o, vlan);
}

function ethHeaderJson(o: ByteSink, buf: Uint8Array, eth: EthernetView): void {
  if (eth.present) {
    o.pos = L0(o.buf, o.pos);
    o.hexColon(buf, eth.srcOff, 6);
    o.pos = L1(o.buf, o.pos);
    o.hexColon(buf, eth.dstOff, 6);
    o.pos = L2(o.buf, o.pos);
    o.uint(eth.etherType);
    o.pos = L3(o.buf, o.pos);
  }
}

/** `"mpls":[{"label":…,"tc":…,"s":…,"ttl":…}…],` when there are labels. */
export function mplsJson(o: ByteSink, m: MplsView): void {
  if (m.count === 0) return;
  o.ascii('"mpls":[');
  for (let i = 0; i < m.count; i++) {
    o.ascii(i > 0 ? ',{"label":' : '{"label":');
    o.uint(m.label[i]!);
    o.ascii(',"tc":');
    o.uint(m.tc[i]!);
    o.ascii(',"s":');
    o.uint(m.s[i]!);
    o.ascii(',"ttl":');
    o.uint(m.ttl[i]!);
    o.byte(125);
  }
  o.pos = L15(o.buf, o.pos);
}

function vlanJson(o: ByteSink, v: VlanView): void {
  if (v.count > 0) {
    o.pos = L11(o.buf, o.pos);
    for (let i = 0; i < v.count; i++) {
      o.ascii(i > 0 ? ',{"id":' : '{"id":');
      o.uint(v.id[i]!);
      o.pos = L12(o.buf, o.pos);
      o.uint(v.pcp[i]!);
      o.pos = L13(o.buf, o.pos);
      o.uint(v.dei[i]!);
      o.pos = L14(o.buf, o.pos);
      o.uint(v.tpid[i]!);
      o.byte(125);
    }
    o.pos = L15(o.buf, o.pos);
  }
}

/** `"eth":{…},` / `"sll":{…},` / `"vlan":[…],` / `"mpls":[…],` members, each followed by a comma. */
export function linkJson(o: ByteSink, p: Packet): void {
  const buf = p.buf;
  ethHeaderJson(o, buf, p.eth);
  if (p.sll.present) {
    const sl = p.sll;
    o.pos = L4(o.buf, o.pos);
    o.uint(sl.version);
    o.pos = L5(o.buf, o.pos);
    if (sl.version === 2) o.int(sl.ifIndex);
    else o.pos = L6(o.buf, o.pos);
    o.pos = L7(o.buf, o.pos);
    o.uint(sl.pktType);
    o.pos = L8(o.buf, o.pos);
    o.uint(sl.hatype);
    o.pos = L9(o.buf, o.pos);
    if (sl.addrLen > 0) {
      o.byte(34);
      o.hexColon(buf, sl.addrOff, sl.addrLen);
      o.byte(34);
    } else o.pos = L6(o.buf, o.pos);
    o.pos = L10(o.buf, o.pos);
    o.uint(sl.protocol);
    o.pos = L3(o.buf, o.pos);
  }
  vlanJson(o, p.vlan);
  mplsJson(o, p.mpls);
}
