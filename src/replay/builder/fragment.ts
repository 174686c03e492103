/**
 * IPv4 fragmentation of a built packet, as a router or the sending host would do it (RFC 791):
 * 8-byte aligned data pieces, MF on all but the last, options with the copy bit repeated in
 * every fragment, header checksum recomputed. Used for reassembly fixtures.
 */
import { recomputeIpv4Checksum } from './checksum-fix.js';

export interface FragmentOptions {
  /** Offset of the IPv4 header in `packet` (bytes before it, e.g. Ethernet/VLAN, are copied to every fragment). Default 0. */
  ipOff?: number;
  /** Fragment even when DF is set (DF is kept as is). Default false: DF throws. */
  ignoreDf?: boolean;
}

/** Options whose copy bit (0x80) is set, re-padded to 4 bytes (RFC 791: others only in the first fragment). */
function copiedOptions(opts: Uint8Array): Buffer {
  const out: number[] = [];
  for (let i = 0; i < opts.length; ) {
    const kind = opts[i]!;
    if (kind === 0) break; // EOL
    if (kind === 1) {
      i++;
      continue;
    }
    const len = opts[i + 1] ?? 0;
    if (len < 2 || i + len > opts.length) break; // malformed: stop copying
    if (kind & 0x80) for (let k = 0; k < len; k++) out.push(opts[i + k]!);
    i += len;
  }
  while (out.length % 4) out.push(0);
  return Buffer.from(out);
}

/**
 * Splits the IPv4 packet at `opts.ipOff` so every fragment's IP packet fits `mtu` bytes.
 * Returns the packet itself (copied) when it already fits.
 */
export function fragmentIpv4(packet: Buffer, mtu: number, opts: FragmentOptions = {}): Buffer[] {
  const ipOff = opts.ipOff ?? 0;
  if (packet.length < ipOff + 20 || packet[ipOff]! >> 4 !== 4) throw new TypeError('fragmentIpv4: no IPv4 header at the given offset');
  const hl = (packet[ipOff]! & 15) * 4;
  const tot = packet.readUInt16BE(ipOff + 2);
  if (tot > packet.length - ipOff || tot < hl) throw new RangeError('fragmentIpv4: total length does not match the bytes');
  if (tot <= mtu) return [Buffer.from(packet)];
  const fragWord = packet.readUInt16BE(ipOff + 6);
  if (fragWord & 0x4000 && !opts.ignoreDf) throw new RangeError('fragmentIpv4: DF is set (pass ignoreDf to fragment anyway)');
  const prefix = packet.subarray(0, ipOff);
  const firstHdr = packet.subarray(ipOff, ipOff + hl);
  const laterOpts = copiedOptions(packet.subarray(ipOff + 20, ipOff + hl));
  const laterHdrLen = 20 + laterOpts.length;
  const data = packet.subarray(ipOff + hl, ipOff + tot);
  const baseOffset = (fragWord & 0x1fff) * 8;
  const origMf = (fragWord & 0x2000) !== 0;
  const out: Buffer[] = [];
  for (let pos = 0; pos < data.length; ) {
    const first = pos === 0;
    const hdrLen = first ? hl : laterHdrLen;
    const room = Math.floor((mtu - hdrLen) / 8) * 8;
    if (room <= 0) throw new RangeError(`fragmentIpv4: mtu ${mtu} too small for a ${hdrLen}-byte header`);
    const take = Math.min(room, data.length - pos);
    const last = pos + take >= data.length;
    const hdr = Buffer.alloc(hdrLen);
    firstHdr.copy(hdr, 0, 0, 20);
    if (first) firstHdr.copy(hdr, 20, 20, hl);
    else laterOpts.copy(hdr, 20);
    hdr[0] = 0x40 | (hdrLen / 4);
    hdr.writeUInt16BE(hdrLen + take, 2);
    const mf = !last || origMf;
    hdr.writeUInt16BE((fragWord & 0x4000) | (mf ? 0x2000 : 0) | ((baseOffset + pos) / 8), 6);
    const frag = Buffer.concat([prefix, hdr, data.subarray(pos, pos + take)]);
    recomputeIpv4Checksum(frag, ipOff);
    out.push(frag);
    pos += take;
  }
  return out;
}

export interface Fragment6Options {
  /** Offset of the IPv6 header in `packet` (bytes before it are copied to every fragment). Default 0. */
  ipOff?: number;
  /** Fragment header identification. Default 1. */
  id?: number;
}

/**
 * Splits the IPv6 packet at `opts.ipOff` into fragments whose IPv6 packets fit `mtu` bytes
 * (RFC 8200 §4.5): the unfragmentable part (IPv6 header, hop-by-hop, routing and destination
 * options before routing) is repeated, a fragment header is inserted after it, and the rest is
 * cut in 8-byte aligned pieces. Returns the packet itself (copied) when it already fits.
 */
export function fragmentIpv6(packet: Buffer, mtu: number, opts: Fragment6Options = {}): Buffer[] {
  const ipOff = opts.ipOff ?? 0;
  if (packet.length < ipOff + 40 || packet[ipOff]! >> 4 !== 6) throw new TypeError('fragmentIpv6: no IPv6 header at the given offset');
  const end = ipOff + 40 + packet.readUInt16BE(ipOff + 4);
  if (end > packet.length) throw new RangeError('fragmentIpv6: payload length does not match the bytes');
  if (end - ipOff <= mtu) return [Buffer.from(packet)];
  // Find the end of the unfragmentable part and the byte holding the next-header value to replace.
  let nextAt = ipOff + 6;
  let unfragEnd = ipOff + 40;
  let nh = packet[nextAt]!;
  let off = ipOff + 40;
  while (nh === 0 || nh === 43 || nh === 60) {
    if (off + 8 > end) break;
    const len = (packet[off + 1]! + 1) * 8;
    const following = packet[off]!;
    // A destination options header belongs to the unfragmentable part only before a routing header.
    if (nh === 60 && following !== 43) break;
    nextAt = off;
    off += len;
    unfragEnd = off;
    nh = following;
  }
  const firstNext = packet[nextAt]!;
  const unfrag = Buffer.from(packet.subarray(ipOff, unfragEnd));
  unfrag[nextAt - ipOff] = 44;
  const data = packet.subarray(unfragEnd, end);
  const room = Math.floor((mtu - unfrag.length - 8) / 8) * 8;
  if (room <= 0) throw new RangeError(`fragmentIpv6: mtu ${mtu} too small`);
  const prefix = packet.subarray(0, ipOff);
  const out: Buffer[] = [];
  for (let pos = 0; pos < data.length; pos += room) {
    const take = Math.min(room, data.length - pos);
    const fh = Buffer.alloc(8);
    fh[0] = firstNext;
    fh.writeUInt16BE(((pos / 8) << 3) | (pos + take < data.length ? 1 : 0), 2);
    fh.writeUInt32BE((opts.id ?? 1) >>> 0, 4);
    const ip = Buffer.concat([unfrag, fh, data.subarray(pos, pos + take)]);
    ip.writeUInt16BE(ip.length - 40, 4);
    out.push(Buffer.concat([prefix, ip]));
  }
  return out;
}
