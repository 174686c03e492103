/**
 * The progress line of decode, verify and arp: on a pseudo-terminal (util-linux `script` gives
 * the run one) a run that lasts over a second shows it on stderr and clears it at the end; with
 * --quiet, or with stderr not a terminal, nothing of it is written and the output is the same
 * as a --quiet run's, byte for byte. The capture comes through a pipe that holds back its second
 * part for a while, so the run lasts long enough on any machine.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import os from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { ProgressLine, progressText } from '../../src/cli/progress.js';
import { hasCommand, need, repoRoot } from '../helpers/env.js';
import { readCapture } from '../../src/decode/capture/index.js';
import { setReadProgressHook, type ReadProgress } from '../../src/decode/capture/progress.js';

const cli = path.join(repoRoot, 'bin', 'lvsaudit.js');
const ready = need(hasCommand('script'), 'util-linux script not installed (it gives a run a pseudo-terminal)') && need(existsSync(path.join(repoRoot, 'dist', 'cli', 'main.js')), 'lvsaudit not built (npm run build)');
const tmp = mkdtempSync(path.join(os.tmpdir(), 'lvsa-progress-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** A classic pcap of `n` small UDP frames (one second of capture time per 1024 frames). */
function writeCapture(file: string, n: number): void {
  const hdr = Buffer.alloc(24);
  hdr.writeUInt32LE(0xa1b2c3d4, 0);
  hdr.writeUInt16LE(2, 4);
  hdr.writeUInt16LE(4, 6);
  hdr.writeUInt32LE(65535, 16);
  hdr.writeUInt32LE(1, 20);
  const frame = Buffer.from('ffffffffffff0200000000010800' + '4500001c000100004011f9c6c0000201c0000202' + '3039005000080000', 'hex');
  const rec = 16 + frame.length;
  const all = Buffer.alloc(24 + n * rec);
  hdr.copy(all, 0);
  for (let i = 0; i < n; i++) {
    const at = 24 + i * rec;
    all.writeUInt32LE(1_700_000_000 + (i >> 10), at);
    all.writeUInt32LE((i % 1024) * 900, at + 4);
    all.writeUInt32LE(frame.length, at + 8);
    all.writeUInt32LE(frame.length, at + 12);
    frame.copy(all, at + 16);
  }
  writeFileSync(file, all);
}

const capture = path.join(tmp, 'udp.pcap');
if (ready) writeCapture(capture, 20_000);

const sh = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

/** The shell command: the capture's first 64 KiB, a pause, the rest, piped into `lvsaudit ARGS -`. */
function piped(args: readonly string[]): string {
  const feed = `(head -c 65536 ${sh(capture)}; sleep 1.6; tail -c +65537 ${sh(capture)})`;
  return `${feed} | ${sh(process.execPath)} ${sh(cli)} ${args.map(sh).join(' ')} - > /dev/null`;
}

/** Runs `command` on a pseudo-terminal; what the terminal received. */
function onTerminal(command: string): string {
  const r = spawnSync('script', ['-qfec', command, '/dev/null'], { encoding: 'latin1' });
  if (r.error) throw r.error;
  return r.stdout;
}

const COMMANDS: Array<[string, string[]]> = [
  ['decode', ['decode']],
  ['verify', ['verify', '--vip', '192.0.2.2:80', '--mode', 'dr', '--rs', '10.0.0.11', '--client']],
  ['arp', ['arp']],
];

describe.skipIf(!ready)('progress line', () => {
  for (const [name, args] of COMMANDS) {
    it(`${name}: shown on a terminal for a run over a second, then cleared`, () => {
      const seen = onTerminal(piped(args));
      const last = seen.lastIndexOf('lvsaudit: reading ');
      expect(last).toBeGreaterThanOrEqual(0);
      expect(seen).toMatch(/\rlvsaudit: reading \d[\d.]* (B|KiB|MiB), \d[\d. k]*packets/);
      // Cleared: the last line drawn is followed by a carriage return and erase-line.
      expect(seen.slice(last)).toContain('\r\x1b[K');
    });

    it(`${name}: --quiet on a terminal writes none of it`, () => {
      const seen = onTerminal(piped([...args.slice(0, 1), '--quiet', ...args.slice(1)]));
      expect(seen).not.toContain('lvsaudit: reading');
    });

    it(`${name}: without a terminal stderr holds none of it, and stdout and stderr are a --quiet run's`, () => {
      const run = (extra: string[]): { out: string; err: string } => {
        const r = spawnSync('sh', ['-c', piped([...args.slice(0, 1), ...extra, ...args.slice(1)]).replace(/ > \/dev\/null$/, '')], { encoding: 'latin1' });
        return { out: r.stdout, err: r.stderr };
      };
      const plain = run([]);
      const quiet = run(['--quiet']);
      expect(plain.err).not.toContain('lvsaudit: reading');
      expect(plain.err).not.toContain('\x1b[K');
      expect(plain.out.length).toBeGreaterThan(0);
      expect(plain).toEqual(quiet);
    });
  }
});

describe('progress line pieces', () => {
  it('readers report per chunk, the last report at the file size (gzip: compressed bytes) with every frame', async () => {
    const plain = path.join(tmp, 'hook.pcap');
    writeCapture(plain, 70_000);
    const gz = path.join(tmp, 'hook.pcap.gz');
    writeFileSync(gz, gzipSync(readFileSync(plain)));
    for (const file of [plain, gz]) {
      const seen: ReadProgress[] = [];
      setReadProgressHook((p) => seen.push({ ...p }));
      try {
        const summary = await readCapture(file, () => true, { chunkSize: 256 * 1024 });
        expect(seen.length).toBeGreaterThan(2);
        expect(new Set(seen.map((p) => p.reader)).size).toBe(1);
        const last = seen.at(-1)!;
        expect(last).toMatchObject({ file, done: true, bytes: statSync(file).size, frames: summary.frames });
        // Positions only move forward.
        for (let i = 1; i < seen.length; i++) expect(seen[i]!.bytes).toBeGreaterThanOrEqual(seen[i - 1]!.bytes);
      } finally {
        setReadProgressHook(null);
      }
    }
    // A hook taken away hears nothing more.
    const after: ReadProgress[] = [];
    setReadProgressHook((p) => after.push(p));
    setReadProgressHook(null);
    await readCapture(plain, () => true);
    expect(after).toEqual([]);
  });

  it('is not started when the stream is not a terminal, or with --quiet', () => {
    const notTty = new PassThrough() as unknown as NodeJS.WriteStream;
    expect(ProgressLine.start({ stream: notTty })).toBeNull();
    const tty = Object.assign(new PassThrough(), { isTTY: true, columns: 80 }) as unknown as NodeJS.WriteStream;
    expect(ProgressLine.start({ stream: tty, quiet: true })).toBeNull();
    expect(ProgressLine.start({ stream: tty, allowed: false })).toBeNull();
    const line = ProgressLine.start({ stream: tty });
    expect(line).not.toBeNull();
    line!.stop();
  });

  it('says bytes of total, packets, rate and time left', () => {
    const t = progressText(512 * 2 ** 20, 2 * 2 ** 30, 3_400_000, 128 * 2 ** 20);
    expect(t).toBe('lvsaudit: reading 512.0 MiB of 2.0 GiB (25 %), 3.4 M packets, 128.0 MiB/s, 0:12 left');
    // Unknown total (a pipe): no share, no time left.
    expect(progressText(1500, null, 20, 3000)).toBe('lvsaudit: reading 1.5 KiB, 20 packets, 2.9 KiB/s');
  });
});
