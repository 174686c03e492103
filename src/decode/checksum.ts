/**
 * RFC 1071 Internet checksum. A verified header or segment sums to 0xffff, so
 * `internetChecksum` over it (checksum field included) returns 0.
 *
 * Speed (checksums run over every payload byte of every packet): `internetChecksum` sums
 * 32-bit words through a Uint32Array view of the buffer's backing ArrayBuffer instead of
 * reading bytes one by one. That is allowed because the one's-complement sum is byte-order
 * independent (RFC 1071 §2(B)): summing words in the host's order gives the byte-swapped
 * sum, and a 32-bit word folds to the sum of its two 16-bit halves (2^16 ≡ 1 mod 0xffff).
 * Which byte of a 16-bit pair is "high" depends on the parity of its absolute position, so
 * an odd start just flips whether the folded result must be swapped back (§2(B) again).
 * Word reads cost an alignment head and tail, so short inputs (below WORD_SUM_MIN) keep the
 * plain byte loop; `npm run bench` (decode --summary) is where the difference shows.
 */

/** Unfolded one's-complement sum of `len` bytes at `off`, added to `initial`. An odd
 *  trailing byte is padded with a zero byte, as RFC 1071 says. The exact (unfolded) value
 *  is part of the contract: callers add such sums together before folding. */
export function sum16(buf: Uint8Array, off: number, len: number, initial = 0): number {
  let sum = initial;
  let i = off;
  const stop = off + (len & ~1);
  // Unrolled by 8 bytes: fewer loop-condition checks per byte.
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

/** Below this many bytes the byte loop is faster than aligning for word reads. */
const WORD_SUM_MIN = 32;

/** Parity of the absolute byte position that is the high byte of a 16-bit pair when words
 *  are read in host order: odd on little-endian hosts, even on big-endian ones. */
const HOST_HIGH_PARITY = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1 ? 1 : 0;

// Word view cached per buffer: a capture reader hands out one chunk Buffer for thousands of
// frames, so the view is made once per chunk. A different Buffer over the same ArrayBuffer
// (a subarray) reuses the view too.
let viewBuf: Uint8Array | null = null;
let viewAb: ArrayBufferLike | null = null;
let words: Uint32Array = new Uint32Array(0);
let viewBase = 0;

/** Sum of `len` bytes at `off` (len ≥ 1) folded to 16 bits, each byte weighted by the
 *  parity of its absolute position (host-order word convention); `base` = buf.byteOffset. */
function wordSum(buf: Uint8Array, base: number, off: number, len: number): number {
  const end = off + len;
  let i = off;
  let s = 0;
  // Head: single bytes until the absolute position is a multiple of 4.
  while (i < end && ((base + i) & 3) !== 0) {
    s += ((base + i) & 1) === HOST_HIGH_PARITY ? buf[i]! << 8 : buf[i]!;
    i++;
  }
  if (i < end) {
    const w32 = words;
    let w = (base + i) >>> 2;
    const we = (base + end) >>> 2;
    // A double holds 2^53 / 2^32 words without loss: no per-word carry handling.
    while (w + 4 <= we) {
      s += w32[w]! + w32[w + 1]! + w32[w + 2]! + w32[w + 3]!;
      w += 4;
    }
    while (w < we) s += w32[w++]!;
    i = (w << 2) - base;
    // Tail: the last 0..3 bytes.
    while (i < end) {
      s += ((base + i) & 1) === HOST_HIGH_PARITY ? buf[i]! << 8 : buf[i]!;
      i++;
    }
  }
  return fold16(s);
}

/** The Internet checksum of `len` bytes at `off` (one's complement of the folded sum).
 *  `initial` is an unfolded partial sum, e.g. from a pseudo-header helper. Returns 0 when
 *  the bytes include a correct checksum field. */
export function internetChecksum(buf: Uint8Array, off: number, len: number, initial = 0): number {
  if (len < WORD_SUM_MIN || off < 0 || off + len > buf.length) return ~fold16(sum16(buf, off, len, initial)) & 0xffff;
  if (buf !== viewBuf) {
    const ab = buf.buffer;
    if (ab !== viewAb) {
      viewAb = ab;
      words = new Uint32Array(ab, 0, ab.byteLength >>> 2);
    }
    viewBuf = buf;
    viewBase = buf.byteOffset;
  }
  let s = wordSum(buf, viewBase, off, len);
  // The pairing above is by absolute position; RFC order pairs from `off`. When the start's
  // parity makes `off` a low byte in host order, the folded sum is the byte-swapped one.
  if (((viewBase + off) & 1) !== HOST_HIGH_PARITY) s = ((s & 0xff) << 8) | (s >>> 8);
  return ~fold16(s + initial) & 0xffff;
}

/** Sum of the IPv4 pseudo-header (RFC 793 §3.1 / RFC 768): src, dst, zero+protocol, length. */
export function pseudoHeaderSum4(buf: Uint8Array, srcOff: number, dstOff: number, proto: number, l4Len: number): number {
  // Same value as sum16 over the two 4-byte addresses, without two calls and loops per packet.
  const s = srcOff;
  const d = dstOff;
  return ((buf[s]! << 8) | buf[s + 1]!) + ((buf[s + 2]! << 8) | buf[s + 3]!) +
    ((buf[d]! << 8) | buf[d + 1]!) + ((buf[d + 2]! << 8) | buf[d + 3]!) +
    proto + (l4Len & 0xffff) + Math.floor(l4Len / 0x10000);
}

/** Sum of the IPv6 pseudo-header (RFC 8200 §8.1): src, final dst, 32-bit length, next header. */
export function pseudoHeaderSum6(buf: Uint8Array, srcOff: number, dstOff: number, nextHeader: number, l4Len: number): number {
  return sum16(buf, srcOff, 16) + sum16(buf, dstOff, 16) + nextHeader + (l4Len & 0xffff) + Math.floor(l4Len / 0x10000);
}
