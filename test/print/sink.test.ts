/** ByteSink primitives against JavaScript's own formatting (independent oracle). */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ByteSink } from '../../src/decode/print/sink.js';

describe('ByteSink', () => {
  it('uint/int print like String()', () => {
    fc.assert(
      fc.property(fc.oneof(fc.nat(), fc.integer({ min: 0, max: 0xffffffff }), fc.maxSafeNat(), fc.integer()), (n) => {
        const o = new ByteSink();
        if (n >= 0) o.uint(n);
        else o.int(n);
        expect(o.take()).toBe(String(n));
      }),
      { numRuns: 2000 },
    );
  });

  it('nano9 pads to nine digits, ip4 and hexColon match the usual text', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 999_999_999 }), fc.integer({ min: 0, max: 0xffffffff }), fc.uint8Array({ minLength: 6, maxLength: 6 }), (ns, a, mac) => {
        const o = new ByteSink();
        o.nano9(ns);
        o.byte(32);
        o.ip4(a);
        o.byte(32);
        o.hexColon(mac, 0, 6);
        const want = [String(ns).padStart(9, '0'), [a >>> 24, (a >>> 16) & 255, (a >>> 8) & 255, a & 255].join('.'), [...mac].map((b) => b.toString(16).padStart(2, '0')).join(':')];
        expect(o.take()).toBe(want.join(' '));
      }),
    );
  });

  it('jsonString round-trips through JSON.parse, and flushes full buffers to the consumer', () => {
    fc.assert(
      fc.property(fc.string(), (s) => {
        const o = new ByteSink();
        o.jsonString(s);
        expect(JSON.parse(o.take())).toBe(s);
      }),
    );
    const chunks: Buffer[] = [];
    const o = new ByteSink((b) => chunks.push(Buffer.from(b)), 64);
    for (let i = 0; i < 100; i++) {
      o.reserve(16);
      o.ascii('0123456789');
    }
    o.flush();
    expect(Buffer.concat(chunks).toString()).toBe('0123456789'.repeat(100));
  });
});
