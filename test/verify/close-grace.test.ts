/**
 * Pass 2 first judges a closed TCP connection a short grace after its last packet (correlate/prepare.ts
 * closeGrace) instead of two windows (fullGrace), which keeps far fewer records in memory; a
 * record that the full grace would still have joined to a judged connection (and any ICMP error
 * or fragment at the director, which rules read when they judge) stops pass 2, and the run is
 * redone with the full grace. So the report must be the full grace's, whatever the grace.
 *
 * Checked through the CLI on every committed capture set: the default grace, and a grace of
 * 1 µs (LVSAUDIT_CLOSE_GRACE_MS, a test hook: pass 2 never goes below 2 ms by itself), which
 * judges every connection at the first sweep after it closes. Sweeps fall every sixteenth of a
 * window, so at the default window (1 s) the last copies of most fixtures are in by then; a
 * 5 ms window (sweeps every 0.3 ms, both runs at that window) makes most runs stop and start
 * again, which exercises the redo path and the late-record test on every set, on one thread
 * and split over two. Only the live-set peaks may differ.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { prepare, type VerifyInput } from '../../src/verify/correlate/prepare.js';
import { parseServiceConfig } from '../../src/verify/service/index.js';
import { captureSets, makeVerifySet, pointArgs } from '../helpers/capture-sets.js';
import { repoRoot } from '../helpers/env.js';

const cli = path.join(repoRoot, 'bin', 'lvsaudit.js');

function args(dir: string): string[] {
  return ['verify', '--config', path.join(dir, 'service.conf'), ...pointArgs(dir), '--format', 'json'];
}

interface Run {
  status: number | null;
  /** The JSON report without the live-set peaks, which depend on the grace. */
  report: unknown;
  /** stats.maxLivePackets: the most records held at once. */
  peak: number;
  debug: string;
}

function run(argv: string[], grace: string | null, threads = 1): Run {
  const env: Record<string, string | undefined> = { ...process.env, LVSAUDIT_THREADS: String(threads), LVSAUDIT_PARALLEL_DEBUG: '1' };
  if (grace === null) delete env.LVSAUDIT_CLOSE_GRACE_MS;
  else env.LVSAUDIT_CLOSE_GRACE_MS = grace;
  const r = spawnSync(process.execPath, [cli, ...argv], { encoding: 'utf8', env });
  const doc = JSON.parse(r.stdout) as { stats: Record<string, unknown> };
  const peak = Number(doc.stats.maxLivePackets);
  delete doc.stats.maxLiveConnections;
  delete doc.stats.maxLivePackets;
  return { status: r.status, report: doc, peak, debug: r.stderr };
}

const REDONE = 'pass 1 and 2 run again with the full grace';
const FOR_ANSWERS = `${REDONE}: the director answered with an ICMP error or fragmented a packet`;
const all = captureSets();

describe('the grace pass 2 tries first', () => {
  const dir = captureSets().find((s) => s.name === 'verify/nat-ok')!.dir;
  const conf = path.join(dir, 'service.conf');
  const input = (windowMs: number): VerifyInput => ({
    services: parseServiceConfig(readFileSync(conf, 'utf8'), conf),
    points: [
      { kind: 'client', files: [path.join(dir, 'client.pcap')] },
      { kind: 'director', files: [path.join(dir, 'director-eth0.pcap'), path.join(dir, 'director-eth1.pcap')] },
      { kind: 'rs', files: [path.join(dir, 'rs1.pcap')] },
    ],
    profile: 'linux',
    windowMs,
  });
  const grace = async (windowMs: number, extra: Partial<VerifyInput> = {}): Promise<number> => (await prepare({ ...input(windowMs), ...extra })).closeGraceNs;

  it('is a tenth of the window, never below 2 ms (the end-of-capture slack), never above two windows', async () => {
    const saved = process.env.LVSAUDIT_CLOSE_GRACE_MS;
    delete process.env.LVSAUDIT_CLOSE_GRACE_MS;
    try {
      expect(await grace(1000)).toBe(100e6);
      expect(await grace(5)).toBe(2e6);
      expect(await grace(0.5)).toBe(1e6);
      expect(await grace(1000, { fullGrace: true })).toBe(2000e6);
    } finally {
      if (saved !== undefined) process.env.LVSAUDIT_CLOSE_GRACE_MS = saved;
    }
  });
});

describe('closed connections judged before the full grace', () => {
  let tinyRedone = 0;
  let tinyRuns = 0;

  for (const s of all) {
    it(`${s.name}: the default grace and a 1 µs grace report what the full grace reports`, () => {
      const argv = args(s.dir);
      const full = run(argv, 'full');
      expect(full.debug).not.toContain(REDONE);
      for (const grace of [null, '0.001']) {
        const r = run(argv, grace);
        expect(r.status).toBe(full.status);
        expect(r.report).toEqual(full.report);
      }
      const narrow = [...argv, '--window', '5'];
      const fullNarrow = run(narrow, 'full');
      const tiny = run(narrow, '0.001');
      expect(tiny.status).toBe(fullNarrow.status);
      expect(tiny.report).toEqual(fullNarrow.report);
      tinyRuns++;
      if (tiny.debug.includes(REDONE)) tinyRedone++;
    });
  }

  it('a 1 µs grace at a 5 ms window really stops most runs (else the comparison proves little)', () => {
    expect(tinyRuns).toBe(all.length);
    expect(tinyRedone).toBeGreaterThan(all.length / 2);
  });

  it('a run with ICMP errors or fragments from the director is judged again with the full grace (rules read them at judgement)', () => {
    // The replayed real-kernel sets include the director's ICMP answers and fragments.
    const r = run(args(all.find((s) => s.name === 'replay/nat-linux')!.dir), null);
    expect(r.debug).toContain(FOR_ANSWERS);
  });

  it('split over two threads: a helper that stops makes the whole run start again, same report', () => {
    for (const name of ['lab/nat', 'verify/fault-rr-order', 'lab/dr']) {
      const argv = [...args(all.find((s) => s.name === name)!.dir), '--window', '5'];
      const full = run(argv, 'full', 1);
      const r = run(argv, '0.001', 2);
      expect(r.debug).toContain('pass 2 split in 2 shares');
      expect(r.debug).toContain(REDONE);
      expect(r.status).toBe(full.status);
      expect(r.report).toEqual(full.report);
    }
  });

  describe('a generated set of 400 NAT connections (the bench set\'s shape)', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'lvsaudit-grace-'));
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    it('is judged at the default grace without starting again, with fewer records held', () => {
      makeVerifySet(dir, '--bulk', '400');
      const argv = args(dir);
      const full = run(argv, 'full');
      const short = run(argv, null);
      expect(short.debug).not.toContain(REDONE);
      expect(short.report).toEqual(full.report);
      expect(short.peak).toBeLessThan(full.peak / 2);
    });
  });
});
