/**
 * Byte-level TCP option rewrites a FullNAT director performs, for the reference director and for
 * fixtures of its faults:
 *  - TOA insertion right after the 20-byte base header, shifting options and payload down,
 *    `doff += len/4`, IPv4 `tot_len` / IPv6 `payload_len` grown, checksums recomputed
 *    (lvs-behavior.md §2.3 `tcp_opt_add_toa`, §3.1 `tcp_in_add_toa`);
 *  - an option overwritten with NOPs (DPVS `tcp_in_remove_ts`: the SYN's timestamp → 10 NOPs, §3.1).
 */
import type { TcpOption } from './types.js';
import { encodeTcpOption } from './tcp-options.js';
import { locateL4, recomputeIpv4Checksum, recomputeL4Checksum } from './checksum-fix.js';
import { tcpOptionLength, TcpOpt } from '../../decode/proto/tcp-options.js';

export type InsertResult =
  | { ok: true; packet: Buffer }
  /** 'no-room': the options would exceed 40 bytes (Alibaba's FULLNAT_ADD_TOA_HEAD_FULL case);
   *  'not-tcp': no whole, unfragmented TCP segment at `ipOff`. */
  | { ok: false; reason: 'no-room' | 'not-tcp' };

/**
 * Inserts `option` (a spec or its raw bytes; length a multiple of 4) into the TCP header of the IP
 * packet at `ipOff`, at byte `at` of the option space (default 0: right after the base header).
 * Returns a new buffer; bytes before `ipOff` (link header) are kept as they are.
 */
export function insertTcpOption(packet: Buffer, ipOff: number, option: TcpOption | Buffer, at = 0): InsertResult {
  const opt = Buffer.isBuffer(option) ? option : encodeTcpOption(option);
  if (opt.length % 4 !== 0) throw new RangeError(`insertTcpOption: option length ${opt.length} is not a multiple of 4`);
  const loc = locateL4(packet, ipOff);
  if (!loc || loc.proto !== 6 || loc.len < 20) return { ok: false, reason: 'not-tcp' };
  const doff = packet[loc.off + 12]! >> 4;
  const hl = doff * 4;
  if (hl < 20 || hl > loc.len) return { ok: false, reason: 'not-tcp' };
  if (hl + opt.length > 60) return { ok: false, reason: 'no-room' };
  if (at < 0 || at > hl - 20) throw new RangeError(`insertTcpOption: position ${at} outside the ${hl - 20}-byte option space`);
  const cut = loc.off + 20 + at;
  const end = loc.off + loc.len;
  const out = Buffer.concat([packet.subarray(0, cut), opt, packet.subarray(cut, end), packet.subarray(end)]);
  out[loc.off + 12] = ((doff + opt.length / 4) << 4) | (out[loc.off + 12]! & 0x0f);
  if (loc.version === 4) {
    out.writeUInt16BE(out.readUInt16BE(ipOff + 2) + opt.length, ipOff + 2);
    recomputeIpv4Checksum(out, ipOff);
  } else {
    out.writeUInt16BE(out.readUInt16BE(ipOff + 4) + opt.length, ipOff + 4);
  }
  recomputeL4Checksum(out, ipOff);
  return { ok: true, packet: out };
}

/**
 * Overwrites every TCP option of kind `kind` with NOPs, in place, and fixes the TCP checksum.
 * Returns how many options were blanked (0 when none, or no TCP segment at `ipOff`).
 */
export function nopTcpOption(packet: Buffer, ipOff: number, kind: number): number {
  const loc = locateL4(packet, ipOff);
  if (!loc || loc.proto !== 6 || loc.len < 20) return 0;
  const hl = (packet[loc.off + 12]! >> 4) * 4;
  const end = loc.off + Math.min(hl, loc.len);
  let n = 0;
  for (let i = loc.off + 20; i < end && packet[i] !== TcpOpt.EOL; ) {
    const len = tcpOptionLength(packet, i, end);
    if (len < 0) break;
    if (packet[i] === kind) {
      packet.fill(1, i, i + len);
      n++;
    }
    i += len;
  }
  if (n > 0) recomputeL4Checksum(packet, ipOff);
  return n;
}
