/**
 * A `verify` run split over threads by client endpoint (src/verify/parallel/split.ts, partition.ts)
 * reports exactly what one thread reports: the same findings in the same order, with the same
 * evidence, tallies and ladders. Checked through the CLI (the helper thread runs the compiled
 * bundle) on every committed NAT/DR/TUN capture set — the synthetic faults, the real-kernel lab
 * and replay captures — with and without a configuration, and on a generated set of 400
 * connections, where the scheduling rules judge an rr order assembled from both shares.
 *
 * The only fields allowed to differ are the live-set peaks (stats.maxLiveConnections and
 * maxLivePackets): a split run reports the sum of its shares' peaks.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { captureSets, makeVerifySet, pointArgs } from '../helpers/capture-sets.js';
import { repoRoot } from '../helpers/env.js';

const cli = path.join(repoRoot, 'bin', 'lvsaudit.js');

interface Run {
  status: number | null;
  stdout: string;
  debug: string;
}

function run(args: string[], threads: number, env: Record<string, string> = {}): Run {
  const r = spawnSync(process.execPath, [cli, 'verify', ...args], {
    encoding: 'utf8',
    env: { ...process.env, LVSAUDIT_THREADS: String(threads), LVSAUDIT_PARALLEL_DEBUG: '1', ...env },
  });
  return { status: r.status, stdout: r.stdout, debug: r.stderr };
}

/** The JSON report without the two peaks a split run sums over its shares. */
function comparable(json: string): unknown {
  const doc = JSON.parse(json) as { stats: Record<string, unknown> };
  delete doc.stats.maxLiveConnections;
  delete doc.stats.maxLivePackets;
  return doc;
}

function expectSame(args: string[], format: 'json' | 'text', mustSplit = true): void {
  const one = run([...args, '--format', format], 1);
  const two = run([...args, '--format', format], 2);
  expect(one.debug).toContain('pass 2 on one thread');
  // The split must really have happened, or the comparison proves nothing (an inferred run
  // without a client SYN has no service to split by).
  if (mustSplit) expect(two.debug).toContain('pass 2 split in 2 shares');
  expect(two.debug).not.toContain('run on the main thread');
  expect(two.status).toBe(one.status);
  if (format === 'json') expect(comparable(two.stdout)).toEqual(comparable(one.stdout));
  else expect(two.stdout).toBe(one.stdout);
}

const all = captureSets();
// FullNAT rewrites the client address: its runs are never split (checked below). A FullNAT
// service is one whose real servers are forwarded with -b (ipvsadm-save) or whose keepalived
// lb_kind is FNAT / FULLNAT, whatever the set's name.
const isFullnat = (s: { dir: string }): boolean => /\s-b(\s|$)|lb_kind\s+(FNAT|FULLNAT)\b/im.test(readFileSync(path.join(s.dir, 'service.conf'), 'utf8'));
const splittable = all.filter((s) => !isFullnat(s));
const fullnat = all.find(isFullnat);

