/**
 * IPv6 Neighbor Discovery (RFC 4861 §4.3, §4.4, §4.6.1) as a source of address → MAC bindings,
 * IPv6's counterpart of the ARP sender binding: a neighbor solicitation names its sender's MAC
 * in a source link-layer address option, an advertisement names the target's MAC in a target
 * link-layer address option. Pass 1 learns the real servers' MACs from them (DR frames never name
 * the RIP in the IP header), the same way it learns them from ARP on IPv4.
 *
 * The decoder finds the target and the link-layer option (IcmpView.nd*); nothing is allocated
 * unless the packet is an NS or NA that carries a binding.
 */
import { ipv6ToString, macToString } from '../../decode/addr.js';
import type { Packet } from '../../decode/packet.js';

/** RFC 4861 §7.1.1/§7.1.2: a node drops NS/NA whose hop limit is not 255 (it was routed). */
const NDP_HOP_LIMIT = 255;

/** True when the 16 bytes at `off` are the unspecified address (a DAD probe's source). */
function unspecified(buf: Uint8Array, off: number): boolean {
  for (let i = 0; i < 16; i++) if (buf[off + i] !== 0) return false;
  return true;
}

/** Address text → the MACs bound to it (LoadedPoint.arp). */
export type Bindings = Map<string, Set<string>>;

/** Adds `mac` to the MACs of `ip`. */
export function bindMac(into: Bindings, ip: string, mac: string): void {
  let set = into.get(ip);
  if (!set) into.set(ip, (set = new Set()));
  set.add(mac);
}

/**
 * Adds the binding an NS or NA carries to `into`: the solicitation's source address and its
 * source link-layer option (not from a DAD probe, whose source is ::), or the advertisement's
 * target address and its target link-layer option (else its Ethernet source).
 */
export function neighbourBinding(p: Packet, into: Bindings): void {
  const L = p.net;
  if (L.l4 !== 'icmpv6' || L.ip.version !== 6 || L.ip.isFragment || L.icmp.ndTargetOff < 0 || L.ip.ttl !== NDP_HOP_LIMIT) return;
  const buf = p.buf;
  const lla = L.icmp.ndLinkAddrOff;
  if (L.icmp.type === 135) {
    if (unspecified(buf, L.ip.srcOff)) return;
    if (lla >= 0) bindMac(into, ipv6ToString(buf, L.ip.srcOff), macToString(buf, lla));
  } else {
    // An answer to a unicast probe (neighbour unreachability detection) may leave the option
    // out (RFC 4861 §7.2.4): the frame's own source is then the target's MAC.
    const mac = lla >= 0 ? lla : p.eth.present ? p.eth.srcOff : -1;
    if (mac >= 0) bindMac(into, ipv6ToString(buf, L.icmp.ndTargetOff), macToString(buf, mac));
  }
}
