/**
 * Memory bounded by live traffic, not by capture length (issue 21): an open connection's traces
 * are judged and dropped once every copy of them has arrived (correlate/live.ts), so a few
 * long-lived connections do not hold their whole history. Two things must hold:
 *  - the report is the one judging each connection whole gives (findings with their evidence
 *    and counts, the rule tallies, the verdict), also when packets are missing at some points
 *    so that rules reason over neighbouring traces (a later packet that proves a gap);
 *  - the peak of records held (stats.maxLivePackets, the tracker's counter) stays under the
 *    bound the parts give: per live connection, the larger of the part threshold and twice the
 *    records of the part lag (plus the window grid and a sweep), not the capture's length.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PART_LAG_WINDOWS } from '../../src/verify/correlate/live.js';
import { parseServiceConfig } from '../../src/verify/service/index.js';
import { verify, type VerifyInput } from '../../src/verify/verify.js';
import { need, repoRoot } from '../helpers/env.js';

const built = existsSync(path.join(repoRoot, 'dist', 'decode', 'capture', 'index.js'));
const CONNS = 4;
const WINDOW_MS = 100;

let tmp = '';
let longSet = '';
let frames = 0;

beforeAll(() => {
  if (!built) return;
  tmp = mkdtempSync(path.join(os.tmpdir(), 'verify-bounded-'));
  longSet = path.join(tmp, 'long');
  // Four keep-alive connections, ~6 s of exchanges each: sixty windows of 100 ms.
  execFileSync(process.execPath, [path.join(repoRoot, 'scripts', 'make-production-set.mjs'), '--long', String(CONNS), '--packets', '40000', longSet], { stdio: 'ignore' });
  frames = JSON.parse(readFileSync(path.join(longSet, 'expected.json'), 'utf8')).packets;
});
afterAll(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

/** Copies the classic pcap `from` to `to` without the frames `drop` selects (Ethernet/IPv4). */
function dropFrames(from: string, to: string, drop: (frame: Buffer) => boolean): void {
  const b = readFileSync(from);
  const le = b.readUInt32LE(0) === 0xa1b2c3d4 || b.readUInt32LE(0) === 0xa1b23c4d;
  const u32 = (o: number): number => (le ? b.readUInt32LE(o) : b.readUInt32BE(o));
  const parts: Buffer[] = [b.subarray(0, 24)];
  for (let o = 24; o + 16 <= b.length; ) {
    const len = 16 + u32(o + 8);
    if (!drop(b.subarray(o + 16, o + len))) parts.push(b.subarray(o, o + len));
    o += len;
  }
  writeFileSync(to, Buffer.concat(parts));
}

/** The set's points, with some frames of some captures dropped (a fault, or a capture gap). */
function faulty(name: string, drops: Record<string, (frame: Buffer) => boolean>): string {
  const dir = path.join(tmp, name);
  execFileSync('cp', ['-r', longSet, dir]);
  for (const [file, drop] of Object.entries(drops)) dropFrames(path.join(longSet, file), path.join(dir, file), drop);
  return dir;
}

function input(dir: string, partRecords: number): VerifyInput {
  const files = readdirSync(dir);
  return {
    services: parseServiceConfig(readFileSync(path.join(dir, 'service.conf'), 'utf8'), 'service.conf'),
    points: [
      { kind: 'client', files: [path.join(dir, 'client.pcap')] },
      { kind: 'director', files: files.filter((f) => f.startsWith('director')).sort().map((f) => path.join(dir, f)) },
      { kind: 'rs', files: [path.join(dir, 'rs1.pcap')] },
      { kind: 'rs', files: [path.join(dir, 'rs2.pcap')] },
    ],
    profile: 'linux',
    windowMs: WINDOW_MS,
    partRecords,
  };
}

type Result = Awaited<ReturnType<typeof verify>>;

/** The report as text, without what parts are meant to change: the peak held, and the ladder
 *  diagrams (a connection judged in parts has the ladder of its first part: ladderPrefixes). */
function comparable(r: Result): string {
  const { maxLivePackets: _peak, ...stats } = r.stats;
  return JSON.stringify({ ...r, stats, connections: null }, null, 1);
}

/** Asserts that the ladders judged in parts are, connection for connection, the first packets
 *  of the ladders judged whole. */
