/**
 * The ARP collector and the clock estimate keep memos and caches on their hot paths (per-capture
 * memo of the last aggregate and VIP verdicts, capture recognised by its reused Packet view,
 * direct-mapped connection cache, open-addressing key table, median by selection). These tests
 * check that none of that changes a result:
 *
 * - ArpCollector against a plain reference model written here (string keys, no caches), over
 *   random interleavings of captures built from small pools chosen to make the caches collide:
 *   two MACs sharing a MacIds cache slot, source ports 4096 apart (one connection-cache slot),
 *   one IP sent to from two MACs, a MAC changing for a VIP mid-capture, a capture seen at two
 *   points, broadcast frames, VLAN tags, ARP among IPv4.
 * - ArpAnalyzer reports identical whether each capture has its own reused Packet view (verify),
 *   all captures share one view, or every frame comes in a fresh view with a fresh name string
 *   (every memo misses).
 * - estimateClocks against a reference (Map by field text, full sort for medians) on records with
 *   repeated keys, over-copied keys, tied differences and more records than the sample.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Decoder } from '../../src/decode/decoder.js';
import { LinkType, type Frame } from '../../src/decode/frame.js';
import { PacketBuilder } from '../../src/replay/builder/index.js';
import { ArpAnalyzer, type ArpReport } from '../../src/verify/arp/index.js';
import { ArpCollector } from '../../src/verify/arp/records.js';
import { estimateClocks, type ClockEstimate } from '../../src/verify/correlate/clock.js';
import type { LoadedPoint, PointKindName } from '../../src/verify/read/points.js';
import { extractRecord } from '../../src/verify/read/record.js';
import type { PacketRecord } from '../../src/verify/model/record.js';

// ---------------------------------------------------------------- ARP collector

/** 1 and 2 share a MacIds cache slot (slot = lo ^ lo>>>8 ^ lo>>>16 ^ hi, low 8 bits). */
const MACS = ['02:00:00:00:00:01', '02:00:00:00:01:00', '02:00:00:00:00:02', '02:00:00:00:00:03', '0a:00:00:00:00:04'];
const BCAST = 'ff:ff:ff:ff:ff:ff';
const VIPS = ['192.0.2.10', '192.0.2.11'];
const IPS = [...VIPS, '10.0.0.1', '10.0.0.2', '198.51.100.7'];
/** 1000, 5096 and 9192 fall into one connection-cache slot for the same source IP. */
const SPORTS = [1000, 5096, 9192, 40000, 40001];
const CAPTURES = ['a.pcap', 'b.pcap', 'c.pcap'];
const POINTS = ['client', 'director', 'rs:10.0.0.1'];

interface Spec {
  kind: 'tcp' | 'udp' | 'icmp' | 'arp';
  cap: number;
  /** Seen at another point than its capture's usual one. */
  otherPoint: boolean;
  srcMac: number;
  dstMac: number;
  bcast: boolean;
  srcIp: number;
  dstIp: number;
  sport: number;
  dport: number;
  vlan: number | null;
  /** ns after the previous frame (0: a tie). */
  gap: number;
}

const specArb: fc.Arbitrary<Spec> = fc.record({
  kind: fc.constantFrom<Spec['kind']>('tcp', 'tcp', 'tcp', 'udp', 'icmp', 'arp'),
  cap: fc.integer({ min: 0, max: CAPTURES.length - 1 }),
  otherPoint: fc.integer({ min: 0, max: 9 }).map((n) => n === 0),
  srcMac: fc.integer({ min: 0, max: MACS.length - 1 }),
  dstMac: fc.integer({ min: 0, max: MACS.length - 1 }),
  bcast: fc.integer({ min: 0, max: 9 }).map((n) => n === 0),
  srcIp: fc.integer({ min: 0, max: IPS.length - 1 }),
  dstIp: fc.integer({ min: 0, max: IPS.length - 1 }),
  sport: fc.integer({ min: 0, max: SPORTS.length - 1 }),
  dport: fc.constantFrom(80, 443),
  vlan: fc.constantFrom<number | null>(null, null, null, 100),
  gap: fc.constantFrom(0, 1, 1000, 2_000_000),
});

