/**
 * correlate/lip-ports.ts: the local ports a FullNAT director holds per (LIP, RIP:rport), counted
 * from the LIP legs, and whether a client SYN found them all held. A small range stands in for
 * DPVS's 64 511 ports (the counting does not depend on the size; the real-DPVS run with the
 * whole range is test/lab/dpvs-faults.test.ts).
 *
 * Model-based: for any sequence of leg packets (SYN, SYN-ACK, ACK, FIN, RST, on random ports,
 * at random times) and client SYNs, the counter says "exhausted" at a client SYN exactly when a
 * direct count from the whole history says every port of the range was held then.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { blankRecord } from '../../src/verify/read/record.js';
import type { PacketRecord } from '../../src/verify/model/record.js';
import { DPVS_HOLD_NS, LipPortCounter, exhaustionHint, LIP_PORT_RANGES, type HoldTimes } from '../../src/verify/correlate/lip-ports.js';

const LIP = '10.0.1.1';
const RIP = '10.0.0.12';
const RPORT = 8080;
const VIP = '172.16.0.100';
const CLIENT = '172.16.0.2';
const RANGE = { low: 1025, high: 1028, what: 'test range 1025–1028' };
/** The property's range: two ports, so random histories fill it often. */
const SMALL = { low: 1025, high: 1026, what: 'test range 1025–1026' };
const HOLD: HoldTimes = { synSent: 3e9, synRecv: 30e9, established: 90e9 };

const SYN = 0x02;
const ACK = 0x10;
const FIN = 0x01;
const RST = 0x04;

function rec(t: number, src: string, dst: string, sport: number, dport: number, flags: number): PacketRecord {
  const r = blankRecord();
  r.t = t;
  r.ts = t;
  r.ip.src = src;
  r.ip.dst = dst;
  r.sport = sport;
  r.dport = dport;
  r.flags = flags;
  return r;
}

type Ev = { kind: 'syn' | 'synack' | 'ack' | 'fin' | 'rst' | 'rstFromRs'; port: number; dt: number } | { kind: 'client'; port: number; dt: number };

function record(e: Ev, t: number): { r: PacketRecord; atDirector: boolean } {
  switch (e.kind) {
    case 'syn':
      return { r: rec(t, LIP, RIP, e.port, RPORT, SYN), atDirector: true };
    case 'synack':
      return { r: rec(t, RIP, LIP, RPORT, e.port, SYN | ACK), atDirector: false };
    case 'ack':
      return { r: rec(t, LIP, RIP, e.port, RPORT, ACK), atDirector: false };
    case 'fin':
      return { r: rec(t, LIP, RIP, e.port, RPORT, FIN | ACK), atDirector: true };
    case 'rst':
      return { r: rec(t, LIP, RIP, e.port, RPORT, RST), atDirector: true };
    case 'rstFromRs':
      return { r: rec(t, RIP, LIP, RPORT, e.port, RST | ACK), atDirector: false };
    case 'client':
      return { r: rec(t, CLIENT, VIP, 30000 + e.port, 80, SYN), atDirector: true };
  }
}

/** The definition: ports whose last SYN is followed by no FIN/RST and no gap longer than the hold of the state reached, the last packet within that hold. */
function heldAt(history: ReadonlyArray<{ e: Ev; t: number }>, t: number): number {
  let n = 0;
  for (let port = SMALL.low; port <= SMALL.high; port++) {
    let open = false;
    let state = 0;
    let last = 0;
    for (const { e, t: at } of history) {
      if (at > t || e.port !== port || e.kind === 'client') continue;
      const hold = state === 2 ? HOLD.established : state === 1 ? HOLD.synRecv : HOLD.synSent;
      if (e.kind === 'syn') {
        open = true;
        state = 0;
        last = at;
      } else if (!open) continue;
      else if (e.kind === 'fin' || e.kind === 'rst' || e.kind === 'rstFromRs' || last + hold < at) open = false;
      else {
        last = Math.max(last, at);
        if (e.kind === 'synack') state = Math.max(state, 1);
        else if (e.kind === 'ack' && state === 1) state = 2;
      }
    }
    const hold = state === 2 ? HOLD.established : state === 1 ? HOLD.synRecv : HOLD.synSent;
    if (open && last + hold >= t) n++;
  }
  return n;
}

const event: fc.Arbitrary<Ev> = fc.record({
  kind: fc.constantFrom<Ev['kind']>('syn', 'syn', 'syn', 'syn', 'synack', 'synack', 'synack', 'ack', 'fin', 'rst', 'rstFromRs', 'client', 'client', 'client'),
  port: fc.integer({ min: SMALL.low, max: SMALL.high }),
  // Gaps up to 40 s: some legs outlive their state's hold, most do not. Never 0: the rule asks
  // by a SYN's time, and two client SYNs at one nanosecond are one answer.
  dt: fc.oneof({ arbitrary: fc.integer({ min: 1, max: 1e9 }), weight: 12 }, { arbitrary: fc.integer({ min: 1, max: 40e9 }), weight: 1 }),
});

