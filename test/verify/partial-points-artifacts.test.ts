/**
 * Production captures come in incomplete sets: the director captured on one interface only, a
 * real server not captured at all, the client's capture stopped before the end — and each file
 * with its own artifacts (frames tcpdump dropped, a late start, snaplen, checksum offload,
 * GRO/TSO). Over every committed capture set whose whole is free of errors, fast-check picks
 * which capture files are given (the client's always) and transforms each one its own way
 * (test/helpers/capture-transform.ts, after ../shared/spec/capture-artifacts.md): verify must
 * report no error. What the points given cannot show is "not evaluated" or a capture note.
 *
 * Left out on purpose: frames dropped from the director's capture where no other point covers
 * the packet (the client's capture cut short, or the real server's not given). A pcap file does
 * not record tcpdump's drops, and then the director's capture is the only witness: a packet it
 * shows arriving and not leaving is reported.
 */
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { cutSpan, dropFrames, mergeSegments, partialChecksums, readPcap, snaplen, splitSegments, writePcap, type PcapFile } from '../helpers/capture-transform.js';
import { pointsOf, verifyPoints, verifySets } from '../helpers/verify-sets.js';

const TRANSFORMS: Record<string, (f: PcapFile, seed: number) => PcapFile> = {
  pristine: (f) => f,
  'frames missing': (f, seed) => {
    const every = 5 + (seed % 9);
    return dropFrames(f, (i) => i % every === seed % every);
  },
  'started late': (f, seed) => cutSpan(f, Math.floor((f.packets.length * (1 + (seed % 4))) / 10), f.packets.length),
  'stopped early': (f, seed) => cutSpan(f, 0, f.packets.length - Math.floor((f.packets.length * (1 + (seed % 4))) / 10)),
  'snaplen 96': (f) => snaplen(f, 96),
  'partial checksums': (f) => partialChecksums(f, () => true),
  'GRO merged': (f) => mergeSegments(f, 64),
  // One wire MSS for every point of a set: a point that shows larger pieces shows the wire's
  // segments merged again (capture-transform.ts splitSegments).
  'TSO segmented': (f, seed) => splitSegments(f, 8 + (seed % 3) * 8, undefined, 8),
};
const NAMES = Object.keys(TRANSFORMS);

const tmpRoot = mkdtempSync(path.join(os.tmpdir(), 'lvsaudit-partial-'));
afterAll(() => rmSync(tmpRoot, { recursive: true, force: true }));

const RUNS = Number(process.env.LVSAUDIT_ARTIFACT_RUNS ?? 3) * 4;

describe('an incomplete set of production captures reports no false error', () => {
  const sets = verifySets();
  it('finds the committed capture sets', () => {
    expect(sets.length).toBeGreaterThan(40);
  });

  it.each(sets.map((s) => [s.name, s] as const))('%s', async (_name, s) => {
    const whole = await verifyPoints(s.dir, pointsOf(s.dir, s.files), s.profile);
    if (whole.findings.some((f) => f.severity === 'error')) return;
    const choice = fc.tuple(fc.boolean(), fc.constantFrom(...NAMES), fc.nat(1000));
    await fc.assert(
      fc.asyncProperty(fc.array(choice, { minLength: s.files.length, maxLength: s.files.length }), async (choices) => {
        const given = s.files.filter((f, i) => f === 'client.pcap' || choices[i]![0]);
        const how = new Map(s.files.map((f, i) => [f, choices[i]!] as const));
        const directorDrops = given.some((f) => f.startsWith('director') && how.get(f)![1] === 'frames missing');
        const clientCut = ['started late', 'stopped early'].includes(how.get('client.pcap')![1]);
        const rsMissing = s.files.some((f) => /^rs\d+\.pcap$/.test(f) && !given.includes(f));
        fc.pre(!(directorDrops && (clientCut || rsMissing)));
        const dir = mkdtempSync(path.join(tmpRoot, 'set-'));
        try {
          copyFileSync(path.join(s.dir, 'service.conf'), path.join(dir, 'service.conf'));
          for (const f of given) {
            const [, name, seed] = how.get(f)!;
            writeFileSync(path.join(dir, f), writePcap(TRANSFORMS[name]!(readPcap(readFileSync(path.join(s.dir, f))), seed)));
          }
          const r = await verifyPoints(dir, pointsOf(dir, given), s.profile);
          const context = given.map((f) => `${f}: ${how.get(f)![1]} (seed ${how.get(f)![2]})`).join(', ');
          expect(r.findings.filter((f) => f.severity === 'error').map((e) => `${e.rule}: ${e.message}`), `${s.name} with ${context}`).toEqual([]);
        } finally {
          rmSync(dir, { recursive: true, force: true });
        }
      }),
      { numRuns: RUNS, seed: 23 },
    );
  });
});
