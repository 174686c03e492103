/**
 * The watcher engine on its own (no capture, no CLI): the conflict definition as a pure function,
 * the station table's bound, and the detector's events for hand-made claim sequences, with
 * property tests where the statement is general.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseIpv4 } from '../../src/decode/addr.js';
import { parseMacNum } from '../../src/verify/arp/mac.js';
import { newArpRecord, type ArpRecord } from '../../src/verify/arp/records.js';
import { ArpWatcher, CLAIM_WINDOW_NS, REPLY_WINDOW_NS } from '../../src/verify/arp/watch/detector.js';
import { afterClaim, judgeClaim, type Claim, type ClaimHistory } from '../../src/verify/arp/conflict.js';
import { newStation, StationTable } from '../../src/verify/arp/watch/stations.js';
import type { WatchEvent } from '../../src/verify/arp/watch/types.js';

const VIP = '10.0.0.100';
const D = '02:00:00:00:00:0d';
const B = '02:00:00:00:00:0e';
const RS = '02:00:00:00:00:11';
const ROUTER = '02:00:00:00:00:01';
const T0 = 1_780_000_000e9;
const NOBYTES = new Uint8Array(0);

let seq = 0;
function rec(tSec: number, op: 1 | 2, sha: string, spa: string, tha: string, tpa: string, vlan = ''): ArpRecord {
  const r = newArpRecord();
  const tsNs = T0 + Math.round(tSec * 1e9);
  r.capture = 'test';
  r.frame = ++seq;
  r.tsSec = Math.floor(tsNs / 1e9);
  r.tsNsec = tsNs - r.tsSec * 1e9;
  r.tsNs = tsNs;
  r.seq = seq;
  r.vlan = vlan;
  r.op = op;
  r.sha = parseMacNum(sha)!;
  r.spa = parseIpv4(spa)!;
  r.tha = parseMacNum(tha)!;
  r.tpa = parseIpv4(tpa)!;
  r.ethSrc = r.sha;
  r.gratuitous = r.spa === r.tpa;
  r.probe = op === 1 && r.spa === 0;
  return r;
}
const whoHasVip = (t: number): ArpRecord => rec(t, 1, ROUTER, '10.0.0.254', '00:00:00:00:00:00', VIP);
const answer = (t: number, mac: string): ArpRecord => rec(t, 2, mac, VIP, ROUTER, '10.0.0.254');
const garp = (t: number, mac: string): ArpRecord => rec(t, 1, mac, VIP, 'ff:ff:ff:ff:ff:ff', VIP);

function run(w: ArpWatcher, records: readonly ArpRecord[], endSec?: number): WatchEvent[] {
  const out: WatchEvent[] = [];
  for (const r of records) out.push(...w.observe(r, NOBYTES, 0, 0));
  if (endSec !== undefined) out.push(...w.tick(T0 + endSec * 1e9));
  return out;
}
const kinds = (ev: readonly WatchEvent[]): string[] => ev.map((e) => e.kind);

describe('judgeClaim (the conflict definition)', () => {
  const empty: ClaimHistory = { owner: -1, ownerLastNs: 0, movedFrom: -1, movedNs: 0 };
  const replay = (claims: readonly Claim[]): Array<string | null> => {
    let h = empty;
    return claims.map((c) => {
      const v = judgeClaim(h, c, CLAIM_WINDOW_NS);
      h = afterClaim(h, c, v);
      return v.conflict;
    });
  };
  const gaps = fc.array(fc.tuple(fc.integer({ min: 0, max: 30_000 }), fc.boolean()), { minLength: 1, maxLength: 40 });

  it('claims from one MAC never conflict, whatever their form and spacing', () => {
    fc.assert(
      fc.property(gaps, (g) => {
        let t = 0;
        const claims = g.map(([ms, garp]) => ({ mac: 1, tNs: (t += ms * 1e6), gratuitous: garp }));
        return replay(claims).every((c) => c === null);
      }),
    );
  });

  it('a failover (A, then B announcing by gratuitous ARP, A silent afterwards) never conflicts', () => {
    fc.assert(
      fc.property(gaps, gaps, fc.integer({ min: 0, max: 30_000 }), (a, b, gapMs) => {
        let t = 0;
        const claims = [
          ...a.map(([ms, g]) => ({ mac: 1, tNs: (t += ms * 1e6), gratuitous: g })),
          { mac: 2, tNs: (t += gapMs * 1e6), gratuitous: true },
          ...b.map(([ms, g]) => ({ mac: 2, tNs: (t += ms * 1e6), gratuitous: g })),
        ];
        return replay(claims).every((c) => c === null);
      }),
    );
  });

  it('two MACs claiming in turn within the window without a gratuitous ARP conflict', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: CLAIM_WINDOW_NS / 1e6 }), fc.boolean(), (ms, firstGarp) => {
        const v = replay([
          { mac: 1, tNs: 0, gratuitous: firstGarp },
          { mac: 2, tNs: ms * 1e6, gratuitous: false },
        ]);
        return v[1] === 'concurrent';
      }),
    );
  });

  it('the old MAC speaking again after an announced move is alternation', () => {
    const v = replay([
      { mac: 1, tNs: 0, gratuitous: true },
      { mac: 2, tNs: 20e9, gratuitous: true },
      { mac: 1, tNs: 21e9, gratuitous: false },
    ]);
    expect(v).toEqual([null, null, 'alternating']);
  });
});

describe('StationTable', () => {
  it('never holds more than its bound; keeps the most recently seen; counts what it dropped', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 20 }), fc.array(fc.integer({ min: 0, max: 40 }), { maxLength: 300 }), (max, ips) => {
        const t = new StationTable(max);
        const model: number[] = []; // least recently seen first
        let dropped = 0;
        for (const ip of ips) {
          if (t.touch(ip) === undefined) {
            t.add(ip, newStation('', ip, 1, 0, 'other'));
            if (model.length >= max) {
              model.shift();
              dropped++;
            }
          } else model.splice(model.indexOf(ip), 1);
          model.push(ip);
          if (t.size > max) return false;
        }
        return t.dropped === dropped && [...t.values()].map((s) => s.ip).join() === model.join();
      }),
    );
  });
});

describe('ArpWatcher', () => {
  const cfg = { vips: [VIP], directorMacs: [], realServers: [] };

  it('two answers to one who-has: a conflict naming both MACs; a later who-has answered by one ends it', () => {
    const w = new ArpWatcher(cfg);
    const ev = run(w, [whoHasVip(0), answer(0.0001, D), answer(0.0002, RS), whoHasVip(5), answer(5.0001, D)], 5 + REPLY_WINDOW_NS / 1e9 + 0.1);
    const conflict = ev.filter((e) => e.kind === 'vip-conflict');
    expect(conflict).toHaveLength(1);
    expect(conflict[0]!.claimants!.map((c) => c.mac)).toEqual([D, RS]);
    expect(conflict[0]!.message).toContain('two answers to one who-has from 10.0.0.254');
    const end = ev.filter((e) => e.kind === 'vip-conflict-end');
    expect(end).toHaveLength(1);
    expect(end[0]!.mac).toBe(D);
    expect(end[0]!.message).toContain(`answered by ${D} alone`);
    expect(kinds(ev).indexOf('vip-conflict')).toBeLessThan(kinds(ev).indexOf('vip-conflict-end'));
  });

  it('a conflict is reported once while it lasts, not per packet', () => {
    const w = new ArpWatcher(cfg);
    const recs: ArpRecord[] = [];
    for (let i = 0; i < 50; i++) recs.push(whoHasVip(i * 0.3), answer(i * 0.3 + 0.0001, D), answer(i * 0.3 + 0.0002, RS));
    const ev = run(w, recs);
    expect(kinds(ev).filter((k) => k === 'vip-conflict')).toHaveLength(1);
    expect(kinds(ev).filter((k) => k === 'flip-flop')).toHaveLength(1); // then only counted for a minute
  });

  it('a conflict with silence afterwards ends after the claim window', () => {
    const w = new ArpWatcher(cfg);
    const ev = run(w, [answer(0, D), answer(1, RS)], 1 + CLAIM_WINDOW_NS / 1e9 + 1);
    expect(kinds(ev)).toContain('vip-conflict');
    expect(kinds(ev)[kinds(ev).length - 1]).toBe('vip-conflict-end');
  });

  it('a GARP failover is changed-mac only; the old director speaking again makes it a conflict', () => {
    const failover = [garp(0, D), garp(0.001, D), garp(0.002, D), garp(20, B), garp(20.001, B)];
    expect(kinds(run(new ArpWatcher(cfg), failover))).toEqual(['new-station', 'garp-burst', 'changed-mac']);
    const split = kinds(run(new ArpWatcher(cfg), [...failover, answer(21, D)]));
    expect(split).toContain('vip-conflict');
  });

  it('a failback announced by gratuitous ARP is a changed-mac, not a flip-flop; unannounced it is a flip-flop', () => {
    const announced = run(new ArpWatcher(cfg), [garp(0, D), garp(20, B), garp(60, D)]);
    expect(kinds(announced)).toEqual(['new-station', 'changed-mac', 'changed-mac']);
    expect(announced[2]!.message).toContain('back to the MAC before, announced by gratuitous ARP');
    const unannounced = run(new ArpWatcher(cfg), [garp(0, D), garp(20, B), answer(60, D)]);
    expect(kinds(unannounced)).toEqual(['new-station', 'changed-mac', 'flip-flop']);
  });

  it('shifting every timestamp by a constant changes no event but its time (metamorphic)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.constantFrom(0, 1, 2, 3), fc.constantFrom(D, B, RS), fc.integer({ min: 1, max: 4000 })), { maxLength: 30 }),
        fc.integer({ min: 1, max: 1_000_000 }),
        (steps, shiftSec) => {
          const build = (off: number): ArpRecord[] => {
            let t = off;
            return steps.map(([form, mac, ms]) => {
              t += ms / 1000;
              return form === 0 ? whoHasVip(t) : form === 1 ? answer(t, mac) : form === 2 ? garp(t, mac) : rec(t, 1, mac, '10.0.0.7', '00:00:00:00:00:00', '10.0.0.254');
            });
          };
          const strip = (ev: WatchEvent[]): string[] => ev.map((e) => `${e.kind} ${e.mac} ${e.message.replace(/\d+\.\d s/g, '')}`);
          return strip(run(new ArpWatcher(cfg), build(0))).join('\n') === strip(run(new ArpWatcher(cfg), build(shiftSec))).join('\n');
        },
      ),
      { numRuns: 200 },
    );
  });

  it('restored stations are not new again', () => {
    const a = new ArpWatcher(cfg);
    const recs = [rec(0, 1, RS, '10.0.0.11', '00:00:00:00:00:00', '10.0.0.254'), answer(1, D)];
    expect(kinds(run(a, recs))).toEqual(['new-station', 'new-station']);
    const b = new ArpWatcher(cfg);
    b.restore([...a.stations.values()], 0);
    expect(kinds(run(b, recs))).toEqual([]);
  });

  it('with --director-mac, a VIP claim by another MAC is an error event once per episode', () => {
    const w = new ArpWatcher({ ...cfg, directorMacs: [D] });
    const ev = run(w, [answer(0, RS), answer(1, RS), answer(2, RS), answer(30, RS)]);
    expect(kinds(ev).filter((k) => k === 'vip-claimed-by-non-director')).toHaveLength(2);
    expect(ev.find((e) => e.kind === 'vip-claimed-by-non-director')!.severity).toBe('error');
  });
});
