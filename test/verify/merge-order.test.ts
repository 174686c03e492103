/**
 * The merge order of pass 2 (verify/read/stream.ts) does not depend on which records a thread keeps:
 * a share of a split run (verify/parallel/partition.ts) merges its records in the order one thread
 * merges them, also when a capture's timestamps step back a little (multi-queue NICs, `-i any`),
 * because each file's records are merged at the latest time seen in that file so far. Property
 * test over generated captures with random step-backs. Several short steps back in a row can add
 * up to more than the window below a file's latest time: the reader must then say so
 * (`steppedBack`), which makes verify.ts run pass 2 again on one thread, and the orders need not
 * agree.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { PcapWriter } from '../../src/decode/capture/writer.js';
import { shareFilter, type ShareSpec } from '../../src/verify/parallel/partition.js';
import { mergeReaders, PointReader } from '../../src/verify/read/stream.js';
import type { Service } from '../../src/verify/service/model.js';

const service = {
  vip: '192.0.2.10',
  vport: 80,
  realServers: [{ ip: '10.0.0.11', port: 8080 }],
  localAddresses: [],
} as unknown as Service;

/** Ethernet + IPv4 + TCP from client 198.51.100.`host`:`port` to the VIP:80. */
function segment(host: number, port: number, seq: number): Buffer {
  const b = Buffer.alloc(14 + 20 + 20);
  b.writeUInt16BE(0x0800, 12);
  b[14] = 0x45;
  b.writeUInt16BE(40, 16);
  b[22] = 64;
  b[23] = 6;
  Buffer.from([198, 51, 100, host]).copy(b, 26);
  Buffer.from([192, 0, 2, 10]).copy(b, 30);
  b.writeUInt16BE(port, 34);
  b.writeUInt16BE(80, 36);
  b.writeUInt32BE(seq, 38);
  b[46] = 0x50;
  b[47] = 0x10;
  return b;
}

const WINDOW_NS = 1e9;
const RUNS = Number(process.env.LVSAUDIT_MERGE_RUNS ?? 60);
const dir = mkdtempSync(path.join(tmpdir(), 'lvsaudit-merge-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Rec {
  host: number;
  port: number;
  /** µs since the previous record of the file (negative: a step back). */
  stepUs: number;
}

let fileNo = 0;
function writeFile(recs: readonly Rec[]): string {
  const file = path.join(dir, `f${fileNo++}.pcap`);
  const w = new PcapWriter({ path: file });
  let us = 10_000_000;
  recs.forEach((r, i) => {
    us += r.stepUs;
    w.write(segment(r.host, r.port, i), Math.floor(us / 1e6), (us % 1e6) * 1000);
  });
  w.close();
  return file;
}

/** Whether a record's time falls more than the window below the latest record before it. */
function stepsBackTooFar(recs: readonly Rec[]): boolean {
  let us = 0;
  let top = -Infinity;
  for (const r of recs) {
    us += r.stepUs;
    if (top - us > WINDOW_NS / 1000) return true;
    if (us > top) top = us;
  }
  return false;
}

/** The (file, frame) order the merge hands records over in, for one share (null: all), and
 *  whether a reader met a step back larger than the window. */
async function mergeOrder(files: readonly string[], spec: ShareSpec | null): Promise<{ order: string[]; steppedBack: boolean }> {
  const share = spec ? shareFilter([service], spec) : null;
  const readers = files.map((f, i) => new PointReader(f, i, { offsetNs: 0, maxStepBackNs: WINDOW_NS, ...(share ? { share } : {}) }));
  const out: string[] = [];
  await mergeReaders(readers, (r) => out.push(`${r.point}#${r.frame}`), () => {}, WINDOW_NS / 16);
  await Promise.all(readers.map((r) => r.close()));
  return { order: out, steppedBack: readers.some((r) => r.steppedBack) };
}

const rec: fc.Arbitrary<Rec> = fc.record({
  host: fc.integer({ min: 1, max: 6 }),
  port: fc.integer({ min: 40000, max: 40005 }),
  // Mostly forward; one step in six goes back by up to 0.6 s (less than the window, though a few in
  // a row can add up to more).
  stepUs: fc.oneof({ weight: 5, arbitrary: fc.integer({ min: 0, max: 3000 }) }, { weight: 1, arbitrary: fc.integer({ min: -600_000, max: -1 }) }),
});

describe('pass 2 merge order', () => {
  it('each share merges its records in the order one thread merges them, with small step-backs', async () => {
    let steppedFiles = 0;
    let tooFar = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(fc.array(rec, { minLength: 1, maxLength: 40 }), { minLength: 2, maxLength: 4 }), async (recsPerFile) => {
        const files = recsPerFile.map(writeFile);
        if (recsPerFile.some((recs) => recs.some((r) => r.stepUs < 0))) steppedFiles++;
        const far = recsPerFile.some(stepsBackTooFar);
        if (far) tooFar++;
        const whole = await mergeOrder(files, null);
        // Whoever reads every frame (one thread or a share) sees the step back.
        expect(whole.steppedBack).toBe(far);
        const seen = new Set<string>();
        for (const index of [0, 1]) {
          const part = await mergeOrder(files, { index, of: 2 });
          expect(part.steppedBack).toBe(far);
          for (const k of part.order) seen.add(k);
          if (far) continue; // verify.ts redoes such a run on one thread
          const mine = new Set(part.order);
          expect(part.order).toEqual(whole.order.filter((k) => mine.has(k)));
        }
        // Every record is in exactly one of the two shares.
        expect(seen.size).toBe(whole.order.length);
      }),
      { numRuns: RUNS },
    );
    expect(steppedFiles).toBeGreaterThan(RUNS / 3);
    // Most runs stay within the window, so the order comparison is what this test mostly does.
    expect(tooFar).toBeLessThan(RUNS / 2);
  });
});
