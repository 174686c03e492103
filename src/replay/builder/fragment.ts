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
