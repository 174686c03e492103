/**
 * Metamorphic tests: a capture transformed the way production captures differ from pristine
 * ones (test/helpers/capture-transform.ts, after ../shared/spec/capture-artifacts.md) keeps its
 * verdict. Over every committed capture set (synthetic faults, real-kernel lab captures,
 * reference-director replays, FullNAT sets), one capture at a time is:
 *  - missing random frames (tcpdump's "packets dropped by kernel"),
 *  - started late or stopped early,
 *  - cut to a snaplen of 96,
 *  - written by a host with TX checksum offload (the partial pseudo-header sum in every TCP/UDP
 *    checksum),
 *  - taken where GRO merges consecutive segments, or where TSO/GSO segments appear cut.
 * A clean set must stay free of error findings under every transformation. A faulty set must
 * keep its fault's rule wherever the evidence survives: when some finding of that rule has all its
 * evidence frames outside what the transformation touched.
 */
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import type { VerifyInput } from '../../src/verify/verify.js';
import type { VerifyResult } from '../../src/verify/model/result.js';
import { pointsOf, verifyPoints, verifySets, type VerifySet } from '../helpers/verify-sets.js';
import {
  cutSpan,
  dropFrames,
  mergeSegments,
  partialChecksums,
  readPcap,
  snaplen,
  splitSegments,
  writePcap,
  type PcapFile,
} from '../helpers/capture-transform.js';

type SetInfo = VerifySet;

const sets = verifySets;

function run(dir: string, files: string[], profile: VerifyInput['profile'], directorOnly = false): Promise<VerifyResult> {
  const points = pointsOf(dir, files);
  return verifyPoints(dir, directorOnly ? points.filter((p) => p.kind === 'director') : points, profile);
}

const errorsOf = (r: VerifyResult): VerifyResult['findings'] => r.findings.filter((f) => f.severity === 'error');

/** What one transformation did to one capture: the new file and the original frame numbers
 *  (1-based) it removed or changed. */
interface Transformed {
  file: PcapFile;
  touched: Set<number>;
}

type Transform = (f: PcapFile, seed: number) => Transformed;

const all = (f: PcapFile): Set<number> => new Set(f.packets.map((_, i) => i + 1));

/** Frames whose bytes differ after the transformation (by content, in order). */
function changedFrames(before: PcapFile, after: PcapFile): Set<number> {
  const kept = new Set(after.packets.map((p) => p.data.toString('latin1')));
  const touched = new Set<number>();
  before.packets.forEach((p, i) => {
    if (!kept.has(p.data.toString('latin1'))) touched.add(i + 1);
  });
  return touched;
}

const TRANSFORMS: Record<string, Transform> = {
  'frames missing': (f, seed) => {
    const every = 5 + (seed % 9);
    const phase = seed % every;
    const touched = new Set<number>();
    const file = dropFrames(f, (i) => {
      const drop = i % every === phase;
      if (drop) touched.add(i + 1);
      return drop;
    });
    return { file, touched };
  },
  'started late': (f, seed) => {
    const from = Math.floor((f.packets.length * (1 + (seed % 4))) / 10);
    return { file: cutSpan(f, from, f.packets.length), touched: new Set(Array.from({ length: from }, (_, i) => i + 1)) };
  },
  'stopped early': (f, seed) => {
    const to = f.packets.length - Math.floor((f.packets.length * (1 + (seed % 4))) / 10);
    return { file: cutSpan(f, 0, to), touched: new Set(Array.from({ length: f.packets.length - to }, (_, i) => to + i + 1)) };
  },
  'snaplen 96': (f) => ({ file: snaplen(f, 96), touched: new Set(f.packets.flatMap((p, i) => (p.data.length > 96 ? [i + 1] : []))) }),
  'partial checksums': (f) => {
    const file = partialChecksums(f, () => true);
    return { file, touched: changedFrames(f, file) };
  },
  'GRO merged': (f) => {
    const file = mergeSegments(f, 64);
    return { file, touched: changedFrames(f, file) };
  },
  'TSO segmented': (f, seed) => {
    const file = splitSegments(f, 8 + (seed % 3) * 8);
    return { file, touched: changedFrames(f, file) };
  },
};

