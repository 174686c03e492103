/**
 * In-place checksum repair over existing packet bytes: what the reference director does after it
 * rewrites addresses, ports or options (lvs-behavior.md §1.3, §2.3: "checksum fully recomputed").
 * Offsets are absolute in `buf`; lengths come from the IP header, bounded by the buffer.
 */
import { internetChecksum, pseudoHeaderSum4, pseudoHeaderSum6 } from '../../decode/checksum.js';

/** Recomputes the IPv4 header checksum at `ipOff`. Returns false when there is no whole IPv4 header. */
export function recomputeIpv4Checksum(buf: Uint8Array, ipOff: number): boolean {
  if (ipOff + 20 > buf.length || buf[ipOff]! >> 4 !== 4) return false;
  const hl = (buf[ipOff]! & 15) * 4;
  if (hl < 20 || ipOff + hl > buf.length) return false;
  buf[ipOff + 10] = 0;
  buf[ipOff + 11] = 0;
  const c = internetChecksum(buf, ipOff, hl);
  buf[ipOff + 10] = c >> 8;
  buf[ipOff + 11] = c & 255;
  return true;
}

/** Where the transport header of the IP packet at `ipOff` is, or null when it cannot be checksummed
 *  here (not IP, cut, or a fragment that does not hold the whole segment). */
export interface L4Location {
  version: 4 | 6;
  proto: number;
  off: number;
  len: number;
}

const IPV6_EXT = new Set([0, 43, 60]);

export function locateL4(buf: Uint8Array, ipOff: number): L4Location | null {
  if (ipOff >= buf.length) return null;
  const v = buf[ipOff]! >> 4;
  if (v === 4) {
    if (ipOff + 20 > buf.length) return null;
    const hl = (buf[ipOff]! & 15) * 4;
    const tot = (buf[ipOff + 2]! << 8) | buf[ipOff + 3]!;
    const frag = ((buf[ipOff + 6]! << 8) | buf[ipOff + 7]!) & 0x3fff; // MF + offset
    if (hl < 20 || tot < hl || frag !== 0 || ipOff + tot > buf.length) return null;
    return { version: 4, proto: buf[ipOff + 9]!, off: ipOff + hl, len: tot - hl };
  }
  if (v === 6) {
    if (ipOff + 40 > buf.length) return null;
    const end = ipOff + 40 + ((buf[ipOff + 4]! << 8) | buf[ipOff + 5]!);
    if (end > buf.length) return null;
    let next = buf[ipOff + 6]!;
    let off = ipOff + 40;
    for (;;) {
      if (IPV6_EXT.has(next)) {
        if (off + 8 > end) return null;
        const n = buf[off]!;
        off += (buf[off + 1]! + 1) * 8;
        next = n;
      } else if (next === 44) {
        if (off + 8 > end) return null;
        // Only an "atomic" fragment (offset 0, no MF) carries the whole segment.
        if ((((buf[off + 2]! << 8) | buf[off + 3]!) & 0xfff9) !== 0) return null;
        next = buf[off]!;
        off += 8;
      } else break;
    }
    if (off > end) return null;
    return { version: 6, proto: next, off, len: end - off };
  }
  return null;
}

function pseudoSum(buf: Uint8Array, ipOff: number, loc: L4Location): number {
  // Source and destination as they are in the header. (With an IPv6 routing header that still has
  // segments left the real pseudo-header uses the final destination; fixtures don't do that.)
  return loc.version === 4
    ? pseudoHeaderSum4(buf, ipOff + 12, ipOff + 16, loc.proto, loc.len)
    : pseudoHeaderSum6(buf, ipOff + 8, ipOff + 24, loc.proto, loc.len);
}

export interface L4FixOptions {
  /** Leave a zero UDP-over-IPv4 checksum at zero ("no checksum", as IPVS does). Default true. */
  keepZeroUdp?: boolean;
}

/**
 * Recomputes the TCP, UDP, ICMP or ICMPv6 checksum of the IP packet at `ipOff` (IPv4 or IPv6,
 * pseudo-header included where the protocol has one). Returns the protocol fixed, or null when
 * nothing was done (other protocol, fragment, cut packet).
 */
export function recomputeL4Checksum(buf: Uint8Array, ipOff: number, opts: L4FixOptions = {}): 'tcp' | 'udp' | 'icmp' | 'icmpv6' | null {
  const loc = locateL4(buf, ipOff);
  if (!loc) return null;
  let field: number;
  let name: 'tcp' | 'udp' | 'icmp' | 'icmpv6';
  if (loc.proto === 6) {
    field = 16;
    name = 'tcp';
    if (loc.len < 20) return null;
  } else if (loc.proto === 17) {
    field = 6;
    name = 'udp';
    if (loc.len < 8) return null;
    if (loc.version === 4 && (opts.keepZeroUdp ?? true) && buf[loc.off + 6] === 0 && buf[loc.off + 7] === 0) return 'udp';
  } else if (loc.proto === 1 && loc.version === 4) {
    field = 2;
    name = 'icmp';
    if (loc.len < 4) return null;
  } else if (loc.proto === 58) {
    field = 2;
    name = 'icmpv6';
    if (loc.len < 4) return null;
  } else return null;
  const at = loc.off + field;
  buf[at] = 0;
  buf[at + 1] = 0;
  let c = internetChecksum(buf, loc.off, loc.len, name === 'icmp' ? 0 : pseudoSum(buf, ipOff, loc));
  if (name === 'udp' && c === 0) c = 0xffff;
  buf[at] = c >> 8;
  buf[at + 1] = c & 255;
  return name;
}

/** Both of the above for the IP packet at `ipOff` (the IPv4 header one only for IPv4). */
export function recomputeChecksums(buf: Uint8Array, ipOff: number, opts: L4FixOptions = {}): void {
  recomputeIpv4Checksum(buf, ipOff);
  recomputeL4Checksum(buf, ipOff, opts);
}

/**
 * RFC 1624 incremental update (HC' = ~(~HC + ~m + m')) of the 16-bit checksum at `csumOff` after
 * the field `oldBytes` was replaced by `newBytes` (same even length). This is how IPVS NAT-rewrites
 * addresses and ports (`csum_replace4/2`, `inet_proto_csum_replace*`): a checksum that was wrong
 * before stays wrong by the same amount, unlike a full recompute, which would hide it.
 */
export function updateChecksumIncremental(buf: Uint8Array, csumOff: number, oldBytes: Uint8Array, newBytes: Uint8Array): void {
  if (oldBytes.length !== newBytes.length || oldBytes.length % 2 !== 0) throw new RangeError('incremental checksum update needs fields of the same even length');
  let sum = ~((buf[csumOff]! << 8) | buf[csumOff + 1]!) & 0xffff;
  for (let i = 0; i < oldBytes.length; i += 2) {
    sum += ~((oldBytes[i]! << 8) | oldBytes[i + 1]!) & 0xffff;
    sum += (newBytes[i]! << 8) | newBytes[i + 1]!;
  }
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  const c = ~sum & 0xffff;
  buf[csumOff] = c >> 8;
  buf[csumOff + 1] = c & 255;
}
