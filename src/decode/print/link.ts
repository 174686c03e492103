/**
 * Link layer: Ethernet (+ 802.1Q/802.1ad tags) and Linux cooked captures (SLL, SLL2).
 * Text: `src > dst, vlan 10, ` / `In ifindex 3 aa:bb:cc:dd:ee:ff, `; JSON: the `eth`, `vlan`
 * and `sll` members of cli.md.
 */
import type { Packet } from '../packet.js';
import { hexColon, mac } from './fmt.js';
import type { ByteSink } from './sink.js';

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
    o.ascii('"eth":{"src":"');
    o.hexColon(buf, p.eth.srcOff, 6);
    o.ascii('","dst":"');
    o.hexColon(buf, p.eth.dstOff, 6);
    o.ascii('","type":');
    o.uint(p.eth.etherType);
    o.ascii('},');
  }
  if (p.sll.present) {
    const sl = p.sll;
    o.ascii('"sll":{"version":');
    o.uint(sl.version);
    o.ascii(',"ifindex":');
    if (sl.version === 2) o.int(sl.ifIndex);
    else o.ascii('null');
    o.ascii(',"pkttype":');
    o.uint(sl.pktType);
    o.ascii(',"hatype":');
    o.uint(sl.hatype);
    o.ascii(',"addr":');
    if (sl.addrLen > 0) {
      o.byte(34);
      o.hexColon(buf, sl.addrOff, sl.addrLen);
      o.byte(34);
    } else o.ascii('null');
    o.ascii(',"protocol":');
    o.uint(sl.protocol);
    o.ascii('},');
  }
  if (p.vlan.count > 0) {
    o.ascii('"vlan":[');
    for (let i = 0; i < p.vlan.count; i++) {
      o.ascii(i > 0 ? ',{"id":' : '{"id":');
      o.uint(p.vlan.id[i]!);
      o.ascii(',"pcp":');
      o.uint(p.vlan.pcp[i]!);
      o.ascii(',"dei":');
      o.uint(p.vlan.dei[i]!);
      o.ascii(',"tpid":');
      o.uint(p.vlan.tpid[i]!);
      o.byte(125);
    }
    o.ascii('],');
  }
}
