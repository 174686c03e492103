/**
 * The FullNAT option reader (src/verify/engine/fnat-options.ts) against the packet builder's
 * independent option encoder, and fuzzed with arbitrary bytes (it reads capture data).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { findToa, hasTimestamp, listOptions, optionMss, sackEdges, toaText } from '../../src/verify/judge/fnat-options.js';
import type { PacketRecord } from '../../src/verify/model/record.js';
import { encodeTcpOptions, type TcpOption } from '../../src/replay/builder/index.js';

const rec = (opts: Uint8Array | null, flags = 0x10): PacketRecord => ({ tcpOpts: opts, flags }) as unknown as PacketRecord;

const arbOption: fc.Arbitrary<TcpOption> = fc.oneof(
  fc.constant<TcpOption>({ kind: 'nop' }),
  fc.integer({ min: 0, max: 65535 }).map<TcpOption>((value) => ({ kind: 'mss', value })),
  fc.integer({ min: 0, max: 14 }).map<TcpOption>((shift) => ({ kind: 'ws', shift })),
  fc.constant<TcpOption>({ kind: 'sackPermitted' }),
  fc.tuple(fc.nat(), fc.nat()).map<TcpOption>(([val, ecr]) => ({ kind: 'ts', val, ecr })),
  fc.array(fc.tuple(fc.nat(), fc.nat()), { minLength: 1, maxLength: 3 }).map<TcpOption>((blocks) => ({ kind: 'sack', blocks: blocks as [number, number][] })),
);

describe('FullNAT option reader', () => {
  it('never throws and stays inside the bytes on arbitrary input', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 60 }), fc.integer({ min: 0, max: 255 }), (b, flags) => {
        const opts = listOptions(b);
        opts.forEach((o, i) => {
          expect(o.off).toBeLessThan(b.length);
          if (o.broken) {
            // Only the last one, and only when its length byte is missing, below 2 or too long.
            expect(i).toBe(opts.length - 1);
            expect(o.len < 2 || o.off + o.len > b.length).toBe(true);
          } else {
            expect(o.off + o.len).toBeLessThanOrEqual(b.length);
            expect(o.len).toBeGreaterThanOrEqual(1);
          }
        });
        optionMss(b);
        sackEdges(b);
        hasTimestamp(b);
        const t = findToa(rec(b, flags), undefined, new Set([254]));
        if (t) toaText(t);
        findToa(rec(b, flags), b.subarray(0, b.length >> 1), new Set([254]));
      }),
    );
  });

  it('reads what the builder encodes: kinds in order, MSS, SACK edges, timestamp', () => {
    fc.assert(
      fc.property(fc.array(arbOption, { maxLength: 6 }), (list) => {
        const bytes = encodeTcpOptions(list, 'none');
        fc.pre(bytes.length <= 40);
        const kinds = listOptions(bytes).map((o) => o.kind);
        const want = list.map((o) => ({ nop: 1, mss: 2, ws: 3, sackPermitted: 4, sack: 5, ts: 8 })[o.kind as 'nop']);
        expect(kinds).toEqual(want);
        const mss = list.find((o) => o.kind === 'mss');
        expect(optionMss(bytes)).toBe(mss && mss.kind === 'mss' ? mss.value : -1);
        const edges = list.flatMap((o) => (o.kind === 'sack' ? o.blocks.flatMap(([l, r]) => [l >>> 0, r >>> 0]) : []));
        expect(sackEdges(bytes)).toEqual(edges);
        expect(hasTimestamp(bytes)).toBe(list.some((o) => o.kind === 'ts'));
      }),
    );
  });

  it('TOA: the inserted option is found against the client copy, any kind; first known kind otherwise', () => {
    const client = encodeTcpOptions([{ kind: 'nop' }, { kind: 'nop' }, { kind: 'sack', blocks: [[5, 9]] }], 'none');
    const jup = encodeTcpOptions([{ kind: 'toa', addr: '198.51.100.7', port: 40001, optKind: 200 }, { kind: 'nop' }, { kind: 'nop' }, { kind: 'sack', blocks: [[5, 9]] }], 'none');
    const t = findToa(rec(jup), client, new Set([254]));
    expect(t).toMatchObject({ kind: 200, len: 8, index: 0, port: 40001, addr: '198.51.100.7', family: 4 });
    const v6 = encodeTcpOptions([{ kind: 'mss', value: 1400 }, { kind: 'toa', addr: '2001:db8::7', port: 1234, optKind: 254 }], 'none');
    const t6 = findToa(rec(v6), undefined, new Set([254]));
    expect(t6).toMatchObject({ kind: 254, len: 20, index: 1, port: 1234, addr: '2001:db8::7', family: 6 });
    expect(toaText(t6!)).toBe('toa [2001:db8::7]:1234');
    // A client-supplied option the director forwarded unchanged is not the director's TOA.
    expect(findToa(rec(v6), v6, new Set([254]))).toBeNull();
    // TCP Fast Open in the experimental form (ExID F989) on a SYN is not TOA.
    const tfo = encodeTcpOptions([{ kind: 'exp', optKind: 254, exid: 0xf989, data: Buffer.from([1, 2, 3, 4]) }], 'none');
    expect(findToa(rec(tfo, 0x02), undefined, new Set([254]))).toBeNull();
  });
});