function expectLadderPrefixes(parts: Result, whole: Result): void {
  const pl = parts.connections ?? [];
  const wl = whole.connections ?? [];
  expect(wl.length).toBeGreaterThan(0);
  expect(pl.map((l) => l.conn)).toEqual(wl.map((l) => l.conn));
  pl.forEach((l, i) => {
    const w = wl[i]!;
    expect(l.packets.length).toBeGreaterThan(0);
    expect(l.packets.length).toBeLessThanOrEqual(w.packets.length);
    expect(JSON.stringify({ ...l, packets: w.packets.slice(0, l.packets.length) })).toBe(JSON.stringify(l));
  });
}

describe.skipIf(!need(built, 'dist/ not built (npm test builds it): the generator writes with PcapWriter'))('bounded correlation memory', () => {
  it('long-lived connections: judged in parts, the same report, and the peak held under the bound', async () => {
    const parts = await verify(input(longSet, 1024));
    const whole = await verify(input(longSet, Infinity));
    expect(whole.verdict).toBe('pass');
    // As text: a deep diff of two reports this size would take minutes to print.
    expect(comparable(parts) === comparable(whole)).toBe(true);
    expectLadderPrefixes(parts, whole);
    expect(parts.stats.frames).toBe(frames);
    // Judged whole, every record of an open connection is held to the end.
    expect(whole.stats.maxLivePackets).toBe(whole.stats.packetsCorrelated);
    // Judged in parts: per connection at most max(threshold, twice the records of the lag, the
    // window grid and a sweep). The set's records come at an even rate over its span.
    const spanNs = spanOf(longSet);
    const perWindow = (parts.stats.packetsCorrelated / spanNs) * WINDOW_MS * 1e6;
    const perConnLag = (perWindow / CONNS) * (PART_LAG_WINDOWS + 2);
    const bound = CONNS * Math.max(1024, 2 * perConnLag);
    expect(parts.stats.maxLivePackets).toBeLessThanOrEqual(bound);
    expect(parts.stats.maxLivePackets).toBeLessThan(parts.stats.packetsCorrelated / 3);
  });

  it('with packets missing at some points, parts give the findings judging whole gives', async () => {
    // Client packets (by IP ID, which NAT keeps) dropped at director egress and at the real
    // server (not forwarded, unless the flow proves them delivered), at the real server alone
    // (lost, or a capture gap that a later packet proves); replies dropped at the client.
    const fromClient = (f: Buffer): boolean => f.readUInt32BE(26) === 0xc6336407;
    const ipId = (f: Buffer): number => f.readUInt16BE(18);
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 97, max: 1500 }), fc.integer({ min: 97, max: 1500 }), fc.integer({ min: 200, max: 4000 }), async (a, b, threshold) => {
        const dir = faulty(`drop-${a}-${b}-${threshold}`, {
          'director-eth1.pcap': (f) => fromClient(f) && ipId(f) % a === 0,
          'rs1.pcap': (f) => fromClient(f) && (ipId(f) % a === 0 || ipId(f) % b === 1),
          'client.pcap': (f) => !fromClient(f) && ipId(f) % b === 2,
        });
        const parts = await verify(input(dir, threshold));
        const whole = await verify(input(dir, Infinity));
        // Findings to compare: the server's acknowledgements prove most dropped client packets
        // got through (capture notes then), the rest are errors or lost-in-transit warnings.
        expect(whole.findings.some((f) => f.severity !== 'info')).toBe(true);
        expect(parts.findings.map((f) => `${f.rule} ${f.conn ?? ''} ${f.message}`)).toEqual(whole.findings.map((f) => `${f.rule} ${f.conn ?? ''} ${f.message}`));
        expect(comparable(parts) === comparable(whole)).toBe(true);
        expectLadderPrefixes(parts, whole);
        expect(parts.stats.maxLivePackets).toBeLessThan(whole.stats.maxLivePackets);
        rmSync(dir, { recursive: true, force: true });
      }),
      { numRuns: 3, seed: 21 },
    );
  });
});

/** Corrected span of a set in ns: first to last frame of its client capture (pcap µs or ns). */
function spanOf(dir: string): number {
  const b = readFileSync(path.join(dir, 'client.pcap'));
  const ns = b.readUInt32LE(0) === 0xa1b23c4d;
  const at = (o: number): number => b.readUInt32LE(o) * 1e9 + b.readUInt32LE(o + 4) * (ns ? 1 : 1e3);
  let first = -1;
  let last = 0;
  for (let o = 24; o + 16 <= b.length; o += 16 + b.readUInt32LE(o + 8)) {
    if (first < 0) first = at(o);
    last = at(o);
  }
  return last - first;
}
