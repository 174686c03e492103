/**
 * Pass 2 read on a feeder thread (verify/parallel/feeder.ts) gives the report of pass 2 read on
 * the judging thread itself, byte for byte, stats included: on every committed capture set
 * (NAT, DR, TUN, FullNAT, UDP, lab, the replayed real-kernel sets with the director's ICMP
 * answers), with a tiny grace and window that make most runs stop and start again with the full
 * grace, on a generated set big enough for the shared ring to wrap around many times, and in
 * the text report with ladder diagrams. A feeder that fails, or ends without a word, after it
 * sent records leaves the report as it is (the run is redone on one thread); a capture error
 * met by the feeder is the run's one-line error and exit 2, as on one thread.
 *
 * Through the CLI (the feeder thread is the compiled dist/ code); LVSAUDIT_FEEDER forces it on
 * and off, since these captures are below the size that turns it on by itself.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { captureSets, makeVerifySet, pointArgs } from '../helpers/capture-sets.js';
import { repoRoot } from '../helpers/env.js';

const cli = path.join(repoRoot, 'bin', 'lvsaudit.js');

function args(dir: string, ...more: string[]): string[] {
  return ['verify', '--config', path.join(dir, 'service.conf'), ...pointArgs(dir), ...more];
}

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

function run(argv: string[], feeder: boolean, env: Record<string, string> = {}): Run {
  const r = spawnSync(process.execPath, [cli, ...argv], {
    encoding: 'utf8',
    env: { ...process.env, LVSAUDIT_FEEDER: feeder ? '1' : '0', LVSAUDIT_PARALLEL_DEBUG: '1', ...env },
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

const FED = 'pass 2 reads on a feeder thread';
/** A ring of 4 batches (LVSAUDIT_FEEDER_SLOTS; 96 by default). */
const SMALL_RING = { LVSAUDIT_FEEDER_SLOTS: '4' };
const REDONE = 'pass 1 and 2 run again with the full grace';

describe('verify with pass 2 read on a feeder thread', () => {
  const tmp = mkdtempSync(path.join(tmpdir(), 'lvsaudit-feeder-'));
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  for (const set of captureSets()) {
    it(`${set.name}: the same report as read on the judging thread, also when pass 2 starts again`, () => {
      const json = args(set.dir, '--format', 'json');
      const own = run(json, false);
      const fed = run(json, true);
      expect(fed.stderr).toContain(FED);
      expect(own.stderr).not.toContain(FED);
      expect(fed.status).toBe(own.status);
      expect(fed.stdout).toBe(own.stdout);
      // A 5 ms window and a 1 µs grace: most sets stop pass 2 and run it again.
      const tiny = [...json, '--window', '5'];
      const grace = { LVSAUDIT_CLOSE_GRACE_MS: '0.001' };
      const ownTiny = run(tiny, false, grace);
      const fedTiny = run(tiny, true, grace);
      expect(fedTiny.stderr.includes(REDONE)).toBe(ownTiny.stderr.includes(REDONE));
      expect(fedTiny.status).toBe(ownTiny.status);
      expect(fedTiny.stdout).toBe(ownTiny.stdout);
    });
  }

  it('most committed sets do start pass 2 again at the tiny grace (the path above is exercised)', () => {
    const sets = captureSets();
    const redone = sets.filter((s) => run(args(s.dir, '--format', 'json', '--window', '5'), true, { LVSAUDIT_CLOSE_GRACE_MS: '0.001' }).stderr.includes(REDONE));
    expect(redone.length).toBeGreaterThan(sets.length / 2);
  });

  describe('a generated NAT set of 1 200 connections (38 400 records, 38 batches through a ring of 4: it wraps, the feeder waits for slots)', () => {
    const dir = path.join(tmp, 'bulk');
    makeVerifySet(dir, '--bulk', '1200');

    it('is judged the same, report and text ladders, by batches through the ring', () => {
      const json = args(dir, '--format', 'json');
      const own = run(json, false);
      const fed = run(json, true, SMALL_RING);
      const batches = /feeder thread: (\d+) batches/.exec(fed.stderr);
      expect(Number(batches?.[1])).toBeGreaterThan(4 * 8);
      expect(fed.status).toBe(0);
      expect(fed.stdout).toBe(own.stdout);
      const doc = JSON.parse(fed.stdout) as { stats: { connections: number; packetsCorrelated: number } };
      expect(doc.stats.connections).toBe(1200);
      const show = args(dir, '--show', 'all');
      expect(run(show, true, SMALL_RING).stdout).toBe(run(show, false).stdout);
    });

    for (const fault of ['fail', 'exit']) {
      it(`a feeder that ${fault === 'fail' ? 'fails' : 'ends without a word'} after its first batch: pass 2 is redone on one thread, same report`, () => {
        const json = args(dir, '--format', 'json');
        const fed = run(json, true, { LVSAUDIT_FEEDER_FAULT: fault });
        expect(fed.stderr).toContain('pass 1 and 2 run again without a feeder thread');
        expect(fed.status).toBe(0);
        expect(fed.stdout).toBe(run(json, false).stdout);
      });
    }

    it('a capture the feeder cannot read past: the same one-line error and exit 2 as on one thread', () => {
      const bad = path.join(tmp, 'bad');
      mkdirSync(bad);
      for (const f of readdirSync(dir)) copyFileSync(path.join(dir, f), path.join(bad, f));
      // A record header near the end of one real server's capture (past pass 1's sample, so the
      // feeder meets it) claims a length no capture can have (classic pcap: a 24-byte file
      // header, then 16-byte record headers with incl_len at 8).
      const rs = path.join(bad, 'rs1.pcap');
      const bytes = readFileSync(rs);
      let at = 24;
      while (at < bytes.length * 0.9) at += 16 + bytes.readUInt32LE(at + 8);
      bytes.writeUInt32LE(0xffffffff, at + 8);
      writeFileSync(rs, bytes);
      const json = args(bad, '--format', 'json');
      const own = run(json, false);
      const fed = run(json, true);
      expect(fed.stderr).toContain(FED);
      expect(own.status).toBe(2);
      expect(fed.status).toBe(2);
      const line = (s: string): string => s.split('\n').filter((l) => l.startsWith('lvsaudit: ') && !l.startsWith('lvsaudit: verify: ')).join('\n');
      expect(line(fed.stderr)).toBe(line(own.stderr));
      expect(line(fed.stderr)).toContain(`rs1.pcap: offset ${at}: record captured length`);
    });
  });
});