const tmpRoot = mkdtempSync(path.join(os.tmpdir(), 'lvsaudit-artifacts-'));
afterAll(() => rmSync(tmpRoot, { recursive: true, force: true }));

const RUNS = Number(process.env.LVSAUDIT_ARTIFACT_RUNS ?? 3);

describe('production capture artifacts keep the verdict', () => {
  const list = sets();
  it('finds the committed capture sets', () => {
    expect(list.length).toBeGreaterThan(40);
  });

  for (const s of list) {
    describe(s.name, () => {
      let baseline: VerifyResult | null = null;
      const base = async (): Promise<VerifyResult> => (baseline ??= await run(s.dir, s.files, s.profile));

      for (const [name, transform] of Object.entries(TRANSFORMS)) {
        it(name, async () => {
          const b = await base();
          const faultRules = new Set(errorsOf(b).map((f) => f.rule));
          await fc.assert(
            fc.asyncProperty(fc.integer({ min: 0, max: s.files.length - 1 }), fc.nat(1000), async (which, seed) => {
              const target = s.files[which]!;
              const before = readPcap(readFileSync(path.join(s.dir, target)));
              const t = transform(before, seed);
              const dir = mkdtempSync(path.join(tmpRoot, 'set-'));
              try {
                for (const f of [...s.files, 'service.conf']) if (f !== target) copyFileSync(path.join(s.dir, f), path.join(dir, f));
                writeFileSync(path.join(dir, target), writePcap(t.file));
                const r = await run(dir, s.files, s.profile);
                const errors = errorsOf(r);
                const context = `${s.name}: ${name} on ${target} (seed ${seed}, ${t.touched.size} frames touched)`;
                if (faultRules.size === 0) {
                  expect(errors.map((e) => `${e.rule}: ${e.message}`), context).toEqual([]);
                  return;
                }
                // The fault's rules whose evidence the transformation left alone must still fire.
                const surviving = [...faultRules].filter((rule) =>
                  errorsOf(b).some((f) => f.rule === rule && f.evidence.length > 0 && f.evidence.every((e) => path.basename(e.capture) !== target || !t.touched.has(e.frame))),
                );
                const found = new Set(errors.map((e) => e.rule));
                expect(surviving.filter((rule) => !found.has(rule)), context).toEqual([]);
              } finally {
                rmSync(dir, { recursive: true, force: true });
              }
            }),
            { numRuns: RUNS, seed: 16 },
          );
        });
      }
    });
  }
});

/**
 * The director's capture alone (`tcpdump -i any` on the director, where most audits start):
 * a conformant set stays free of errors when that capture starts late, stops early or is cut to
 * a snaplen, although no other point can confirm what the director forwarded. (Frames missing
 * from it are not here: where the flow proves nothing — a UDP datagram, a DR connection's
 * last packets, whose answers never pass the director — a missing egress copy is reported.)
 */
describe('the director\'s capture alone keeps a clean verdict', () => {
  const clean = sets().filter((s) => s.files.some((f) => f.startsWith('director')));
  for (const s of clean) {
    const director = s.files.filter((f) => f.startsWith('director'));
    for (const name of ['started late', 'stopped early', 'snaplen 96'] as const) {
      it(`${s.name}: ${name}`, async () => {
        const base = await run(s.dir, s.files, s.profile, true);
        if (errorsOf(base).length > 0) return;
        await fc.assert(
          fc.asyncProperty(fc.integer({ min: 0, max: director.length - 1 }), fc.nat(1000), async (which, seed) => {
            const target = director[which]!;
            const t = TRANSFORMS[name]!(readPcap(readFileSync(path.join(s.dir, target))), seed);
            const dir = mkdtempSync(path.join(tmpRoot, 'dir-'));
            try {
              for (const f of [...director, 'service.conf']) if (f !== target) copyFileSync(path.join(s.dir, f), path.join(dir, f));
              writeFileSync(path.join(dir, target), writePcap(t.file));
              const r = await run(dir, s.files, s.profile, true);
              expect(errorsOf(r).map((e) => `${e.rule}: ${e.message}`), `${s.name}: ${name} on ${target} (seed ${seed})`).toEqual([]);
            } finally {
              rmSync(dir, { recursive: true, force: true });
            }
          }),
          { numRuns: RUNS, seed: 61 },
        );
      });
    }
  }
});