function build(s: Spec): PacketBuilder {
  const dst = s.bcast ? BCAST : MACS[s.dstMac]!;
  let b = PacketBuilder.eth({ src: MACS[s.srcMac]!, dst });
  if (s.vlan !== null) b = b.vlan({ id: s.vlan });
  const src = IPS[s.srcIp]!;
  const to = IPS[s.dstIp]!;
  if (s.kind === 'arp') return b.arp({ op: s.bcast ? 1 : 2, sha: MACS[s.srcMac]!, spa: src, tha: s.bcast ? '00:00:00:00:00:00' : dst, tpa: to });
  const ip = b.ipv4({ src, dst: to });
  if (s.kind === 'tcp') return ip.tcp({ sport: SPORTS[s.sport]!, dport: s.dport, flags: 'A' });
  if (s.kind === 'udp') return ip.udp({ sport: SPORTS[s.sport]!, dport: s.dport });
  return ip.icmp({ type: 8, code: 0 });
}

const macNumOf = (t: string): number => parseInt(t.replace(/:/g, ''), 16);
const ipNumOf = (t: string): number => t.split('.').reduce((a, o) => a * 256 + Number(o), 0);

interface Fed {
  spec: Spec;
  bytes: Buffer;
  capture: string;
  point: string;
  frame: number;
  tsSec: number;
  tsNsec: number;
}

const T0 = 1_800_000_000;

function feedList(specs: readonly Spec[]): Fed[] {
  const perCapture = CAPTURES.map(() => 0);
  let t = 0;
  return specs.map((spec) => {
    t += spec.gap;
    return {
      spec,
      bytes: build(spec).build(),
      capture: CAPTURES[spec.cap]!,
      point: POINTS[spec.otherPoint ? (spec.cap + 1) % POINTS.length : spec.cap]!,
      frame: ++perCapture[spec.cap]!,
      tsSec: T0 + Math.floor(t / 1e9),
      tsNsec: t % 1e9,
    };
  });
}

type Mode = 'view-per-capture' | 'shared-view' | 'fresh';

/** Feeds frames the way a caller would: `view-per-capture` is verify (one reader, decoder and
 *  name string per file), `shared-view` one decoder for everything, `fresh` a new decoder and a
 *  new name string per frame (no memo can hit). */
function feed(frames: readonly Fed[], mode: Mode, observe: (p: ReturnType<Decoder['decode']>, point: string) => void): void {
  const decoders = CAPTURES.map(() => new Decoder());
  const shared = new Decoder();
  const names = CAPTURES.map((c) => c);
  for (const f of frames) {
    const frame: Frame = {
      capture: mode === 'fresh' ? (' ' + f.capture).slice(1) : names[f.spec.cap]!,
      frame: f.frame,
      buf: f.bytes,
      off: 0,
      caplen: f.bytes.length,
      len: f.bytes.length,
      tsSec: f.tsSec,
      tsNsec: f.tsNsec,
      linkType: LinkType.ETHERNET,
      interfaceId: 0,
      direction: null,
      comment: null,
      fileOffset: 0,
    };
    const dec = mode === 'fresh' ? new Decoder() : mode === 'shared-view' ? shared : decoders[f.spec.cap]!;
    observe(dec.decode(frame), mode === 'fresh' ? (' ' + f.point).slice(1) : f.point);
  }
}

interface RefAgg {
  vlan: string;
  dst: number;
  srcMac: number;
  dstMac: number;
  frames: number;
  first: { capture: string; frame: number; point: string; tsNs: number };
  lastTsNs: number;
  points: string[];
  srcIps: number[];
  connCount: number;
  conns: Array<{ proto: number; src: number; sport: number; dport: number; capture: string; frame: number }>;
}

