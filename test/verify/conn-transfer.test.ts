/**
 * A helper thread's judged connection summaries survive the packed trip to the main thread
 * (verify/parallel/conn-transfer.ts) exactly: every field, null and absent values, -Infinity times, the
 * packet references. Property test; toStrictEqual also fails when Connection gains a field the
 * packing does not carry.
 */
import { serialize } from 'node:v8';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { newConnection } from '../../src/verify/correlate/connections.js';
import type { Connection } from '../../src/verify/model/connection.js';
import { packConnections, unpackConnections } from '../../src/verify/parallel/conn-transfer.js';
import type { PacketRef } from '../../src/verify/model/record.js';

const ref: fc.Arbitrary<PacketRef | null> = fc.option(
  fc.record({
    point: fc.nat({ max: 8 }),
    capture: fc.constantFrom('c.pcap', 'd-eth0.pcap', '/tmp/x/rs1.pcapng', ''),
    frame: fc.nat({ max: 2 ** 32 }),
    role: fc.constantFrom(null, 'C' as const, 'Di' as const, 'De' as const, 'R' as const),
  }).map((r) => ({ ...r })), // fc.record's objects have no prototype; refOf's have Object's
);
const time = fc.oneof(fc.double({ noNaN: true }), fc.constant(-Infinity), fc.integer({ min: 0, max: 2 ** 53 - 1 }));

const fields = {
    client: fc.constantFrom('198.51.100.7', '2001:db8::1', '10.0.0.11'),
    cport: fc.nat({ max: 65535 }),
    isn: fc.option(fc.nat({ max: 2 ** 32 - 1 })),
    backend: fc.option(fc.constantFrom('10.0.0.11', '10.0.0.12', '2001:db8::b')),
    backendFrom: fc.constantFrom(null, 'director' as const, 'rs' as const),
    synT: fc.option(time),
    synAtDirector: ref,
    synRecord: ref,
    fwdSynRecord: ref,
    scheduled: fc.boolean(),
    lastT: time,
    closed: fc.boolean(),
    finC2s: fc.boolean(),
    finS2c: fc.boolean(),
    segments: fc.nat({ max: 1000 }),
};
const connection: fc.Arbitrary<Connection> = fc.record(fields).map((f) => Object.assign(newConnection(f.client, f.cport, f.isn), f));

describe('connection summaries packed for a helper thread', () => {
  it('unpack(pack(x)) is x, field for field', () => {
    fc.assert(
      fc.property(fc.array(connection, { maxLength: 30 }), (all) => {
        const packed = packConnections(all);
        // What postMessage does to it (the buffer is moved; a copy here).
        const back = unpackConnections(structuredClone(packed));
        expect(back).toStrictEqual(all);
      }),
      { numRuns: 300 },
    );
  });

  it('the test varies every field a summary has (a new Connection field must be carried and tested)', () => {
    // Emptied once judged (records, traces; part: null, only parts of an open one need it):
    // they do not travel.
    const judged = new Set(['records', 'traces', 'part']);
    expect(Object.keys(newConnection('', 0, null)).filter((k) => !judged.has(k))).toEqual(Object.keys(fields));
  });

  it('refuses a connection that still holds packets (only judged summaries travel)', () => {
    const c = newConnection('198.51.100.7', 40000, 1);
    c.traces.push({ c2s: true, key: 1, list: [], path: null, pathStore: null, t0: 0, segmented: false, pieces: null, C: undefined, Di: undefined, De: undefined, R: undefined });
    expect(() => packConnections([c])).toThrow(/not judged/);
  });

  it('is smaller than the structured clone of the objects', () => {
    const all = fc.sample(connection, { numRuns: 2000, seed: 7 });
    const packed = packConnections(all);
    expect(serialize(packed).length).toBeLessThan(serialize(all).length / 2);
  });
});
