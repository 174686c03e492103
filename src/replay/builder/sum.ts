/**
 * RFC 1071 Internet checksum for the packet builder.
 *
 * TEMPORARY: `src/decode/checksum.ts` (decoder side) provides the same function with the same
 * signature; once it lands, this file becomes a re-export of it so the project has one summing
 * routine. Every builder file imports the sum from here only, so that swap is a one-line change.
 */

/**
 * Returns the checksum to store: the ones' complement of the ones'-complement sum of the 16-bit
 * big-endian words in `buf[off, off+len)` (an odd trailing byte is padded with zero), plus
 * `initial`, a partial sum such as a pseudo-header's (any non-negative integer; it is folded).
 * Over a region that already holds a correct checksum the result is 0.
 */
export function internetChecksum(buf: Uint8Array, off: number, len: number, initial = 0): number {
  let sum = initial;
  const end = off + len;
  let i = off;
  // Plain word loop: packets are small and this keeps it obviously correct.
  for (; i + 1 < end; i += 2) {
    sum += (buf[i]! << 8) | buf[i + 1]!;
    // Fold early now and then so the number stays a small integer.
    if (sum > 0x7fffffff) sum = (sum & 0xffff) + (sum >>> 16);
  }
  if (i < end) sum += buf[i]! << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + Math.floor(sum / 0x10000);
  return ~sum & 0xffff;
}