/** What the collector must have recorded, computed from the specs with plain string-keyed maps. */
function reference(frames: readonly Fed[], isVip: (ip: number) => boolean) {
  const start = new Map<string, number>();
  const end = new Map<string, number>();
  const unicastSeen = new Map<string, Set<number>>();
  const pointMacs = new Map<string, Map<number, number>>();
  const aggs = new Map<string, RefAgg>();
  const connSeen = new Map<string, Set<string>>();
  let vipFrames = 0;
  for (const f of frames) {
    const s = f.spec;
    const ts = f.tsSec * 1e9 + f.tsNsec;
    if (!start.has(f.capture)) start.set(f.capture, ts);
    end.set(f.capture, Math.max(end.get(f.capture) ?? -Infinity, ts));
    if (!unicastSeen.has(f.capture)) unicastSeen.set(f.capture, new Set());
    if (!pointMacs.has(f.point)) pointMacs.set(f.point, new Map());
    if (s.bcast) continue; // the collector looks at unicast frames only
    const src = macNumOf(MACS[s.srcMac]!);
    const dst = macNumOf(MACS[s.dstMac]!);
    unicastSeen.get(f.capture)!.add(dst);
    const pm = pointMacs.get(f.point)!;
    pm.set(src, (pm.get(src) ?? 0) + 1);
    pm.set(dst, (pm.get(dst) ?? 0) + 1);
    const dstIp = ipNumOf(IPS[s.dstIp]!);
    if (s.kind === 'arp' || !isVip(dstIp)) continue;
    vipFrames++;
    const vlan = s.vlan === null ? '' : String(s.vlan);
    const key = `${vlan}|${dstIp}|${src}|${dst}`;
    let a = aggs.get(key);
    if (!a) {
      a = { vlan, dst: dstIp, srcMac: src, dstMac: dst, frames: 0, first: { capture: f.capture, frame: f.frame, point: f.point, tsNs: ts }, lastTsNs: 0, points: [], srcIps: [], connCount: 0, conns: [] };
      aggs.set(key, a);
      connSeen.set(key, new Set());
    }
    a.frames++;
    a.lastTsNs = ts;
    if (!a.points.includes(f.point)) a.points.push(f.point);
    const srcIp = ipNumOf(IPS[s.srcIp]!);
    if (!a.srcIps.includes(srcIp) && a.srcIps.length < 16) a.srcIps.push(srcIp);
    if (s.kind === 'icmp') continue;
    const connKey = `${srcIp}:${SPORTS[s.sport]}`;
    const seen = connSeen.get(key)!;
    if (seen.has(connKey)) continue;
    seen.add(connKey);
    a.connCount++;
    if (a.conns.length < 64) {
      a.conns.push({ proto: s.kind === 'tcp' ? 6 : 17, src: srcIp, sport: SPORTS[s.sport]!, dport: s.dport, capture: f.capture, frame: f.frame });
    }
  }
  return { frames: frames.length, vipFrames, start, end, unicastSeen, pointMacs, aggs: [...aggs.values()] };
}

function collected(c: ArpCollector) {
  const sortedSets = (m: Map<string, Set<number>>) => new Map([...m].map(([k, v]) => [k, new Set([...v].sort((x, y) => x - y))]));
  return {
    frames: c.frames,
    vipFrames: c.vipFrames,
    start: c.captureStart,
    end: c.captureEnd,
    unicastSeen: sortedSets(c.unicastSeen),
    pointMacs: c.pointMacs,
    aggs: c.aggs.map(
      (a): RefAgg => ({
        vlan: a.vlan,
        dst: a.dst,
        srcMac: a.srcMac,
        dstMac: a.dstMac,
        frames: a.frames,
        first: { capture: a.first.capture, frame: a.first.frame, point: a.first.point, tsNs: a.first.tsNs },
        lastTsNs: a.lastTsNs,
        points: [...a.points],
        srcIps: [...a.srcIps],
        connCount: a.connCount,
        conns: [...a.conns.values()].map((k) => ({ proto: k.proto, src: k.src, sport: k.sport, dport: k.dport, capture: k.first.capture, frame: k.first.frame })),
      }),
    ),
  };
}

