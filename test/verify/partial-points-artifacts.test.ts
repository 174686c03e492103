/**
 * Production captures come in incomplete sets: the director captured on one interface only, a
 * real server not captured at all, the client's capture stopped before the end — and each file
 * with its own artifacts (frames tcpdump dropped, a late start, snaplen, checksum offload,
 * GRO/TSO, a port mirror's duplicates, multi-queue reordering, 802.1Q tags, `-i any` cooked
 * headers, a ring buffer of several files, pcapng with drop counters). Over every committed
 * capture set whose whole is free of errors, fast-check picks which capture files are given
 * (the client's always) and transforms each one its own way (test/helpers/capture-transform.ts,
 * after ../shared/spec/capture-artifacts.md): verify must report no error. What the points
 * given cannot show is "not evaluated" or a capture note.
 *
 * Left out on purpose: frames dropped from the director's capture where no other point covers
 * the packet (the client's capture cut short, or the real server's not given). A pcap file does
 * not record tcpdump's drops, and then the director's capture is the only witness: a packet it
 * shows arriving and not leaving is reported. A pcapng file whose statistics blocks count the
 * frames dumpcap missed is not left out: its absences are then no evidence.
 */
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import {
  asPcapng,
  cooked,
  cutSpan,
  dropFrames,
  mergeSegments,
  mirrorDuplicates,
  partialChecksums,
  queueReorder,
  readPcap,
  requestMacs,
  ringFiles,
  snaplen,
  splitSegments,
  vlanTagged,
  writePcap,
  type PcapFile,
} from '../helpers/capture-transform.js';
import { pointsOf, verifyPoints, verifySets } from '../helpers/verify-sets.js';
import type { VerifyInput } from '../../src/verify/verify.js';

/** A transform gives the file (classic pcap, or the bytes of another format), or the files one
 *  point's capture was written to; `own` are the MACs of the host that took the capture. */
const TRANSFORMS: Record<string, (f: PcapFile, seed: number, own: ReadonlySet<string>) => PcapFile | PcapFile[] | Buffer> = {
  pristine: (f) => f,
  'frames missing': (f, seed) => {
    const every = 5 + (seed % 9);
    return dropFrames(f, (i) => i % every === seed % every);
  },
  // §3: the same, written by dumpcap, whose statistics block counts what it missed.
  'frames missing (pcapng counts them)': (f, seed) => {
    const every = 5 + (seed % 9);
    const kept = dropFrames(f, (i) => i % every === seed % every);
    const missed = f.packets.length - kept.packets.length;
    return asPcapng(kept, seed % 2 === 0 ? { ifdrop: missed, osdrop: 0 } : { ifdrop: 0, osdrop: missed });
  },
  'started late': (f, seed) => cutSpan(f, Math.floor((f.packets.length * (1 + (seed % 4))) / 10), f.packets.length),
  'stopped early': (f, seed) => cutSpan(f, 0, f.packets.length - Math.floor((f.packets.length * (1 + (seed % 4))) / 10)),
  'snaplen 96': (f) => snaplen(f, 96),
  'partial checksums': (f) => partialChecksums(f, () => true),
  'GRO merged': (f) => mergeSegments(f, 64),
  // One wire MSS for every point of a set: a point that shows larger pieces shows the wire's
  // segments merged again (capture-transform.ts splitSegments).
  'TSO segmented': (f, seed) => splitSegments(f, 8 + (seed % 3) * 8, undefined, 8),
  // §4: a mirror copying both directions, every frame or a share of them, maybe truncating.
  'mirror duplicates': (f, seed) => mirrorDuplicates(f, (i) => seed % 2 === 0 || i % 3 === seed % 3, 1000 + (seed % 5) * 2000, seed % 4 === 1 ? 64 : Infinity),
  'queues reordered': (f, seed) => queueReorder(f, 5000 + (seed % 4) * 10000, seed + 1),
  'VLAN tagged': (f, seed) => vlanTagged(f, 1 + (seed % 4000)),
  'cooked (any)': (f, seed, own) => cooked(f, seed % 2 === 0 ? 1 : 2, own),
  'ring buffer': (f, seed) => ringFiles(f, 2 + (seed % 3)),
};

/**
 * Each capture's host's MACs, from the requests of the whole set: the client sends them, a real
 * server receives them, the director receives them (on MACs that are no real server's) and sends
 * them on (the MACs the real servers see them come from). A real server's capture that shows
 * requests to several MACs was taken on a shared segment, not by one host: none.
 */
