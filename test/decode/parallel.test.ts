/**
 * Parallel `decode --summary` (src/decode/parallel): over any split of a classic pcap the
 * merged summary must equal the serial one, and a split that lands on a false record boundary
 * must be detected and answered by the serial path.
 *
 * The oracle is the ordinary serial reader (forEachPacket → DecodeSummary), which the
 * parallel path does not use, plus the packet count the generator wrote. The parallel code
 * runs worker threads from dist/ (a worker loads compiled JS), so dist/ is (re)built first
 * when it is missing or older than the sources under test.
 */
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, truncateSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadSummaryPaths, type Outcome, type SummaryPaths } from '../helpers/parallel-summary.js';
import { PcapWriter } from '../../src/decode/capture/index.js';
import { PacketBuilder } from '../../src/replay/builder/index.js';
import { CM, SM, mixedFrames, rng } from '../helpers/mixed-frames.js';
import type * as IdleMod from '../../src/decode/parallel/idle.js';

const repoRoot = path.resolve(import.meta.dirname, '..', '..');
const dist = (p: string): string => pathToFileURL(path.join(repoRoot, 'dist', p)).href;

let paths: SummaryPaths;
let dir: string;


beforeAll(async () => {
  paths = await loadSummaryPaths();
  dir = mkdtempSync(path.join(tmpdir(), 'lvsaudit-parallel-'));
}, 120_000);

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

// ---------- capture generation ----------


interface Variant {
  bigEndian: boolean;
  resolution: 'us' | 'ns';
  snaplen: number;
}

interface Made {
  file: string;
  packets: number;
  /** File offsets of every record header, in order. */
  offsets: number[];
}

/**
 * Writes `n` frames drawn from the templates; when `fakeEvery` > 0, every fakeEvery-th frame
 * is a UDP packet whose payload is a chain of fake pcap record headers (same byte order,
 * plausible timestamps and lengths), and `fakeOffsets` lists where those fake chains begin.
 */
function makeCapture(name: string, v: Variant, n: number, seed: number, fakeEvery = 0): Made & { fakeOffsets: number[] } {
  const file = path.join(dir, name);
  const w = new PcapWriter({ path: file, bigEndian: v.bigEndian, resolution: v.resolution, snaplen: v.snaplen });
  const tpl = mixedFrames();
  const r = rng(seed);
  let sec = 1795699418;
  let nsec = 0;
  let off = 24;
  const offsets: number[] = [];
  const fakeOffsets: number[] = [];
  for (let i = 0; i < n; i++) {
    let frame: Buffer;
    if (fakeEvery > 0 && i % fakeEvery === fakeEvery - 1) {
      const fake = fakeChain(v, sec, 12, 20 + Math.floor(r() * 40));
      const head = PacketBuilder.eth({ src: CM, dst: SM }).ipv4({ src: '10.3.3.3', dst: '10.4.4.4' }).udp({ sport: 9, dport: 9 });
      frame = head.payload(fake).build();
      // eth 14 + ipv4 20 + udp 8 bytes before the payload, after the 16-byte record header.
      if (16 + 42 < 16 + Math.min(frame.length, v.snaplen)) fakeOffsets.push(off + 16 + 42);
    } else {
      frame = tpl[Math.floor(r() * tpl.length)]!;
    }
    offsets.push(off);
    w.write(frame, sec, nsec);
    off += 16 + Math.min(frame.length, v.snaplen);
    nsec += 1000 + Math.floor(r() * 100000) * 1000;
    if (nsec >= 1e9) {
      nsec -= 1e9;
      sec++;
    }
  }
  w.close();
  return { file, packets: n, offsets, fakeOffsets };
}

/** `count` fake record headers, each followed by `body` bytes, in the file's byte order. */
function fakeChain(v: Variant, sec: number, count: number, body: number): Buffer {
  const b = Buffer.alloc(count * (16 + body), 0x5a);
  for (let i = 0; i < count; i++) {
    const p = i * (16 + body);
    const put = (at: number, x: number): number => (v.bigEndian ? b.writeUInt32BE(x, p + at) : b.writeUInt32LE(x, p + at));
    put(0, sec);
    put(4, 1000 * i);
    put(8, body);
    put(12, body);
  }
  return b;
}

// ---------- the two paths ----------

const serial = (file: string): Promise<Outcome> => paths.serial(file);
const parallel = (file: string, o: { threads?: number; splits?: number[] }): ReturnType<SummaryPaths['parallel']> => paths.parallel(file, o);