function expectCollectorMatches(frames: readonly Fed[], mode: Mode, vipsOnly: boolean): void {
  const vipNums = new Set(VIPS.map(ipNumOf));
  const isVip = vipsOnly ? (d: number) => vipNums.has(d) : () => true;
  const c = new ArpCollector(isVip);
  feed(frames, mode, (p, point) => c.observe(p, point));
  const ref = reference(frames, isVip);
  const got = collected(c);
  const sortedRef = new Map([...ref.unicastSeen].map(([k, v]) => [k, new Set([...v].sort((x, y) => x - y))]));
  expect(got.frames).toBe(ref.frames);
  expect(got.vipFrames).toBe(ref.vipFrames);
  expect(got.start).toEqual(ref.start);
  expect(got.end).toEqual(ref.end);
  expect(got.unicastSeen).toEqual(sortedRef);
  // Points with no unicast frame have an empty map in both.
  expect(got.pointMacs).toEqual(ref.pointMacs);
  expect(got.aggs).toEqual(ref.aggs);
  // ARP records: one per ARP frame, in order, at the right frame.
  const arpFrames = frames.filter((f) => f.spec.kind === 'arp');
  expect(c.arp.map((r) => [r.capture, r.frame, r.point, r.tsNs])).toEqual(arpFrames.map((f) => [f.capture, f.frame, f.point, f.tsSec * 1e9 + f.tsNsec]));
}

const base: Spec = { kind: 'tcp', cap: 0, otherPoint: false, srcMac: 0, dstMac: 2, bcast: false, srcIp: 2, dstIp: 0, sport: 0, dport: 80, vlan: null, gap: 1000 };
const s = (o: Partial<Spec>): Spec => ({ ...base, ...o });

/** Hand-made streams for the cases the caches could get wrong. */
const SCENARIOS: Record<string, Spec[]> = {
  // The client's frames to the VIP go to the director's MAC, then (poisoned) to an RS MAC, while
  // the director capture sees the same flow in between: the per-capture aggregate memo must move.
  'MAC changes for a VIP mid-capture, points alternating': [
    ...Array.from({ length: 4 }, (_, i) => s({ cap: i % 2, sport: i % 2 })),
    s({ kind: 'arp', cap: 0, srcMac: 3, srcIp: 0, dstIp: 2, dstMac: 0 }),
    ...Array.from({ length: 4 }, (_, i) => s({ cap: i % 2, dstMac: i % 2 ? 2 : 3, sport: i % 2 })),
    s({ cap: 0, dstMac: 2 }),
  ],
  // One VIP receives from two MACs in one capture, interleaved frame by frame.
  'same IP from two MACs': Array.from({ length: 8 }, (_, i) => s({ srcMac: i % 2 ? 0 : 4, srcIp: i % 3 ? 2 : 4, sport: i % 3 })),
  // Ports 1000, 5096, 9192 share a connection-cache slot; each is its own connection.
  'colliding connection-cache slots': Array.from({ length: 9 }, (_, i) => s({ sport: i % 3, kind: i % 4 === 3 ? 'udp' : 'tcp' })),
  // 02:…:00:01 and 02:…:01:00 share a MacIds cache slot, alternating as destination.
  'colliding MAC-id cache slots': Array.from({ length: 6 }, (_, i) => s({ dstMac: i % 2, srcMac: 3, cap: i % 3 })),
  // A capture that is looked at from two points in turn.
  'one capture at two points': Array.from({ length: 6 }, (_, i) => s({ otherPoint: i % 2 === 1, sport: i % 2 })),
  // Alternating VIP / non-VIP destinations (request, reply) with a VLAN-tagged copy.
  'VIP and non-VIP destinations alternating': Array.from({ length: 8 }, (_, i) =>
    s({ dstIp: i % 2 ? 2 : i % 4 === 0 ? 0 : 1, srcIp: i % 2 ? 0 : 2, srcMac: i % 2 ? 2 : 0, dstMac: i % 2 ? 0 : 2, vlan: i % 3 === 0 ? 100 : null }),
  ),
};

