/**
 * `verify` and `arp` read captures that can be read only once — standard input (`-`) and FIFOs
 * (what `<(zcat …)` and `tcpdump -w - |` give) — and report exactly what they report for the
 * same capture as a file, on every committed capture set (fixtures/verify, fixtures/lab,
 * fixtures/offload: the last are gzip'd, so gzip streams are covered too). The report names
 * the capture as it was given, so the file's path is put in the stream's place before the
 * comparison. JSON differs in nothing but the peak statistics (`stats.maxLiveConnections`,
 * `maxLivePackets`): a stream's pass 2 judges with the full grace at once (verify.ts).
 *
 * Runs with `-` spawn the built CLI (its standard input is the capture); FIFO runs are in
 * process, a `cat` child writing the FIFO.
 */
import { execSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerArp } from '../../src/cli/arp.js';
import { registerVerify } from '../../src/cli/verify.js';
import { runInProcess, type CliRun } from '../helpers/cli.js';
import { hasCommand, need, repoRoot } from '../helpers/env.js';
import { distReady } from '../differential/cli.js';

const bin = path.join(repoRoot, 'bin', 'lvsaudit.js');
let tmp = '';

beforeAll(() => {
  if (!distReady()) execSync('npx tsc -p .', { cwd: repoRoot, stdio: 'inherit' });
  tmp = mkdtempSync(path.join(os.tmpdir(), 'lvsaudit-stream-input-'));
});
afterAll(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

interface SetFiles {
  name: string;
  conf: string;
  client: string;
  director: string[];
  rs: string[];
}

/** Every committed set of the three groups: service.conf, a client capture, director and rsN captures (plain or .gz). */
function sets(): SetFiles[] {
  const out: SetFiles[] = [];
  for (const group of ['verify', 'lab', 'offload']) {
    const root = path.join(repoRoot, 'fixtures', group);
    if (!existsSync(root)) continue;
    for (const name of readdirSync(root).sort()) {
      const dir = path.join(root, name);
      if (!existsSync(path.join(dir, 'service.conf'))) continue;
      const files = readdirSync(dir).sort();
      const client = files.find((f) => /^client\.pcap(\.gz)?$/.test(f));
      if (client === undefined) continue;
      const perIf = files.filter((f) => /^director-.+\.pcap(\.gz)?$/.test(f));
      const director = perIf.length > 0 ? perIf : files.filter((f) => /^director\.pcap(\.gz)?$/.test(f));
      const rs = files.filter((f) => /^rs\d+\.pcap(\.gz)?$/.test(f));
      const at = (f: string): string => path.join(dir, f);
      out.push({ name: `${group}/${name}`, conf: at('service.conf'), client: at(client), director: director.map(at), rs: rs.map(at) });
    }
  }
  return out;
}

function verifyArgs(s: SetFiles, swap: Map<string, string>, format: string): string[] {
  const as = (f: string): string => swap.get(f) ?? f;
  return [
    '--config', s.conf, '--format', format,
    '--client', as(s.client),
    ...s.director.flatMap((f) => ['--director', as(f)]),
    ...s.rs.flatMap((f) => ['--rs-capture', as(f)]),
  ];
}

/** The file run's report with each file's path replaced by the name it had in the stream run. */
function renamed(report: string, swap: Map<string, string>): string {
  let r = report;
  for (const [file, name] of swap) r = r.split(file).join(name);
  return r;
}

/** The peak statistics, the one part of a JSON report that depends on the grace pass 2 used. */
function withoutPeaks(json: string): unknown {
  const doc = JSON.parse(json) as { stats: Record<string, unknown> };
  delete doc.stats.maxLiveConnections;
  delete doc.stats.maxLivePackets;
  return doc;
}

/** Runs the built CLI with `stdinFile` on its standard input (through a pipe, from `cat`). */
function runWithStdin(args: string[], stdinFile: string): CliRun {
  const r = spawnSync('sh', ['-c', 'f="$1"; shift; cat "$f" | "$@"', 'sh', stdinFile, process.execPath, bin, ...args], { encoding: 'utf8', maxBuffer: 1 << 28 });
  return { code: r.status ?? -1, out: r.stdout, err: r.stderr };
}

let fifoNo = 0;
/** A FIFO that a `cat` child fills with `file` (once a reader opens it). It has the file's
 *  name, in a folder of its own: an unrecognised real server's point is named after it. */
function fifoOf(file: string): string {
  const folder = path.join(tmp, `fifo-${fifoNo++}`);
  mkdirSync(folder);
  const fifo = path.join(folder, path.basename(file));
  execSync(`mkfifo '${fifo}'`);
  const cat = spawn('sh', ['-c', 'cat "$1" > "$2"', 'sh', file, fifo], { stdio: 'ignore' });
  cat.unref();
  return fifo;
}

const all = sets();
const haveMkfifo = hasCommand('mkfifo');

describe('verify from standard input and FIFOs', () => {
  it('finds the committed capture sets', () => {
    expect(all.length).toBeGreaterThanOrEqual(30);
    expect(all.some((s) => s.client.endsWith('.gz'))).toBe(true);
  });

  it.each(all.map((s) => [s.name, s] as const))('%s: --client - gives the file run\'s report', async (_name, s) => {
    const file = await runInProcess(registerVerify, 'verify', verifyArgs(s, new Map(), 'text'));
    const swap = new Map([[s.client, '-']]);
    const piped = runWithStdin(['verify', ...verifyArgs(s, swap, 'text')], s.client);
    expect(piped.err).toBe(file.err);
    expect(piped.code).toBe(file.code);
    expect(piped.out).toBe(renamed(file.out, swap));
  });

  it.skipIf(!need(haveMkfifo, 'mkfifo not installed')).each(all.map((s) => [s.name, s] as const))(
    '%s: director and real-server captures from FIFOs give the file run\'s text and JSON',
    async (_name, s) => {
      for (const format of ['text', 'json']) {
        const file = await runInProcess(registerVerify, 'verify', verifyArgs(s, new Map(), format));
        // Two streams at once: the first director capture and the first real server's.
        const swap = new Map<string, string>();
        for (const f of [s.director[0], s.rs[0]]) if (f !== undefined) swap.set(f, fifoOf(f));
        const streamed = await runInProcess(registerVerify, 'verify', verifyArgs(s, swap, format));
        expect(streamed.err).toBe(file.err);
        expect(streamed.code).toBe(file.code);
        if (format === 'text') expect(streamed.out).toBe(renamed(file.out, swap));
        else expect(withoutPeaks(streamed.out)).toEqual(withoutPeaks(renamed(file.out, swap)));
      }
    },
  );

  it('a second - is a usage error, before anything is read', async () => {
    const s = all[0]!;
    const r = runWithStdin(['verify', '--config', s.conf, '--client', '-', '--director', '-'], s.client);
    expect(r.code).toBe(2);
    expect(r.out).toBe('');
    expect(r.err).toMatch(/^lvsaudit: '-' \(standard input\) is given twice: only one capture can be read from standard input\n$/);
  });

  it.skipIf(!need(hasCommand('tcpdump'), 'tcpdump not installed'))('tcpdump -w - | verify --client - gives the report of tcpdump\'s file', async () => {
    const s = all.find((x) => x.name === 'verify/nat-ok')!;
    const written = path.join(tmp, 'tcpdump-client.pcap');
    expect(spawnSync('tcpdump', ['-r', s.client, '-w', written], { stdio: 'ignore' }).status).toBe(0);
    const asFile = new Map([[s.client, written]]);
    const file = await runInProcess(registerVerify, 'verify', verifyArgs(s, asFile, 'text'));
    const args = verifyArgs(s, new Map([[s.client, '-']]), 'text');
    const r = spawnSync('sh', ['-c', 'f="$1"; shift; tcpdump -r "$f" -w - 2>/dev/null | "$@"', 'sh', s.client, process.execPath, bin, 'verify', ...args], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(file.code).toBe(0);
    expect(r.status).toBe(0);
    expect(r.stdout).toBe(renamed(file.out, new Map([[written, '-']])));
  });
});

describe('arp from standard input and FIFOs', () => {
  const captures = readdirSync(path.join(repoRoot, 'fixtures', 'arp'))
    .filter((f) => f.endsWith('.pcap'))
    .map((f) => path.join(repoRoot, 'fixtures', 'arp', f));
  const director = all.map((s) => s.director[0]).filter((f): f is string => f !== undefined);

  it.each([...captures, ...director].map((f) => [path.relative(repoRoot, f), f] as const))('%s: - and a FIFO give the file run\'s report', async (_name, f) => {
    const file = await runInProcess(registerArp, 'arp', [`director=${f}`]);
    const piped = runWithStdin(['arp', 'director=-'], f);
    expect(piped.code).toBe(file.code);
    expect(piped.err).toBe(file.err.split(f).join('-'));
    expect(piped.out).toBe(renamed(file.out, new Map([[f, '-']])));
    if (!haveMkfifo) return;
    const fifo = fifoOf(f);
    const streamed = await runInProcess(registerArp, 'arp', [`director=${fifo}`]);
    expect(streamed.code).toBe(file.code);
    expect(streamed.out).toBe(renamed(file.out, new Map([[f, fifo]])));
  });

  it('a second - is a usage error', () => {
    const r = runWithStdin(['arp', '-', 'director=-'], captures[0]!);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/^lvsaudit: '-' \(standard input\) is given twice: only one capture can be read from standard input\n$/);
  });
});