// ---------- tests ----------

const VARIANTS: Array<[string, Variant]> = [
  ['little-endian µs', { bigEndian: false, resolution: 'us', snaplen: 262144 }],
  ['big-endian µs', { bigEndian: true, resolution: 'us', snaplen: 262144 }],
  ['little-endian ns', { bigEndian: false, resolution: 'ns', snaplen: 262144 }],
  ['big-endian ns, snaplen 96 (cut packets)', { bigEndian: true, resolution: 'ns', snaplen: 96 }],
];

describe('parallel decode --summary equals the serial summary', () => {
  it.each(VARIANTS)('%s: 2, 3 and 4 ranges merge to the serial counts, text and frame count', async (_name, v) => {
    const m = makeCapture(`v-${v.bigEndian}-${v.resolution}-${v.snaplen}.pcap`, v, 12000, 7);
    expect(statSync(m.file).size).toBeGreaterThan(v.snaplen === 96 ? 700_000 : 2_000_000);
    const want = await serial(m.file);
    expect(want.counts.frames).toBe(m.packets);
    if (v.snaplen === 96) expect(Object.values(want.report.truncated).reduce((a, b) => a + b, 0)).toBeGreaterThan(1000);
    expect(want.report.badChecksum.tcp).toBeGreaterThan(0);
    expect(Object.keys(want.report.malformed).length).toBeGreaterThan(0);
    for (const threads of [2, 3, 4]) {
      const got = await parallel(m.file, { threads });
      expect(got.parallel, `${threads} ranges: ${got.reason}`).toBe(true);
      expect(got.counts).toStrictEqual(want.counts);
      expect(got.report).toStrictEqual(want.report);
      expect(got.text).toBe(want.text);
      expect(got.warnings).toStrictEqual([]);
    }
  });

  it.each([
    ['inside the last record header', 5],
    ['inside the last record body', 40],
  ])('a file cut %s: the same single truncation warning as serially', async (_name, into) => {
    const m = makeCapture(`cut-${into}.pcap`, { bigEndian: false, resolution: 'us', snaplen: 262144 }, 8000, 11);
    truncateSync(m.file, m.offsets[m.offsets.length - 1]! + into);
    const want = await serial(m.file);
    expect(want.warnings).toHaveLength(1);
    expect(want.counts.frames).toBe(m.packets - 1);
    for (const threads of [2, 3]) {
      const got = await parallel(m.file, { threads });
      expect(got.parallel, got.reason ?? '').toBe(true);
      expect(got.warnings).toStrictEqual(want.warnings);
      expect(got.report).toStrictEqual(want.report);
      expect(got.text).toBe(want.text);
    }
  });

  it('the CLI prints identical text serially and over 3 threads (also with a FILTER; the JSON report matches)', async () => {
    const m = makeCapture('cli.pcap', { bigEndian: false, resolution: 'ns', snaplen: 262144 }, 10000, 3);
    truncateSync(m.file, statSync(m.file).size - 7);
    const cli = (threads: string, ...args: string[]): { out: string; err: string } => {
      const env = { ...process.env, LVSAUDIT_THREADS: threads, LVSAUDIT_PARALLEL_MIN_BYTES: '0', LVSAUDIT_PARALLEL_DEBUG: '1' };
      const r = spawnSync(process.execPath, [path.join(repoRoot, 'bin/lvsaudit.js'), 'decode', '--summary', ...args, m.file], { env, encoding: 'utf8' });
      expect(r.status, r.stderr).toBe(0);
      return { out: r.stdout, err: r.stderr };
    };
    const one = cli('1');
    const three = cli('3');
    expect(three.out).toBe(one.out);
    expect(one.out).toMatch(/capture warnings\s+1\n/);
    expect(one.err).toMatch(/parallel: .*serial \(one thread\)/);
    expect(three.err).toMatch(/parallel: .*3 ranges merged/);
    // The cut-record warning goes to stderr once, worded as serially.
    const warn = (e: string): string[] => e.split('\n').filter((l) => l.startsWith('lvsaudit: warning:'));
    expect(warn(three.err)).toHaveLength(1);
    expect(warn(three.err)).toStrictEqual(warn(one.err));
    // With a FILTER the workers compile it too and count only what matches.
    const f1 = cli('1', '--filter', 'tcp and not port 80 or arp');
    const f3 = cli('3', '--filter', 'tcp and not port 80 or arp');
    expect(f3.err).toMatch(/3 ranges merged/);
    expect(f3.out).toBe(f1.out);
    const all = Number(/^all\s+(\d+)/m.exec(one.out)![1]);
    const some = Number(/^all\s+(\d+)/m.exec(f1.out)![1]);
    expect(some).toBeGreaterThan(0);
    expect(some).toBeLessThan(all);
    const j1 = JSON.parse(cli('1', '--json').out) as Report;
    const j3 = JSON.parse(cli('3', '--json').out) as Report;
    expect({ ...j3, seconds: 0, packetsPerSecond: 0 }).toStrictEqual({ ...j1, seconds: 0, packetsPerSecond: 0 });
    expect(JSON.stringify({ ...j3, seconds: 0, packetsPerSecond: 0 })).toBe(JSON.stringify({ ...j1, seconds: 0, packetsPerSecond: 0 }));
  });
});

