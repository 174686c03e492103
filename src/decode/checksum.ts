/**
 * RFC 1071 Internet checksum. The hot loop sums 16-bit big-endian words into a plain
 * number (no overflow concern: 2^53 / 2^16 words is far beyond any packet) and folds once
 * at the end. A verified header or segment sums to 0xffff, so `internetChecksum` over it
 * (checksum field included) returns 0.
 */

/** Unfolded one's-complement sum of `len` bytes at `off`, added to `initial`. An odd
 *  trailing byte is padded with a zero byte, as RFC 1071 says. */
export function sum16(buf: Uint8Array, off: number, len: number, initial = 0): number {
  let sum = initial;
  let i = off;
  const stop = off + (len & ~1);
  // Unrolled by 8 bytes: this loop runs over every payload byte when checksums are on.
  const stop8 = off + (len & ~7);
  while (i < stop8) {
    sum += ((buf[i]! << 8) | buf[i + 1]!) + ((buf[i + 2]! << 8) | buf[i + 3]!) +
      ((buf[i + 4]! << 8) | buf[i + 5]!) + ((buf[i + 6]! << 8) | buf[i + 7]!);
    i += 8;
  }
  while (i < stop) {
    sum += (buf[i]! << 8) | buf[i + 1]!;
    i += 2;
  }
  if (len & 1) sum += buf[off + len - 1]! << 8;
  return sum;
}

/** Folds a running sum to 16 bits (end-around carry). */
export function fold16(sum: number): number {
  let s = sum;
  while (s > 0xffff) s = (s & 0xffff) + Math.floor(s / 0x10000);
  return s;
}

/** The Internet checksum of `len` bytes at `off` (one's complement of the folded sum).
 *  `initial` is an unfolded partial sum, e.g. from a pseudo-header helper. Returns 0 when
 *  the bytes include a correct checksum field. */
export function internetChecksum(buf: Uint8Array, off: number, len: number, initial = 0): number {
  return ~fold16(sum16(buf, off, len, initial)) & 0xffff;
}

/** Sum of the IPv4 pseudo-header (RFC 793 §3.1 / RFC 768): src, dst, zero+protocol, length. */
export function pseudoHeaderSum4(buf: Uint8Array, srcOff: number, dstOff: number, proto: number, l4Len: number): number {
  return sum16(buf, srcOff, 4) + sum16(buf, dstOff, 4) + proto + (l4Len & 0xffff) + Math.floor(l4Len / 0x10000);
}

/** Sum of the IPv6 pseudo-header (RFC 8200 §8.1): src, final dst, 32-bit length, next header. */
export function pseudoHeaderSum6(buf: Uint8Array, srcOff: number, dstOff: number, nextHeader: number, l4Len: number): number {
  return sum16(buf, srcOff, 16) + sum16(buf, dstOff, 16) + nextHeader + (l4Len & 0xffff) + Math.floor(l4Len / 0x10000);
}
