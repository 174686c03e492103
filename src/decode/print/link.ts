/**
 * Link layer: Ethernet (+ 802.1Q/802.1ad tags) and Linux cooked captures (SLL, SLL2).
 * Text: `src > dst, vlan 10, ` / `In ifindex 3 aa:bb:cc:dd:ee:ff, `; JSON: the `eth`, `vlan`
 * and `sll` members of cli.md.
 */
import type { Packet } from '../packet.js';
import { hexColon, mac } from './fmt.js';

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
export function linkJson(p: Packet): string {
  let s = '';
  if (p.eth.present) {
    s += '"eth":{"src":"' + mac(p.buf, p.eth.srcOff) + '","dst":"' + mac(p.buf, p.eth.dstOff) + '","type":' + p.eth.etherType + '},';
  }
  if (p.sll.present) {
    const sl = p.sll;
    s +=
      '"sll":{"version":' + sl.version + ',"ifindex":' + (sl.version === 2 ? sl.ifIndex : null) + ',"pkttype":' + sl.pktType +
      ',"hatype":' + sl.hatype + ',"addr":' + (sl.addrLen > 0 ? '"' + sllAddr(p) + '"' : null) + ',"protocol":' + sl.protocol + '},';
  }
  if (p.vlan.count > 0) {
    s += '"vlan":[';
    for (let i = 0; i < p.vlan.count; i++) {
      s +=
        (i > 0 ? ',' : '') + '{"id":' + p.vlan.id[i]! + ',"pcp":' + p.vlan.pcp[i]! + ',"dei":' + p.vlan.dei[i]! +
        ',"tpid":' + p.vlan.tpid[i]! + '}';
    }
    s += '],';
  }
  return s;
}
