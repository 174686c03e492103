/**
 * Link layer: Ethernet (+ 802.1Q/802.1ad tags) and Linux cooked captures (SLL, SLL2).
 * Text: `src > dst, vlan 10, ` / `In ifindex 3 aa:bb:cc:dd:ee:ff, `; JSON: the `eth`, `vlan`
 * and `sll` members of cli.md.
 */
import type { Packet } from '../packet.js';
import { hexColon, mac } from './fmt.js';
import { lit, type ByteSink } from './sink.js';

/** Constant output fragments, encoded once (ByteSink.lit copies bytes, no per-char work). */
const L0 = lit('"eth":{"src":"');
const L1 = lit('","dst":"');
const L2 = lit('","type":');
const L3 = lit('},');
const L4 = lit('"sll":{"version":');
const L5 = lit(',"ifindex":');
const L6 = lit('null');
const L7 = lit(',"pkttype":');
const L8 = lit(',"hatype":');
const L9 = lit(',"addr":');
const L10 = lit(',"protocol":');
const L11 = lit('"vlan":[');
const L12 = lit(',"pcp":');
const L13 = lit(',"dei":');
const L14 = lit(',"tpid":');
const L15 = lit('],');

/** tcpdump's names for the SLL packet types. */
const PKT_TYPE = ['In', 'B', 'M', 'P', 'Out'];

export function sllPktTypeName(t: number): string {
  return PKT_TYPE[t] ?? 'pkttype-' + t;
}

function sllAddr(p: Packet): string {
  const s = p.sll;
  return s.addrLen === 6 ? mac(p.buf, s.addrOff) : hexColon(p.buf, s.addrOff, s.addrLen);
}

function vlanText(p: Packet): string {
  let s = '';
  for (let i = 0; i < p.vlan.count; i++) {
    s += 'vlan ' + p.vlan.id[i]!;
    if (p.vlan.pcp[i]! !== 0) s += ' p ' + p.vlan.pcp[i]!;
    s += ', ';
  }
  return s;
}

/** Everything before the network layer, ending in ", " (or "" for raw/null link types). */
export function linkText(p: Packet): string {
  if (p.eth.present) return mac(p.buf, p.eth.srcOff) + ' > ' + mac(p.buf, p.eth.dstOff) + ', ' + vlanText(p);
  if (p.sll.present) {
    let s = sllPktTypeName(p.sll.pktType);
    if (p.sll.version === 2) s += ' ifindex ' + p.sll.ifIndex;
    if (p.sll.addrLen > 0) s += ' ' + sllAddr(p);
    return s + ', ' + vlanText(p);
  }
  return vlanText(p);
}

/** `"eth":{…},` / `"sll":{…},` / `"vlan":[…],` members, each followed by a comma. */
export function linkJson(o: ByteSink, p: Packet): void {
  const buf = p.buf;
  if (p.eth.present) {
    o.lit(L0);
    o.hexColon(buf, p.eth.srcOff, 6);
    o.lit(L1);
    o.hexColon(buf, p.eth.dstOff, 6);
    o.lit(L2);
    o.uint(p.eth.etherType);
    o.lit(L3);
  }
  if (p.sll.present) {
    const sl = p.sll;
    o.lit(L4);
    o.uint(sl.version);
    o.lit(L5);
    if (sl.version === 2) o.int(sl.ifIndex);
    else o.lit(L6);
    o.lit(L7);
    o.uint(sl.pktType);
    o.lit(L8);
    o.uint(sl.hatype);
    o.lit(L9);
    if (sl.addrLen > 0) {
      o.byte(34);
      o.hexColon(buf, sl.addrOff, sl.addrLen);
      o.byte(34);
    } else o.lit(L6);
    o.lit(L10);
    o.uint(sl.protocol);
    o.lit(L3);
  }
  if (p.vlan.count > 0) {
    o.lit(L11);
    for (let i = 0; i < p.vlan.count; i++) {
      o.ascii(i > 0 ? ',{"id":' : '{"id":');
      o.uint(p.vlan.id[i]!);
      o.lit(L12);
      o.uint(p.vlan.pcp[i]!);
      o.lit(L13);
      o.uint(p.vlan.dei[i]!);
      o.lit(L14);
      o.uint(p.vlan.tpid[i]!);
      o.byte(125);
    }
    o.lit(L15);
  }
}