describe('ARP collector: memos and caches change no result', () => {
  for (const [name, specs] of Object.entries(SCENARIOS)) {
    it(`${name}: matches the reference model in every feeding mode`, () => {
      const frames = feedList(specs);
      for (const mode of ['view-per-capture', 'shared-view', 'fresh'] as const) {
        expectCollectorMatches(frames, mode, true);
        expectCollectorMatches(frames, mode, false);
      }
    });
  }

  it('hand count: a VIP flow whose destination MAC changes mid-capture makes two aggregates', () => {
    const c = new ArpCollector((d) => d === ipNumOf(VIPS[0]!));
    feed(feedList(SCENARIOS['MAC changes for a VIP mid-capture, points alternating']!), 'view-per-capture', (p, pt) => c.observe(p, pt));
    const byDstMac = c.aggs.map((a) => [a.dstMac, a.frames, [...a.points].sort(), a.connCount]);
    // To the director MAC: 4 before + 2 after (odd positions) + the last one; to the RS MAC: 2.
    expect(byDstMac).toEqual([
      [macNumOf(MACS[2]!), 7, ['client', 'director'], 2],
      [macNumOf(MACS[3]!), 2, ['client'], 1],
    ]);
  });

  it('past the connection index bound the count stops and says it is a lower bound (was: every frame counted anew)', () => {
    const c = new ArpCollector((d) => d === ipNumOf(VIPS[0]!), { maxConnIndex: 2 });
    // Three connections (distinct source ports), each seen three times, interleaved.
    const specs = Array.from({ length: 9 }, (_, i) => s({ sport: i % 3 }));
    feed(feedList(specs), 'view-per-capture', (p, pt) => c.observe(p, pt));
    expect(c.aggs).toHaveLength(1);
    const agg = c.aggs[0]!;
    expect(agg.frames).toBe(9);
    expect(agg.connCount).toBe(2);
    expect(agg.connCountCapped).toBe(true);
    const roomy = new ArpCollector((d) => d === ipNumOf(VIPS[0]!), { maxConnIndex: 3 });
    feed(feedList(specs), 'view-per-capture', (p, pt) => roomy.observe(p, pt));
    expect([roomy.aggs[0]!.connCount, roomy.aggs[0]!.connCountCapped]).toStrictEqual([3, false]);
  });

  it('property: random interleavings match the reference model', () => {
    fc.assert(
      fc.property(fc.array(specArb, { minLength: 1, maxLength: 120 }), fc.constantFrom<Mode>('view-per-capture', 'shared-view', 'fresh'), fc.boolean(), (specs, mode, vipsOnly) => {
        expectCollectorMatches(feedList(specs), mode, vipsOnly);
      }),
      { numRuns: 150 },
    );
  });

  it('property: ArpAnalyzer reports are identical whether the memos hit or miss', () => {
    fc.assert(
      fc.property(fc.array(specArb, { minLength: 1, maxLength: 80 }), fc.boolean(), (specs, withVips) => {
        const frames = feedList(specs);
        const reports = (['view-per-capture', 'shared-view', 'fresh'] as const).map((mode): ArpReport => {
          const a = new ArpAnalyzer(withVips ? { vips: VIPS, realServers: ['10.0.0.1'] } : {});
          feed(frames, mode, (p, point) => a.observe(p, point));
          return a.finish();
        });
        expect(reports[1]).toEqual(reports[0]);
        expect(reports[2]).toEqual(reports[0]);
      }),
      { numRuns: 100 },
    );
  });
});

// ---------------------------------------------------------------- clock estimate

/** A real record (built, decoded, extracted) to clone: the clock reads only invariants and ts. */
function template(): PacketRecord {
  const b = PacketBuilder.eth({ src: MACS[0]!, dst: MACS[2]! }).ipv4({ src: '10.0.0.1', dst: '192.0.2.10', id: 1 }).tcp({ sport: 1000, dport: 80, flags: 'A' });
  const bytes = b.build();
  const frame: Frame = { capture: 't', frame: 1, buf: bytes, off: 0, caplen: bytes.length, len: bytes.length, tsSec: T0, tsNsec: 0, linkType: LinkType.ETHERNET, interfaceId: 0, direction: null, comment: null, fileOffset: 0 };
  const r = extractRecord(new Decoder().decode(frame), 0);
  if (!r) throw new Error('template packet gave no record');
  return r;
}
const TEMPLATE = template();