function hostMacs(dir: string, files: readonly string[]): Map<string, Set<string>> {
  const req = new Map(files.map((f) => [f, requestMacs(readPcap(readFileSync(path.join(dir, f))))] as const));
  const rs = files.filter((f) => /^rs\d+\./.test(f));
  const rsMacs = new Set(rs.flatMap((f) => [...req.get(f)!.dst]));
  const director = new Set(rs.flatMap((f) => [...req.get(f)!.src]));
  for (const f of files.filter((f) => f.startsWith('director'))) for (const m of req.get(f)!.dst) if (!rsMacs.has(m)) director.add(m);
  return new Map(files.map((f) => [f, f.startsWith('client.') ? req.get(f)!.src : f.startsWith('director') ? director : req.get(f)!.dst.size === 1 ? req.get(f)!.dst : new Set<string>()] as const));
}

/** The capture points of the files given, each original file standing for the files it became. */
function pointsOfWritten(dir: string, written: ReadonlyMap<string, string[]>): VerifyInput['points'] {
  const points: VerifyInput['points'] = [];
  const of = (f: string): string[] => written.get(f)!.map((w) => path.join(dir, w));
  const files = [...written.keys()];
  for (const f of files.filter((f) => f.startsWith('client.'))) points.push({ kind: 'client', files: of(f) });
  const director = files.filter((f) => f.startsWith('director'));
  if (director.length > 0) points.push({ kind: 'director', files: director.flatMap(of) });
  for (const f of files.filter((f) => /^rs\d+\./.test(f))) points.push({ kind: 'rs', files: of(f) });
  return points;
}
const NAMES = Object.keys(TRANSFORMS);

const tmpRoot = mkdtempSync(path.join(os.tmpdir(), 'lvsaudit-partial-'));
afterAll(() => rmSync(tmpRoot, { recursive: true, force: true }));

// Eight runs per LVSAUDIT_ARTIFACT_RUNS unit: with fourteen transforms to draw from, each is
// drawn about as often as when there were eight at four runs.
const RUNS = Number(process.env.LVSAUDIT_ARTIFACT_RUNS ?? 3) * 8;

describe('an incomplete set of production captures reports no false error', () => {
  const sets = verifySets();
  it('finds the committed capture sets', () => {
    expect(sets.length).toBeGreaterThan(40);
  });

  it.each(sets.map((s) => [s.name, s] as const))('%s', async (_name, s) => {
    const whole = await verifyPoints(s.dir, pointsOf(s.dir, s.files), s.profile);
    if (whole.findings.some((f) => f.severity === 'error')) return;
    const own = hostMacs(s.dir, s.files);
    const choice = fc.tuple(fc.boolean(), fc.constantFrom(...NAMES), fc.nat(1000));
    await fc.assert(
      fc.asyncProperty(fc.array(choice, { minLength: s.files.length, maxLength: s.files.length }), async (choices) => {
        const given = s.files.filter((f, i) => f === 'client.pcap' || choices[i]![0]);
        const how = new Map(s.files.map((f, i) => [f, choices[i]!] as const));
        // Counted drops leave the director's absences unjudged.
        const directorDrops = given.some((f) => f.startsWith('director') && how.get(f)![1] === 'frames missing');
        const clientCut = ['started late', 'stopped early'].includes(how.get('client.pcap')![1]);
        const rsMissing = s.files.some((f) => /^rs\d+\.pcap$/.test(f) && !given.includes(f));
        fc.pre(!(directorDrops && (clientCut || rsMissing)));
        const dir = mkdtempSync(path.join(tmpRoot, 'set-'));
        try {
          copyFileSync(path.join(s.dir, 'service.conf'), path.join(dir, 'service.conf'));
          const written = new Map<string, string[]>();
          for (const f of given) {
            const [, name, seed] = how.get(f)!;
            const out = TRANSFORMS[name]!(readPcap(readFileSync(path.join(s.dir, f))), seed, own.get(f)!);
            const parts = Array.isArray(out) ? out : [out];
            // tcpdump -C names the files of a ring FILE, FILE1, FILE2…
            const names = parts.map((_, i) => (i === 0 ? f : `${f}${i}`));
            parts.forEach((p, i) => writeFileSync(path.join(dir, names[i]!), Buffer.isBuffer(p) ? p : writePcap(p)));
            written.set(f, names);
          }
          const r = await verifyPoints(dir, pointsOfWritten(dir, written), s.profile);
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
