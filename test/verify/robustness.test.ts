/**
 * Bad and partial input never crashes verify: a file that is not a capture is an input error
 * naming the file (CLI exit 2); a capture cut mid-record is analysed up to the cut with a
 * capture.truncated-file warning; any subset of points, with or without the config, gives a
 * result whose verdict follows its error findings and whose not-evaluated rules are never also
 * failed; --ignore removes exactly the ignored rule.
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CaptureError } from '../../src/decode/capture/index.js';
import { parseServiceConfig } from '../../src/verify/service/index.js';
import { verify, type VerifyInput } from '../../src/verify/verify.js';
import { hasCommand, need } from '../helpers/env.js';
import { fixturesDir, runSet } from './fixture-util.js';

const conf = (set: string) => {
  const p = path.join(fixturesDir, set, 'service.conf');
  return parseServiceConfig(readFileSync(p, 'utf8'), p);
};

describe('bad input', () => {
  it('a file that is not a capture is a CaptureError naming it', async () => {
    const tmp = mkdtempSync(path.join(os.tmpdir(), 'verify-bad-'));
    try {
      const bogus = path.join(tmp, 'notes.pcap');
      writeFileSync(bogus, 'this is not a capture file at all\n');
      const run = verify({ services: conf('nat-ok'), profile: 'linux', points: [{ kind: 'client', files: [bogus] }] });
      await expect(run).rejects.toBeInstanceOf(CaptureError);
      await expect(run).rejects.toThrow(/notes\.pcap/);
      await expect(
        verify({ services: conf('nat-ok'), profile: 'linux', points: [{ kind: 'client', files: [path.join(tmp, 'missing.pcap')] }] }),
      ).rejects.toThrow(/missing\.pcap/);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });

  it('a capture cut mid-record is analysed up to the cut, with a warning', async () => {
    const tmp = mkdtempSync(path.join(os.tmpdir(), 'verify-cut-'));
    try {
      const src = path.join(fixturesDir, 'nat-ok');
      const files = ['client.pcap', 'director-eth0.pcap', 'director-eth1.pcap', 'rs1.pcap', 'rs2.pcap'];
      for (const f of files) copyFileSync(path.join(src, f), path.join(tmp, f));
      const dir = path.join(tmp, 'director-eth0.pcap');
      truncateSync(dir, statSync(dir).size - 37);
      const r = await verify({
        services: conf('nat-ok'),
        profile: 'linux',
        points: [
          { kind: 'client', files: [path.join(tmp, 'client.pcap')] },
          { kind: 'director', files: [dir, path.join(tmp, 'director-eth1.pcap')] },
          { kind: 'rs', files: [path.join(tmp, 'rs1.pcap')] },
          { kind: 'rs', files: [path.join(tmp, 'rs2.pcap')] },
        ],
      });
      const cut = r.findings.filter((f) => f.rule === 'capture.truncated-file');
      expect(cut).toHaveLength(1);
      expect(cut[0]!.evidence[0]!.capture).toBe(dir);
      expect(r.stats.connections).toBe(6);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });
});

describe('any subset of points', () => {
  it('verdict follows the error findings; not-evaluated rules never failed', async () => {
    const sets = ['nat-ok', 'dr-ok', 'tun-ok', 'fault-ttl-not-decremented', 'fault-nat-reply-bypass', 'fault-dr-reply-from-rip', 'fault-persistence'];
    const all = ['client', 'director', 'rs1', 'rs2'] as const;
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...sets),
        fc.subarray([...all], { minLength: 1 }),
        fc.boolean(),
        async (set, pts, withConfig) => {
          const r = await runSet(set, { points: pts, config: withConfig });
          const errors = r.findings.filter((f) => f.severity === 'error');
          expect(r.verdict).toBe(errors.length > 0 ? 'fail' : r.noDataReason !== undefined ? 'no-data' : 'pass');
          // A run that judged nothing never says PASS (a real-server capture alone of a NAT
          // service, say, holds no connection the service's rules can follow).
          if (r.verdict === 'pass') {
            expect(r.stats.connections).toBeGreaterThan(0);
            expect(r.rules.some((t) => t.checked > 0 && t.rule.includes('.') && !t.rule.startsWith('capture.'))).toBe(true);
          }
          if (r.stats.connections === 0) expect(r.verdict).not.toBe('pass');
          const ne = new Set(r.notEvaluated.map((n) => n.rule));
          for (const f of r.findings) expect(ne.has(f.rule), f.rule).toBe(false);
          for (const t of r.rules) if (t.status === 'not-evaluated') expect(ne.has(t.rule)).toBe(true);
          // A conformant set stays conformant on any subset of its points.
          if (!set.startsWith('fault-') && withConfig) expect(errors).toEqual([]);
        },
      ),
      { numRuns: 40, seed: 4242 },
    );
  });

  it('--ignore removes exactly the ignored rules', async () => {
    const base = await runSet('fault-nat-reply-bypass');
    const input: VerifyInput = {
      services: conf('fault-nat-reply-bypass'),
      profile: 'linux',
      ignore: ['nat.rip-leak'],
      points: base.points.map((p) =>
        p.point === 'client' ? { kind: 'client' as const, files: p.captures } : p.point === 'director' ? { kind: 'director' as const, files: p.captures } : { kind: 'rs' as const, files: p.captures },
      ),
    };
    const r = await verify(input);
    expect(r.findings.some((f) => f.rule === 'nat.rip-leak')).toBe(false);
    expect(r.findings.some((f) => f.rule === 'nat.reply-bypass')).toBe(true);
    expect(r.rules.some((t) => t.rule === 'nat.rip-leak')).toBe(false);
  });
});

describe('captures started at different times', () => {
  it.skipIf(!need(hasCommand('editcap'), 'editcap (wireshark) not installed'))(
    'a director capture that starts later still gets its +3.7 s clock offset (wider second sample)',
    async () => {
      const tmp = mkdtempSync(path.join(os.tmpdir(), 'verify-late-'));
      try {
        const src = path.join(fixturesDir, 'nat-clock-offset');
        // The director captures start at the 4th connection (frame 25 of 48 on each leg).
        for (const f of ['director-eth0.pcap', 'director-eth1.pcap']) {
          execFileSync('editcap', ['-F', 'pcap', '-r', path.join(src, f), path.join(tmp, f), '25-48'], { stdio: 'ignore' });
        }
        const r = await verify({
          services: conf('nat-clock-offset'),
          profile: 'linux',
          // Tiny samples: the client's first 12 records and the director's first 3 share no packet.
          sampleRecords: 3,
          points: [
            { kind: 'client', files: [path.join(src, 'client.pcap')] },
            { kind: 'director', files: [path.join(tmp, 'director-eth0.pcap'), path.join(tmp, 'director-eth1.pcap')] },
            { kind: 'rs', files: [path.join(src, 'rs1.pcap')] },
            { kind: 'rs', files: [path.join(src, 'rs2.pcap')] },
          ],
        });
        const dir = r.points.find((p) => p.point === 'director')!;
        expect(Math.abs(dir.clockOffsetMs! - 3700)).toBeLessThan(0.2);
        expect(r.verdict).toBe('pass');
        expect(r.findings.filter((f) => f.severity !== 'info')).toEqual([]);
      } finally {
        rmSync(tmp, { recursive: true, force: true });
      }
    },
  );
});