describe('what the serial reader reports inside a range sends the file down the serial path', () => {
  const cli = (file: string, threads: string): { code: number | null; out: string; err: string } => {
    const env = { ...process.env, LVSAUDIT_THREADS: threads, LVSAUDIT_PARALLEL_MIN_BYTES: '0', LVSAUDIT_PARALLEL_DEBUG: '1' };
    const r = spawnSync(process.execPath, [path.join(repoRoot, 'bin/lvsaudit.js'), 'decode', '--summary', file], { env, encoding: 'utf8' });
    return { code: r.status, out: r.stdout, err: r.stderr };
  };
  /** stderr without the debug and timing lines. */
  const plain = (e: string): string => e.split('\n').filter((l) => !/parallel:|decoded \d+ packets in/.test(l)).join('\n');

  it('an out-of-range timestamp fraction in range 1 (a serial warning): declined, same output and warning', async () => {
    const m = makeCapture('frac.pcap', { bigEndian: false, resolution: 'us', snaplen: 262144 }, 6000, 31);
    const victim = m.offsets[4500]!;
    const fd = openSync(m.file, 'r+');
    const b = Buffer.alloc(4);
    b.writeUInt32LE(2_500_000);
    writeSync(fd, b, 0, 4, victim + 4);
    closeSync(fd);
    const want = await serial(m.file);
    expect(want.warnings.map((w) => w.code)).toStrictEqual(['capture.malformed']);
    const got = await parallel(m.file, { splits: [m.offsets[3000]! - 3] });
    expect(got.parallel).toBe(false);
    expect(got.reason).toMatch(/range 1: timestamp fraction out of range at offset \d+/);
    const one = cli(m.file, '1');
    const two = cli(m.file, '2');
    expect(two.err).toMatch(/serial \(range 1: timestamp fraction/);
    expect(two.out).toBe(one.out);
    expect(plain(two.err)).toBe(plain(one.err));
  });

  it('an oversized record length in range 1 (a serial error): declined, same error and exit code 2', async () => {
    const m = makeCapture('huge.pcap', { bigEndian: true, resolution: 'ns', snaplen: 262144 }, 6000, 32);
    const fd = openSync(m.file, 'r+');
    const b = Buffer.alloc(4);
    b.writeUInt32BE(0x7fffffff);
    writeSync(fd, b, 0, 4, m.offsets[5000]! + 8);
    closeSync(fd);
    await expect(serial(m.file)).rejects.toThrow(/exceeds the limit/);
    const got = await parallel(m.file, { threads: 2 });
    expect(got.parallel).toBe(false);
    const one = cli(m.file, '1');
    const two = cli(m.file, '2');
    expect(one.code).toBe(2);
    expect(two.code).toBe(2);
    expect(plain(two.err)).toBe(plain(one.err));
    expect(plain(one.err)).toMatch(/offset \d+: record captured length 2147483647 exceeds the limit/);
  });
});

describe('a split on a false record boundary is detected', () => {
  it('payloads holding chains of fake record headers: the range is discarded and the serial answer stands', async () => {
    for (const [name, v] of VARIANTS.slice(0, 2)) {
      const m = makeCapture(`fake-${v.bigEndian}.pcap`, v, 3000, 5, 50);
      expect(m.fakeOffsets.length).toBeGreaterThan(10);
      const want = await serial(m.file);
      expect(want.counts.frames, name).toBe(m.packets);
      // Split exactly where a fake chain starts: the scan accepts it (12 chained plausible
      // headers), but the previous range stops at the true boundary after it.
      const at = m.fakeOffsets[Math.floor(m.fakeOffsets.length / 2)]!;
      const got = await parallel(m.file, { splits: [at] });
      expect(got.parallel, name).toBe(false);
      expect(got.reason).toMatch(/range 1 started at offset \d+, but range 0 stopped at \d+/);
      // Nothing was merged: the caller's summary is untouched, and the serial path gives the answer.
      expect(got.counts.frames).toBe(0);
      // Control: a split on the true boundary after it is accepted and merges to the serial counts.
      const next = m.offsets.find((o) => o > at)!;
      const ok = await parallel(m.file, { splits: [next] });
      expect(ok.parallel).toBe(true);
      expect(ok.report).toStrictEqual(want.report);
    }
  });
});

describe('property: any split gives the serial result', () => {
  it('random split offsets and range counts over generated captures', async () => {
    const files = [
      makeCapture('prop-a.pcap', { bigEndian: false, resolution: 'us', snaplen: 262144 }, 3000, 21),
      makeCapture('prop-b.pcap', { bigEndian: true, resolution: 'ns', snaplen: 128 }, 3000, 22),
      makeCapture('prop-fake.pcap', { bigEndian: false, resolution: 'ns', snaplen: 262144 }, 3000, 23, 7),
    ];
    const wants = await Promise.all(files.map((f) => serial(f.file)));
    let merged = 0;
    let discarded = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(0, 1, 2),
        fc.array(fc.integer({ min: 0, max: 2 ** 30 }), { minLength: 1, maxLength: 3 }),
        async (which, raw) => {
          const f = files[which]!;
          const size = statSync(f.file).size;
          // Any offset after the file header, the last byte included.
          const splits = raw.map((x) => 25 + (x % (size - 25)));
          const got = await parallel(f.file, { splits });
          const want = wants[which]!;
          if (got.parallel) {
            merged++;
            expect(got.report).toStrictEqual(want.report);
            expect(got.counts).toStrictEqual(want.counts);
            expect(got.text).toBe(want.text);
          } else {
            discarded++;
            expect(got.counts.frames).toBe(0);
            // Without fake headers in the payloads every split must be found and accepted.
            expect(which, got.reason ?? '').toBe(2);
          }
        },
      ),
      { numRuns: 20, seed: 20261126 },
    );
    // Both outcomes were exercised: merges, and discarded guesses on the fake-header file.
    expect(merged).toBeGreaterThan(5);
    expect(discarded).toBeGreaterThan(0);
  });
});