/** A packet's invariants: index into a small pool, so keys repeat within and across points. */
interface Pkt {
  id: number;
  ts: number;
}

function record(p: Pkt, offset: number): PacketRecord {
  const r: PacketRecord = { ...TEMPLATE, ip: { ...TEMPLATE.ip } };
  r.seq = (p.id * 7919) % 65536;
  r.ack = p.id % 5;
  r.flags = p.id % 3 === 0 ? 0x18 : 0x10;
  r.ip.id = p.id % 1000;
  r.payloadLen = p.id % 7;
  r.hash = p.id % 4 === 0 ? -1 : p.id * 31;
  r.proto = p.id % 9 === 0 ? 'udp' : 'tcp';
  r.ts = p.ts + offset;
  r.t = r.ts;
  return r;
}

function point(kind: PointKindName, name: string, pkts: readonly Pkt[], offset: number): LoadedPoint {
  return {
    kind,
    name,
    files: [],
    rsIp: null,
    ownMac: null,
    frames: pkts.length,
    records: pkts.map((p) => record(p, offset)),
    arp: new Map(),
    firstTs: 0,
    lastTs: 0,
  };
}

/** The estimate as the module describes it, with a Map keyed by the fields' text and full sorts. */
function referenceClocks(points: readonly LoadedPoint[]): { est: ClockEstimate[]; t: number[][] } {
  const keyOf = (r: PacketRecord) => `${r.seq}|${r.ack}|${r.flags}|${r.ip.id}|${r.payloadLen}|${r.hash}|${r.proto}`;
  const index = (p: LoadedPoint, limit: number) => {
    const m = new Map<string, { ts: number; n: number }>();
    for (const r of p.records.slice(0, limit)) {
      const e = m.get(keyOf(r));
      if (e) {
        e.n++;
        e.ts = Math.min(e.ts, r.ts);
      } else m.set(keyOf(r), { ts: r.ts, n: 1 });
    }
    return m;
  };
  const median = (xs: number[]) => {
    const s = [...xs].sort((a, b) => a - b);
    const mid = Math.floor(s.length / 2);
    return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
  };
  const diffs = (a: Map<string, { ts: number; n: number }>, b: Map<string, { ts: number; n: number }>, ma: number, mb: number) => {
    const out: number[] = [];
    for (const [k, ea] of a) {
      const eb = b.get(k);
      if (ea.n <= ma && eb && eb.n <= mb) out.push(eb.ts - ea.ts);
    }
    return out;
  };
  const estimate = (d: number[], via: string): ClockEstimate => {
    if (d.length === 0) return { offsetNs: 0, spreadNs: 0, pairs: 0, via };
    const med = median(d);
    return { offsetNs: med, spreadNs: median(d.map((x) => Math.abs(x - med))), pairs: d.length, via };
  };
  let ref = points.findIndex((p) => p.kind === 'client');
  if (ref < 0) ref = Math.max(0, points.findIndex((p) => p.kind === 'director'));
  const dir = points.findIndex((p) => p.kind === 'director');
  const idx = points.map((p, i) => index(p, i === ref ? 80000 : 20000));
  const copies = (p: LoadedPoint) => (p.kind === 'director' ? 2 : 1);
  const est: ClockEstimate[] = points.map(() => ({ offsetNs: 0, spreadNs: 0, pairs: 0, via: '' }));
  est[ref] = { offsetNs: 0, spreadNs: 0, pairs: 0, via: points[ref]!.name };
  const order = [...(dir >= 0 ? [dir] : []), ...points.map((_, i) => i).filter((i) => i !== dir)];
  for (const i of order) {
    if (i === ref) continue;
    let e = estimate(diffs(idx[ref]!, idx[i]!, copies(points[ref]!), copies(points[i]!)), points[ref]!.name);
    if (dir >= 0 && dir !== i && dir !== ref && est[dir]!.pairs > 0) {
      const v = estimate(diffs(idx[dir]!, idx[i]!, 2, 1), points[dir]!.name);
      if (v.pairs > e.pairs) e = { ...v, offsetNs: v.offsetNs + est[dir]!.offsetNs };
    }
    est[i] = e;
  }
  return { est, t: points.map((p, i) => p.records.map((r) => r.ts - est[i]!.offsetNs)) };
}

