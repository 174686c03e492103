/**
 * The word-at-a-time internetChecksum against a plain RFC 1071 byte-pair loop: random
 * bytes at random byte offsets inside their ArrayBuffer (alignment heads and tails, odd
 * starts), random offsets/lengths and initial sums, and buffers alternating so the cached
 * word view has to follow.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { internetChecksum } from '../../src/decode/checksum.js';

/** RFC 1071 reference: big-endian 16-bit pairs from `off`, odd byte padded, end-around carry. */
function reference(buf: Uint8Array, off: number, len: number, initial: number): number {
  let s = initial;
  for (let i = 0; i + 1 < len; i += 2) s += buf[off + i]! * 256 + buf[off + i + 1]!;
  if (len % 2 === 1) s += buf[off + len - 1]! * 256;
  while (s > 0xffff) s = (s % 0x10000) + Math.floor(s / 0x10000);
  return 0xffff - s;
}

/** `bytes` copied into a larger ArrayBuffer at byte offset `shift`, as Buffer or plain Uint8Array. */
function placed(bytes: Uint8Array, shift: number, asBuffer: boolean): Uint8Array {
  const ab = new ArrayBuffer(bytes.length + shift + 3);
  const v = asBuffer ? Buffer.from(ab, shift, bytes.length) : new Uint8Array(ab, shift, bytes.length);
  v.set(bytes);
  return v;
}

describe('internetChecksum (word sums)', () => {
  it('equals the byte-pair reference for any placement, range and initial sum', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 0, maxLength: 1600 }),
        fc.nat(7),
        fc.boolean(),
        fc.nat(),
        fc.nat(),
        fc.oneof(fc.constant(0), fc.nat(0x3ffff), fc.nat(0xffffffff)),
        (bytes, shift, asBuffer, a, b, initial) => {
          const buf = placed(bytes, shift, asBuffer);
          const off = bytes.length === 0 ? 0 : a % bytes.length;
          const len = bytes.length - off === 0 ? 0 : b % (bytes.length - off + 1);
          expect(internetChecksum(buf, off, len, initial)).toBe(reference(buf, off, len, initial));
        },
      ),
      { numRuns: 3000 },
    );
  });

  it('follows a change of buffer (and of ArrayBuffer) between calls', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.uint8Array({ minLength: 40, maxLength: 300 }), fc.nat(7)), { minLength: 2, maxLength: 6 }), (list) => {
        const bufs = list.map(([bytes, shift]) => placed(bytes, shift, true));
        // Subarrays of one chunk share its ArrayBuffer, like frames of one read.
        const shared = bufs.map((b) => b.subarray(1));
        for (let round = 0; round < 2; round++) {
          for (const b of [...bufs, ...shared]) {
            expect(internetChecksum(b, 0, b.length, 7)).toBe(reference(b, 0, b.length, 7));
            expect(internetChecksum(b, 3, b.length - 5, 0)).toBe(reference(b, 3, b.length - 5, 0));
          }
        }
      }),
      { numRuns: 300 },
    );
  });

  it('returns 0 over a segment that carries its own correct checksum', () => {
    const seg = Buffer.alloc(333, 0x5a);
    seg[16] = 0;
    seg[17] = 0;
    const c = reference(seg, 0, seg.length, 0x1234);
    seg[16] = c >> 8;
    seg[17] = c & 0xff;
    for (const shift of [0, 1, 2, 3]) expect(internetChecksum(placed(seg, shift, true), 0, seg.length, 0x1234)).toBe(0);
  });

  it('reads out-of-range bytes as zero like the byte loop did', () => {
    const b = Buffer.from([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33]);
    const padded = Buffer.concat([b, Buffer.alloc(40)]);
    expect(internetChecksum(b, 10, 60)).toBe(reference(padded, 10, 60, 0));
  });
});