describe('verify split over two threads', () => {
  it('finds the committed capture sets', () => {
    expect(all.map((s) => s.name)).toEqual(expect.arrayContaining(['verify/nat-ok', 'verify/fault-rr-order', 'lab/nat', 'lab/dr', 'replay/dr-linux']));
  });

  for (const s of splittable) {
    it(`${s.name}: the same JSON report from one thread and from two`, () => {
      expectSame(['--config', path.join(s.dir, 'service.conf'), ...pointArgs(s.dir)], 'json');
    });
    it(`${s.name}: the same report with the service inferred`, () => {
      expectSame(pointArgs(s.dir), 'json', false);
    });
  }

  it('a helper that fails, or whose first pass disagrees, is replaced by the main thread: same report', () => {
    const dir = all.find((s) => s.name === 'verify/fault-rr-order')!.dir;
    const args = ['--config', path.join(dir, 'service.conf'), ...pointArgs(dir), '--format', 'json'];
    const one = run(args, 1);
    for (const fault of ['fail', 'disagree']) {
      const two = run(args, 2, { LVSAUDIT_HELPER_FAULT: fault });
      expect(two.debug).toContain('pass 2 split in 2 shares');
      expect(two.debug).toContain(fault === 'fail' ? 'share 1 of 2 run on the main thread: fault injected' : 'share 1 of 2 run on the main thread: its first pass disagreed');
      expect(two.status).toBe(one.status);
      expect(comparable(two.stdout)).toEqual(comparable(one.stdout));
    }
  });

  it('a client of the VIP sending from a real server\'s address and service port: pass 2 is redone on one thread, same report', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'lvsaudit-rs-client-'));
    try {
      makeVerifySet(dir, '--rs-client');
      const args = ['--config', path.join(dir, 'service.conf'), ...pointArgs(dir), '--format', 'json'];
      const one = run(args, 1);
      const two = run(args, 2);
      expect(two.debug).toContain('pass 2 run again on one thread: a client of the VIP sends from a service address or port');
      expect(two.status).toBe(one.status);
      expect(comparable(two.stdout)).toEqual(comparable(one.stdout));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  describe('a capture whose timestamps step back', () => {
    /** A copy of a classic little-endian µs pcap with frame `n` (1-based) moved `byUs` back in time. */
    function stepBack(src: string, dst: string, n: number, byUs: number): void {
      const b = readFileSync(src);
      expect(b.readUInt32LE(0)).toBe(0xa1b2c3d4);
      let off = 24;
      for (let i = 1; off + 16 <= b.length; i++) {
        if (i === n) {
          const t = b.readUInt32LE(off) * 1e6 + b.readUInt32LE(off + 4) - byUs;
          b.writeUInt32LE(Math.floor(t / 1e6), off);
          b.writeUInt32LE(t % 1e6, off + 4);
        }
        off += 16 + b.readUInt32LE(off + 8);
      }
      writeFileSync(dst, b);
    }

    const dir = mkdtempSync(path.join(tmpdir(), 'lvsaudit-step-'));
    afterAll(() => rmSync(dir, { recursive: true, force: true }));
    const set = all.find((s) => s.name === 'verify/fault-rr-order')!.dir;

    /** verify with 1 and 2 threads, director-eth0.pcap replaced by a copy whose frame 9 is `byUs` earlier. */
    function stepped(name: string, byUs: number): { director: string; one: Run; two: Run } {
      const original = path.join(set, 'director-eth0.pcap');
      const director = path.join(dir, name);
      stepBack(original, director, 9, byUs);
      const args = ['--config', path.join(set, 'service.conf'), ...pointArgs(set).map((a) => (a === original ? director : a)), '--format', 'json'];
      return { director, one: run(args, 1), two: run(args, 2) };
    }

    it('by less than the window: merged at the file\'s own pace, the same report from two threads', () => {
      // 700 µs back: before frames of the other captures it came after.
      const { one, two } = stepped('director-small.pcap', 700);
      expect(two.debug).toContain('pass 2 split in 2 shares');
      expect(two.debug).not.toContain('run again');
      expect(comparable(two.stdout)).toEqual(comparable(one.stdout));
    });

    it('by more than the window: pass 2 is redone on one thread, the same report', () => {
      const { director, one, two } = stepped('director-big.pcap', 5_000_000);
      expect(two.debug).toContain(`pass 2 run again on one thread: timestamps in ${director} step back by more than the window`);
      expect(comparable(two.stdout)).toEqual(comparable(one.stdout));
    });
  });

  it('a FullNAT run stays on one thread, and says why', () => {
    expect(fullnat).toBeDefined();
    const r = run(['--config', path.join(fullnat!.dir, 'service.conf'), ...pointArgs(fullnat!.dir), '--format', 'json'], 2);
    expect(r.debug).toContain('pass 2 on one thread: FullNAT rewrites the client address');
    expect(r.status === 0 || r.status === 1).toBe(true);
  });

  it('the same text report and ladder diagrams (--show)', () => {
    for (const name of ['verify/fault-ttl-not-decremented', 'lab/nat']) {
      const dir = all.find((s) => s.name === name)!.dir;
      expectSame(['--config', path.join(dir, 'service.conf'), ...pointArgs(dir), '--show', '1', '--all'], 'text');
    }
  });

  describe('a generated set of 400 NAT connections', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'lvsaudit-split-'));
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    it('is judged the same: 400 connections, rr order over both shares', () => {
      makeVerifySet(dir, '--bulk', '400');
      const args = ['--config', path.join(dir, 'service.conf'), ...pointArgs(dir)];
      expectSame(args, 'json');
      const doc = JSON.parse(run([...args, '--format', 'json'], 2).stdout) as { stats: { connections: number }; rules: { rule: string; status: string; checked: number }[] };
      expect(doc.stats.connections).toBe(400);
      const rr = doc.rules.find((r) => r.rule === 'sched.distribution');
      expect(rr?.status).toBe('pass');
      expect(rr!.checked).toBeGreaterThan(0);
    });
  });
});