/** Times on a coarse grid (many tied differences) or spread wide (distinct ones: the even-count
 *  median then depends on finding the true lower middle). */
const pktArb = (pool: number, spread: number) => fc.record({ id: fc.integer({ min: 0, max: pool }), ts: fc.integer({ min: 0, max: spread }).map((x) => 1e12 + x * 1000) });

describe('clock estimate: typed tables and selection change no result', () => {
  it('property: matches the reference on repeated, over-copied and tied keys', () => {
    const kinds = fc.constantFrom<PointKindName[]>(['client', 'director', 'rs', 'rs'], ['director', 'rs', 'rs'], ['client', 'rs'], ['rs', 'rs'], ['client', 'director']);
    fc.assert(
      fc.property(
        kinds,
        fc.constantFrom(40, 1_000_000).chain((spread) => fc.array(fc.array(pktArb(60, spread), { maxLength: 90 }), { minLength: 5, maxLength: 5 })),
        fc.array(fc.integer({ min: -5000, max: 5000 }), { minLength: 5, maxLength: 5 }),
        (ks, lists, offsets) => {
          const make = () => ks.map((k, i) => point(k, `${k}${i}`, lists[i]!, offsets[i]!));
          const want = referenceClocks(make());
          const pts = make();
          expect(estimateClocks(pts)).toEqual(want.est);
          expect(pts.map((p) => p.records.map((r) => r.t))).toEqual(want.t);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('property: the offset is the median of the pairwise differences, the spread their MAD', () => {
    const sortedMedian = (xs: readonly number[]) => {
      const v = [...xs].sort((x, y) => x - y);
      const m = v.length >> 1;
      return v.length % 2 ? v[m]! : (v[m - 1]! + v[m]!) / 2;
    };
    fc.assert(
      fc.property(fc.array(fc.integer({ min: -500_000, max: 500_000 }), { minLength: 1, maxLength: 300 }), (diffs) => {
        // One distinct packet per difference: the client sees it at i ms, the RS d ns later.
        const client: Pkt[] = diffs.map((_, i) => ({ id: i, ts: 1e12 + i * 1e6 }));
        const rs: Pkt[] = diffs.map((d, i) => ({ id: i, ts: 1e12 + i * 1e6 + d }));
        const [, got] = estimateClocks([point('client', 'client', client, 0), point('rs', 'rs', rs, 0)]);
        const med = sortedMedian(diffs);
        expect(got).toEqual({ offsetNs: med, spreadNs: sortedMedian(diffs.map((d) => Math.abs(d - med))), pairs: diffs.length, via: 'client' });
      }),
      { numRuns: 400 },
    );
  });

  it('only the first 20000 records (80000 of the reference) count', () => {
    // Distinct packets 0..29999 at the client. The RS sees 10000..29999 first, 7 µs later, then
    // 0..9999 shifted by 5 ms more: those are past its 20000-record sample and must not count,
    // while its first 20000 all find their partner in the client's larger (80000) sample.
    // (Times near 0: at 1.8e18 ns a double's step is 256 ns and 7000 would not survive.)
    const client: Pkt[] = Array.from({ length: 30000 }, (_, i) => ({ id: i, ts: 1e12 + i * 1000 }));
    const rs = [...client.slice(10000), ...client.slice(0, 10000).map((p) => ({ id: p.id, ts: p.ts + 5_000_000 }))];
    const make = () => [point('client', 'client', client, 0), point('rs', 'rs', rs, 7000)];
    const want = referenceClocks(make());
    const pts = make();
    const got = estimateClocks(pts);
    expect(got).toEqual(want.est);
    // Independent of both implementations: distinct ids give distinct keys (seq = id·7919 mod
    // 2^16 alone is unique below 65536), so exactly the 20000 sampled RS records pair, at +7 µs.
    expect(got[1]).toEqual({ offsetNs: 7000, spreadNs: 0, pairs: 20000, via: 'client' });
  });
});
