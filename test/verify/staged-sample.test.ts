/**
 * Pass 1 of verify first reads small samples (a thirty-second, then an eighth) and reads the full
 * one only when they leave a clock resting on fewer than 256 matched packets, or a real-server
 * capture that names no service address, while the files had more to give (src/verify/correlate/prepare.ts
 * settledBySample). What the staging may change is how many packets a clock offset rests on
 * (and so their spread); nothing else: findings, tallies, stats and ladders must equal those of the full sample.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseServiceConfig } from '../../src/verify/service/index.js';
import { verify, type VerifyInput } from '../../src/verify/verify.js';
import type { VerifyResult } from '../../src/verify/model/result.js';
import { expectedOf, fixturesDir, repoRoot, setNames } from './fixture-util.js';

let tmp = '';
beforeAll(() => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'verify-staged-'));
});
afterAll(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

function setPoints(dir: string): VerifyInput['points'] {
  const files = readdirSync(dir);
  return [
    { kind: 'client', files: [path.join(dir, 'client.pcap')] },
    { kind: 'director', files: files.filter((f) => f.startsWith('director')).sort().map((f) => path.join(dir, f)) },
    ...files.filter((f) => /^rs\d\.pcap$/.test(f)).sort().map((f) => ({ kind: 'rs' as const, files: [path.join(dir, f)] })),
  ];
}

const services = (dir: string) => parseServiceConfig(readFileSync(path.join(dir, 'service.conf'), 'utf8'), 'service.conf');

/** The result without what the sample size may change: how many matched packets each clock
 *  rests on, and their spread. */
function sansPairs(r: VerifyResult): unknown {
  const msg = (m: string): string => m.replace(/spread [\d.]+ ms over \d+ matched/, 'spread S ms over N matched');
  return {
    ...r,
    findings: r.findings.map((f) => (f.rule === 'capture.clock-offset' ? { ...f, message: msg(f.message) } : f)),
    clockOffsets: (r.clockOffsets ?? []).map((c) => ({ ...c, pairs: 0, spreadMs: 0 })),
  };
}

const offsetsOf = (r: VerifyResult): NonNullable<VerifyResult['clockOffsets']> => r.clockOffsets ?? [];
const pairsOf = (r: VerifyResult): number[] => offsetsOf(r).map((c) => c.pairs);

async function both(input: Omit<VerifyInput, 'stagedSample'>): Promise<{ staged: VerifyResult; full: VerifyResult }> {
  return { staged: await verify({ ...input, stagedSample: true }), full: await verify({ ...input, stagedSample: false }) };
}

describe('staged first pass', () => {
  let dir = '';
  beforeAll(() => {
    dir = path.join(tmp, 'bulk');
    // 300 NAT connections: 2400 client records, 1200 per director leg and per real server.
    execFileSync(process.execPath, [path.join(repoRoot, 'scripts', 'make-verify-fixtures.mjs'), '--bulk', '300', dir], { stdio: 'ignore' });
  });

  it('a small sample that pins every clock is used, and the result is the full sample\'s', async () => {
    // Sample 16000 → first stage 500 records per file (2000 for the client reference): the
    // files hold more, and 500 records give well over 256 matched packets per point.
    const { staged, full } = await both({ services: services(dir), points: setPoints(dir), profile: 'linux', sampleRecords: 16000 });
    expect(staged.verdict).toBe('pass');
    for (const n of pairsOf(staged)) expect(n).toBeGreaterThanOrEqual(256);
    // The staged run stopped early: fewer pairs behind the clocks than the full sample found.
    expect(pairsOf(staged).reduce((a, b) => a + b, 0)).toBeLessThan(pairsOf(full).reduce((a, b) => a + b, 0));
    expect(offsetsOf(staged)).toHaveLength(3);
    for (const [i, c] of offsetsOf(staged).entries()) expect(Math.abs(c.offsetMs - offsetsOf(full)[i]!.offsetMs)).toBeLessThan(0.001);
    expect(sansPairs(staged)).toEqual(sansPairs(full));
  });

  it('a first stage with too few matched packets is followed by the second (an eighth)', async () => {
    // Sample 4000 → first stage 125 records per file, which cannot give 256 pairs; second stage
    // 500 (2000 for the client reference), which does.
    const { staged, full } = await both({ services: services(dir), points: setPoints(dir), profile: 'linux', sampleRecords: 4000 });
    expect(staged.verdict).toBe('pass');
    // Not the first stage: 256 pairs or more need more than 125 records per file.
    for (const n of pairsOf(staged)) expect(n).toBeGreaterThanOrEqual(256);
    // Not the full sample: fewer pairs behind the clocks than it found.
    expect(pairsOf(staged).reduce((a, b) => a + b, 0)).toBeLessThan(pairsOf(full).reduce((a, b) => a + b, 0));
    expect(sansPairs(staged)).toEqual(sansPairs(full));
  });

  it('small samples with too few matched packets are replaced by the full one (identical result)', async () => {
    // Sample 400 → stages of 12 and 50 records per file: fewer than 256 pairs, the files hold more.
    const { staged, full } = await both({ services: services(dir), points: setPoints(dir), profile: 'linux', sampleRecords: 400 });
    expect(pairsOf(full).some((n) => n > 50)).toBe(true);
    expect(staged).toEqual(full);
  });

  it.each(setNames())('fixture set %s: identical with and without staging', async (name) => {
    const d = path.join(fixturesDir, name);
    const { staged, full } = await both({ services: services(d), points: setPoints(d), profile: expectedOf(name).profile });
    expect(staged).toEqual(full);
  });
});
