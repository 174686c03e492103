/** litw (constant fragments compiled to stores) against Buffer's own ASCII encoding. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ByteSink, litw } from '../../src/decode/print/sink.js';

describe('litw', () => {
  it('stores exactly the ASCII bytes of the text at p and returns p + length', () => {
    fc.assert(
      fc.property(fc.string({ unit: fc.integer({ min: 0, max: 0x7f }).map((c) => String.fromCharCode(c)), maxLength: 40 }), fc.nat(16), (s, p) => {
        const b = new Uint8Array(p + s.length + 4).fill(0xee);
        expect(litw(s)(b, p)).toBe(p + s.length);
        expect(Buffer.from(b.subarray(p, p + s.length)).toString('latin1')).toBe(s);
        expect([...b.subarray(0, p), ...b.subarray(p + s.length)].every((x) => x === 0xee)).toBe(true);
      }),
      { numRuns: 500 },
    );
  });

  it('refuses non-ASCII text, and quotes/backslashes/newlines come out verbatim', () => {
    expect(() => litw('é')).toThrow(/non-ASCII/);
    const o = new ByteSink();
    o.pos = litw('"a\\b\n\'`${x}')(o.buf, o.pos);
    o.bool(true);
    o.bool(null);
    expect(o.take()).toBe('"a\\b\n\'`${x}truenull');
  });
});
