/**
 * Property tests: the reference director never throws on any bytes (random frames, and valid
 * frames with random corruption), and for every well-formed client TCP segment it forwards, the
 * NAT and FullNAT outputs carry valid IPv4 and TCP checksums (own oracle in the harness).
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { director, fnatConf, fromClient, ipv4Valid, l4Valid, natConf } from './director-harness.js';

const flagsArb = fc.constantFrom('S', 'A', 'PA', 'FA', 'R', 'SA', 'RA');

describe('reference director robustness', () => {
  it('random bytes on either side never throw', () => {
    const d = director(natConf());
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 0, maxLength: 200 }), fc.boolean(), (bytes, side) => {
        expect(() => d.handle(Buffer.from(bytes), 0, side ? 'client' : 'rs')).not.toThrow();
      }),
      { numRuns: 2000 },
    );
  });

  it('valid frames with one corrupted byte never throw (every profile)', () => {
    for (const [conf, profile] of [
      [natConf(), 'linux'],
      [fnatConf(), 'alibaba'],
      [fnatConf(), 'dpvs'],
    ] as const) {
      const d = director(conf, profile);
      fc.assert(
        fc.property(flagsArb, fc.nat({ max: 200 }), fc.integer({ min: 0, max: 255 }), fc.uint8Array({ maxLength: 40 }), (flags, at, val, payload) => {
          const f = fromClient({ flags, payload: Buffer.from(payload), options: flags === 'S' ? [{ kind: 'mss', value: 1460 }, { kind: 'ts', val: 1, ecr: 0 }] : [] });
          f[at % f.length] = val;
          expect(() => d.handle(f, 0, 'client')).not.toThrow();
          expect(() => d.handle(f, 0, 'rs')).not.toThrow();
        }),
        { numRuns: 1500 },
      );
    }
  });

  it('forwarded segments of well-formed input always carry valid IPv4 and TCP checksums', () => {
    for (const [conf, profile] of [
      [natConf(), 'linux'],
      [fnatConf(), 'alibaba'],
      [fnatConf(), 'dpvs'],
    ] as const) {
      fc.assert(
        fc.property(fc.integer({ min: 1024, max: 65535 }), fc.nat(), fc.uint8Array({ maxLength: 300 }), fc.integer({ min: 2, max: 255 }), (sport, seq, payload, ttl) => {
          const d = director(conf, profile);
          const outs = [
            ...d.handle(fromClient({ flags: 'S', sport, seq, ttl, options: [{ kind: 'mss', value: 1460 }, { kind: 'sackPermitted' }, { kind: 'ts', val: seq, ecr: 0 }] }), 0, 'client'),
            ...d.handle(fromClient({ flags: 'PA', sport, seq: seq + 1, ack: 1, ttl, payload: Buffer.from(payload) }), 1, 'client'),
          ];
          expect(outs.length).toBe(2);
          for (const o of outs) {
            expect(o.side).toBe('rs');
            expect(ipv4Valid(o.frame)).toBe(true);
            expect(l4Valid(o.frame)).toBe(true);
          }
        }),
        { numRuns: 300 },
      );
    }
  });
});