describe('automatic thread count leaves out cores other processes use', () => {
  const linux = process.platform === 'linux' && existsSync('/proc/loadavg');
  it.skipIf(!linux)('two spinning child processes are seen as at least two busy threads', async () => {
    const idle = (await import(dist('decode/parallel/idle.js'))) as typeof IdleMod;
    const running = Number(readFileSync('/proc/loadavg', 'utf8').split(' ')[3]?.split('/')[0]);
    if (running === 0) {
      // A sandbox's stand-in /proc/loadavg (no thread running, not even the reader): the
      // count cannot be told, and the thread count must not act on a made-up 0.
      expect(idle.busyElsewhere()).toBeNull();
      return;
    }
    expect(idle.busyElsewhere()).not.toBeNull();
    // Each child says when it spins: on a loaded machine starting Node can take longer than
    // any fixed wait, and a child still loading is not runnable.
    const spin = 'process.stdout.write("spinning\\n"); const t = Date.now(); while (Date.now() - t < 20000) {}';
    const kids = [0, 1].map(() => spawn(process.execPath, ['-e', spin], { stdio: ['ignore', 'pipe', 'ignore'] }));
    try {
      await Promise.all(kids.map((k) => new Promise<void>((ok, fail) => {
        k.stdout!.once('data', () => ok());
        k.once('exit', () => fail(new Error('spinning child ended early')));
      })));
      // Other load on the machine can only add to the count; a look can still land while the
      // scheduler has a spinner off its run queue, so a few looks are allowed.
      let seen = 0;
      for (let i = 0; i < 20 && seen < 2; i++) {
        seen = Math.max(seen, idle.busyElsewhere() ?? 0);
        if (seen < 2) await new Promise((r) => setTimeout(r, 50));
      }
      expect(seen).toBeGreaterThanOrEqual(2);
    } finally {
      for (const k of kids) k.kill('SIGKILL');
    }
  });
});

