/**
 * `arp --watch --file F --follow` through the built CLI, as a user runs it beside a tcpdump that
 * is still writing: frames appended later (even a record cut in two by the writer) are read and
 * give their events; SIGTERM stops it with the state flushed and the exit code of the events
 * seen; SIGHUP reopens the --output log (logrotate moved it); --duration stops it on its own.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, existsSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { ADDR, MAC as LAB_MAC } from '../../src/lab/plan.js';
import { repoRoot } from '../helpers/env.js';
import { kernelFixtureDir } from './kernel-expect.js';

const cli = path.join(repoRoot, 'bin', 'lvsaudit.js');
const work = mkdtempSync(path.join(tmpdir(), 'lvsa-follow-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
/** Watchers still running when a test fails are stopped (--follow never ends by itself). */
const children: ChildProcess[] = [];
afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});

const router = readFileSync(path.join(kernelFixtureDir('arp-ignore0'), 'router.pcap'));
/** Byte offset of classic-pcap record `n` (0-based) in `buf`. */
function recordOffset(buf: Buffer, n: number): number {
  let off = 24;
  for (let i = 0; i < n; i++) off += 16 + buf.readUInt32LE(off + 8);
  return off;
}
// The first who-has and the first answer (frames 1, 2), then the rest: the second answer (frame
// 4, the conflict) arrives only with the appended bytes.
const cut = recordOffset(router, 2);

interface Running {
  child: ChildProcess;
  out: () => string;
  err: () => string;
  exit: Promise<number | null>;
}

function start(args: string[]): Running {
  const child = spawn(process.execPath, [cli, 'arp', '--watch', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let out = '';
  let err = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
  const exit = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  return { child, out: () => out, err: () => err, exit };
}

async function until(what: string, cond: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe('arp --watch --follow', () => {
  it('reads appended frames (a record cut mid-way included); SIGTERM flushes the state, exit 1 after a conflict', async () => {
    const cap = path.join(work, 'growing.pcap');
    const state = path.join(work, 'state.json');
    // the file ends inside record 3 (a writer mid-record)
    writeFileSync(cap, router.subarray(0, cut + 10));
    const w = start(['--file', cap, '--follow', '--format', 'json', '--state', state, '--vip', ADDR.drVip]);
    await until('the first stations', () => w.out().split('\n').filter(Boolean).length >= 2);
    expect(w.out()).not.toContain('vip-conflict');
    appendFileSync(cap, router.subarray(cut + 10));
    await until('the conflict', () => w.out().includes('"kind":"vip-conflict"'));
    const conflict = w
      .out()
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { kind: string; claimants?: Array<{ mac: string }> })
      .find((e) => e.kind === 'vip-conflict')!;
    expect(conflict.claimants!.map((c) => c.mac).sort()).toEqual([LAB_MAC.directorWan, LAB_MAC.rs1].sort());
    w.child.kill('SIGTERM');
    expect(await w.exit).toBe(1);
    const saved = JSON.parse(readFileSync(state, 'utf8')) as { stations: Array<{ ip: string }> };
    expect(saved.stations.map((s) => s.ip).sort()).toEqual([ADDR.drVip, ADDR.routerLan].sort());
    expect(w.err()).toMatch(/arp --watch: 12 ARP packets, 2 stations/);
  });

  it('SIGHUP reopens --output: lines after a rotation go to the new file', async () => {
    const cap = path.join(work, 'rotate.pcap');
    const log = path.join(work, 'events.log');
    writeFileSync(cap, router.subarray(0, cut));
    const w = start(['--file', cap, '--follow', '--output', log, '--vip', ADDR.drVip]);
    await until('the first events in the log', () => existsSync(log) && readFileSync(log, 'utf8').includes('new-station'));
    renameSync(log, `${log}.1`);
    w.child.kill('SIGHUP');
    await until('the reopened log', () => existsSync(log));
    appendFileSync(cap, router.subarray(cut));
    await until('the conflict in the new log', () => readFileSync(log, 'utf8').includes('vip-conflict'));
    w.child.kill('SIGINT');
    expect(await w.exit).toBe(1);
    expect(readFileSync(`${log}.1`, 'utf8')).not.toContain('vip-conflict');
    expect(w.out()).toBe('');
  });

  it('--duration stops it on its own; no error event: exit 0', async () => {
    const cap = path.join(work, 'quiet.pcap');
    writeFileSync(cap, router.subarray(0, cut));
    const t0 = Date.now();
    const w = start(['--file', cap, '--follow', '--duration', '0.5']);
    expect(await w.exit).toBe(0);
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(w.out()).toContain('new-station');
  });

  it('a file that shrinks while followed is an error naming it, exit 2', async () => {
    const cap = path.join(work, 'shrink.pcap');
    writeFileSync(cap, router);
    const w = start(['--file', cap, '--follow', '--vip', ADDR.drVip]);
    await until('the events', () => w.out().includes('vip-conflict'));
    writeFileSync(cap, router.subarray(0, 24));
    expect(await w.exit).toBe(2);
    expect(w.err()).toMatch(new RegExp(`^lvsaudit: ${cap.replace(/[.]/g, '\\.')}: offset \\d+: the file shrank while followed`, 'm'));
  });
});
