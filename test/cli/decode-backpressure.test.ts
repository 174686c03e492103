/**
 * `decode` output meets a pipe: a reader that pauses holds the run back instead of the output
 * piling up in the writer's memory, and a reader that stops (`| head -1`) ends the run at once
 * with exit 0 and nothing on stderr. The capture is generated here (PacketBuilder, PcapWriter);
 * the writer's resident set is read from /proc while the reader pauses.
 *
 * LVSAUDIT_BIN runs another build (docs/design.md "Checking a refactoring"): an older build,
 * whose output to a pipe ignored backpressure, fails the memory bound.
 */
import { execSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PcapWriter } from '../../src/decode/capture/index.js';
import { PacketBuilder } from '../../src/replay/builder/index.js';
import { repoRoot } from '../helpers/env.js';
import { distReady } from '../differential/cli.js';

const bin = process.env.LVSAUDIT_BIN ?? path.join(repoRoot, 'bin', 'lvsaudit.js');
/** Packets of the generated capture: its `--json` output is a few hundred MB, far above the bound. */
const PACKETS = 700_000;
/** The writer's resident set while its reader pauses; an unpaced writer queues the whole output. */
const RSS_BOUND_KIB = 160 * 1024;
/** The reader takes nothing for this long at the start, then pauses this long every PAUSE_EVERY bytes. */
const FIRST_PAUSE_MS = 1500;
const PAUSE_MS = 20;
const PAUSE_EVERY = 8 << 20;

let dir = '';
let big = '';

beforeAll(() => {
  if (!distReady()) execSync('npx tsc -p .', { cwd: repoRoot, stdio: 'inherit' });
  dir = mkdtempSync(path.join(os.tmpdir(), 'lvsaudit-backpressure-'));
  big = path.join(dir, 'big.pcap');
  const w = new PcapWriter({ path: big });
  const e = (): PacketBuilder => PacketBuilder.eth({ src: '02:00:00:00:00:01', dst: '02:00:00:00:00:02' });
  const kinds = [
    e().ipv4({ src: '172.16.0.2', dst: '172.16.0.100' }).tcp({ sport: 40000, dport: 80, flags: 'A', seq: 1, ack: 1 }).build(),
    e().ipv4({ src: '172.16.0.100', dst: '172.16.0.2' }).tcp({ sport: 80, dport: 40000, flags: 'PA', seq: 1, ack: 1 }).payload('x'.repeat(100)).build(),
    e().ipv4({ src: '10.0.0.2', dst: '10.0.0.53' }).udp({ sport: 5000, dport: 53 }).payload('q').build(),
  ];
  for (let i = 0; i < PACKETS; i++) w.write(kinds[i % kinds.length]!, 1_700_000_000 + Math.floor(i / 1000), (i % 1000) * 1000);
  w.close();
}, 120_000);

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** VmRSS of a live process in KiB, or null once it has gone. */
function rssKib(pid: number): number | null {
  try {
    const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

describe('decode output to a pipe', () => {
  it.skipIf(!existsSync('/proc/self/status'))(`--json to a reader that pauses stays under ${RSS_BOUND_KIB >> 10} MiB resident`, async () => {
    const child = spawn(process.execPath, [bin, 'decode', '--json', big], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    let peak = 0;
    const sample = setInterval(() => {
      const kib = rssKib(child.pid!);
      if (kib !== null) peak = Math.max(peak, kib);
    }, 25);
    let lines = 0;
    let bytes = 0;
    let sincePause = 0;
    const out = child.stdout;
    out.pause();
    const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    await new Promise((r) => setTimeout(r, FIRST_PAUSE_MS));
    out.on('data', (b: Buffer) => {
      bytes += b.length;
      for (let i = b.indexOf(10); i >= 0; i = b.indexOf(10, i + 1)) lines++;
      sincePause += b.length;
      if (sincePause >= PAUSE_EVERY) {
        sincePause = 0;
        out.pause();
        setTimeout(() => out.resume(), PAUSE_MS);
      }
    });
    out.resume();
    const code = await exited;
    clearInterval(sample);
    console.log(`decode --json of ${PACKETS} packets (${(bytes / 2 ** 20).toFixed(0)} MiB) to a pausing reader: peak RSS ${(peak / 1024).toFixed(0)} MiB`);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(lines).toBe(PACKETS);
    // The output is far larger than the bound: a writer that queued it would cross it.
    expect(bytes).toBeGreaterThan(2 * RSS_BOUND_KIB * 1024);
    expect(peak).toBeGreaterThan(0);
    expect(peak).toBeLessThan(RSS_BOUND_KIB);
  });

  it('--json | head -1: the first line, then exit 0 at once with nothing on stderr', async () => {
    const started = performance.now();
    const child = spawn(process.execPath, [bin, 'decode', '--json', big], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    const first = await new Promise<string>((resolve) => {
      let text = '';
      const onData = (b: Buffer): void => {
        text += b.toString();
        const nl = text.indexOf('\n');
        if (nl < 0) return;
        child.stdout.off('data', onData);
        // What `head -1` does once it has its line: close the pipe.
        child.stdout.destroy();
        resolve(text.slice(0, nl));
      };
      child.stdout.on('data', onData);
    });
    const code = await exited;
    const ms = performance.now() - started;
    expect(JSON.parse(first)).toMatchObject({ frame: 1 });
    expect(code).toBe(0);
    expect(stderr).toBe('');
    // Reading and printing all of it takes seconds; a run that stops at the closed pipe is done
    // in about its start-up time.
    expect(ms).toBeLessThan(5000);
  });
});
