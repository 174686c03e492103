/**
 * 64-bit pcapng timestamps → (sec, nsec) without BigInt, checked against BigInt arithmetic
 * (an independent exact computation) for every decimal and binary resolution.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { tsToSecNsec, tsUnitText, type TsOut } from '../../src/decode/capture/timestamp.js';

function oracle(v: bigint, binary: boolean, exp: number): [number, number] {
  const unitsPerSec = binary ? 1n << BigInt(exp) : 10n ** BigInt(exp);
  const sec = v / unitsPerSec;
  const nsec = ((v % unitsPerSec) * 1_000_000_000n) / unitsPerSec;
  return [Number(sec), Number(nsec)];
}

const u64 = fc.bigInt({ min: 0n, max: (1n << 64n) - 1n });

describe('tsToSecNsec', () => {
  it('decimal resolutions 10^-0 .. 10^-19 match BigInt', () => {
    fc.assert(
      fc.property(u64, fc.integer({ min: 0, max: 19 }), (v, exp) => {
        const out: TsOut = { sec: 0, nsec: 0 };
        tsToSecNsec(Number(v >> 32n), Number(v & 0xffffffffn), { binary: false, exp }, out);
        expect([out.sec, out.nsec]).toEqual(oracle(v, false, exp));
      }),
      { numRuns: 3000 },
    );
  });

  it('binary resolutions 2^-0 .. 2^-32 match BigInt', () => {
    fc.assert(
      fc.property(u64, fc.integer({ min: 0, max: 32 }), (v, exp) => {
        const out: TsOut = { sec: 0, nsec: 0 };
        tsToSecNsec(Number(v >> 32n), Number(v & 0xffffffffn), { binary: true, exp }, out);
        expect([out.sec, out.nsec]).toEqual(oracle(v, true, exp));
      }),
      { numRuns: 3000 },
    );
  });

  it('present-day nanosecond and microsecond clocks', () => {
    const out: TsOut = { sec: 0, nsec: 0 };
    const ns = 1_764_166_418_123_456_789n;
    tsToSecNsec(Number(ns >> 32n), Number(ns & 0xffffffffn), { binary: false, exp: 9 }, out);
    expect(out).toEqual({ sec: 1_764_166_418, nsec: 123_456_789 });
    const us = 1_764_166_418_654_321n;
    tsToSecNsec(Number(us >> 32n), Number(us & 0xffffffffn), { binary: false, exp: 6 }, out);
    expect(out).toEqual({ sec: 1_764_166_418, nsec: 654_321_000 });
    expect(tsUnitText({ binary: true, exp: 10 })).toBe('2^-10');
    expect(tsUnitText({ binary: false, exp: 9 })).toBe('1e-9');
  });
});