describe('LipPortCounter', () => {
  it('finds the range exhausted at a client SYN exactly when a direct count of the history says every port was held', () => {
    const seen = { full: 0, free: 0 };
    fc.assert(
      fc.property(fc.array(event, { minLength: 10, maxLength: 60 }), (events) => {
        const counter = new LipPortCounter([LIP], VIP, 80, SMALL, HOLD);
        const history: Array<{ e: Ev; t: number }> = [];
        // Each client SYN with the history fed before it (records come in time order; ties in feed order).
        const clientSyns: Array<{ at: number; before: number }> = [];
        let t = 1e9;
        for (const e of events) {
          t += e.dt;
          const { r, atDirector } = record(e, t);
          counter.observe(r, atDirector);
          if (e.kind === 'client') clientSyns.push({ at: t, before: history.length });
          history.push({ e, t });
        }
        for (const { at, before } of clientSyns) {
          const full = heldAt(history.slice(0, before), at) >= SMALL.high - SMALL.low + 1;
          seen[full ? 'full' : 'free']++;
          const got = counter.exhaustedAt(at);
          expect(got.length > 0).toBe(full);
          if (full) expect(got[0]).toMatchObject({ lip: LIP, rip: RIP, rport: RPORT, held: SMALL.high - SMALL.low + 1 });
        }
        // Memory: never more legs than ports of the range.
        expect(counter.held).toBeLessThanOrEqual(SMALL.high - SMALL.low + 1);
      }),
      { numRuns: 1500 },
    );
    // Both answers were put to the test, many times.
    expect(Math.min(seen.full, seen.free)).toBeGreaterThan(500);
  });

  it('a SYN after every port was taken finds the pair full; one RST frees a port; a half-open leg is let go after its hold', () => {
    const c = new LipPortCounter([LIP], VIP, 80, RANGE, HOLD);
    let t = 1e9;
    for (let p = RANGE.low; p <= RANGE.high; p++) {
      c.observe(rec((t += 1e6), LIP, RIP, p, RPORT, SYN), true);
      c.observe(rec((t += 1e6), RIP, LIP, RPORT, p, SYN | ACK), false);
    }
    const full = (t += 1e6);
    c.observe(rec(full, CLIENT, VIP, 40000, 80, SYN), true);
    expect(c.exhaustedAt(full).map((x) => [x.lip, x.rip, x.rport, x.held])).toEqual([[LIP, RIP, RPORT, 4]]);
    // A retransmitted client SYN (same time stretch) is covered too; another LIP's traffic is not counted.
    c.observe(rec((t += 1e6), '10.0.1.2', RIP, 1025, RPORT, SYN), true);
    const again = (t += 1e6);
    c.observe(rec(again, CLIENT, VIP, 40000, 80, SYN), true);
    expect(c.exhaustedAt(again)).toHaveLength(1);
    c.observe(rec((t += 1e6), RIP, LIP, RPORT, 1026, RST), false);
    const freed = (t += 1e6);
    c.observe(rec(freed, CLIENT, VIP, 40001, 80, SYN), true);
    expect(c.exhaustedAt(freed)).toEqual([]);
    // The earlier SYN's finding stays explained after the port was freed.
    expect(c.exhaustedAt(full)).toHaveLength(1);
    // Taken again, then every half-open leg outlives the SYN_RECV hold.
    c.observe(rec((t += 1e6), LIP, RIP, 1026, RPORT, SYN), true);
    c.observe(rec((t += 1e6), RIP, LIP, RPORT, 1026, SYN | ACK), false);
    const refull = (t += 1e6);
    c.observe(rec(refull, CLIENT, VIP, 40002, 80, SYN), true);
    expect(c.exhaustedAt(refull)).toHaveLength(1);
    const late = t + HOLD.synRecv + 1e9;
    c.observe(rec(late, CLIENT, VIP, 40003, 80, SYN), true);
    expect(c.exhaustedAt(late)).toEqual([]);
  });

  it('with two LIPs, a real server counts as exhausted only when both LIPs are full toward it (the director tries the other LIP)', () => {
    const LIP2 = '10.0.1.2';
    const c = new LipPortCounter([LIP, LIP2], VIP, 80, RANGE, HOLD);
    let t = 1e9;
    const fill = (lip: string): void => {
      for (let p = RANGE.low; p <= RANGE.high; p++) c.observe(rec((t += 1e6), lip, RIP, p, RPORT, SYN), true);
    };
    fill(LIP);
    const one = (t += 1e6);
    c.observe(rec(one, CLIENT, VIP, 40000, 80, SYN), true);
    expect(c.exhaustedAt(one)).toEqual([]);
    fill(LIP2);
    const both = (t += 1e6);
    c.observe(rec(both, CLIENT, VIP, 40001, 80, SYN), true);
    expect(c.exhaustedAt(both).map((x) => x.lip).sort()).toEqual([LIP, LIP2]);
  });

  it('is made for profile dpvs (range 1025–65535, DPVS default timeouts) and for no profile whose range is a local setting', () => {
    const c = LipPortCounter.forService('dpvs', [LIP], VIP, 80);
    expect(c?.size).toBe(64511);
    expect(LIP_PORT_RANGES.dpvs).toMatchObject({ low: 1025, high: 65535 });
    expect(DPVS_HOLD_NS).toEqual({ synSent: 3e9, synRecv: 30e9, established: 90e9 });
    for (const p of ['alibaba', 'linux', 'linux-legacy'] as const) expect(LipPortCounter.forService(p, [LIP], VIP, 80)).toBeNull();
    expect(LipPortCounter.forService('dpvs', [], VIP, 80)).toBeNull();
  });

  it('the hint names the LIP, the real server, how many ports were held and the range', () => {
    const h = exhaustionHint([{ lip: LIP, rip: RIP, rport: RPORT, held: 64511, range: LIP_PORT_RANGES.dpvs! }]);
    expect(h).toContain(`${LIP} toward ${RIP}:${RPORT} (64511 held)`);
    expect(h).toContain('1025–65535');
    expect(h).toContain('--add-laddr');
  });
});
