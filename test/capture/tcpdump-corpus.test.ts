/**
 * tcpdump's test captures (classic pcap in both byte orders, µs and ns, plus pcapng),
 * checked against independent readers:
 *  - pcap-parser (npm) for every µs classic file: count, timestamps, lengths, bytes;
 *  - libpcap via `tcpdump --count` for every file: the packet count and whether it is readable;
 *  - tshark for all pcapng and nanosecond files and a sample of µs files: time, len, caplen.
 */
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { readdirSync, readFileSync } from 'node:fs';
import type { EventEmitter } from 'node:events';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { CaptureError, readCapture, type CaptureSummary, type CaptureWarning } from '../../src/decode/capture/index.js';
import { hasCommand, hasShared, need, sharedDir } from '../helpers/env.js';

const dir = path.join(sharedDir, 'corpus', 'tcpdump-tests');
const haveCorpus = need(hasShared, `shared corpus not found at ${sharedDir}`);
const all = haveCorpus ? readdirSync(dir).filter((f) => /\.pcap(ng)?$/.test(f)).sort() : [];

function magicOf(f: string): string {
  return readFileSync(path.join(dir, f)).subarray(0, 4).toString('hex');
}
const usFiles = all.filter((f) => ['a1b2c3d4', 'd4c3b2a1'].includes(magicOf(f)));
const nsFiles = all.filter((f) => ['a1b23c4d', '4d3cb2a1'].includes(magicOf(f)));
const ngFiles = all.filter((f) => magicOf(f) === '0a0d0d0a');

interface OurRecord {
  tsSec: number;
  tsNsec: number;
  caplen: number;
  len: number;
  data: Buffer;
}

interface OurRead {
  records: OurRecord[];
  summary: CaptureSummary | null;
  error: CaptureError | null;
  warnings: CaptureWarning[];
}

async function ours(file: string, keepData: boolean): Promise<OurRead> {
  const records: OurRecord[] = [];
  const warnings: CaptureWarning[] = [];
  try {
    const summary = await readCapture(
      file,
      (f) => {
        records.push({ tsSec: f.tsSec, tsNsec: f.tsNsec, caplen: f.caplen, len: f.len,
          data: keepData ? Buffer.from(f.buf.subarray(f.off, f.off + f.caplen)) : Buffer.alloc(0) });
      },
      { onWarning: (w) => warnings.push(w), chunkSize: 4096 },
    );
    return { records, summary, error: null, warnings };
  } catch (e) {
    if (!(e instanceof CaptureError)) throw e;
    return { records, summary: null, error: e, warnings };
  }
}

// pcap-parser is CommonJS without types; describe the little of it we use.
interface PcapParserPacket {
  header: { timestampSeconds: number; timestampMicroseconds: number; capturedLength: number; originalLength: number };
  data: Buffer;
}
const pcapParser = createRequire(import.meta.url)('pcap-parser') as { parse(file: string): EventEmitter };

function oraclePcapParser(file: string): Promise<{ packets: PcapParserPacket[]; error: Error | null }> {
  return new Promise((resolve) => {
    const packets: PcapParserPacket[] = [];
    let error: Error | null = null;
    const p = pcapParser.parse(file);
    p.on('packet', (pkt: PcapParserPacket) => packets.push({ header: pkt.header, data: Buffer.from(pkt.data) }));
    p.on('error', (e: Error) => (error = e));
    p.on('end', () => resolve({ packets, error }));
  });
}

function run(cmd: string, args: string[]): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve) => {
    const c = spawn(cmd, args);
    let out = '';
    let err = '';
    c.stdout.on('data', (d: Buffer) => (out += d.toString()));
    c.stderr.on('data', (d: Buffer) => (err += d.toString()));
    c.on('close', (code) => resolve({ code: code ?? -1, out, err }));
  });
}

describe.skipIf(!haveCorpus)('tcpdump-tests corpus vs pcap-parser (µs classic pcap)', () => {
  it('has a sizeable corpus of each kind', () => {
    expect(usFiles.length).toBeGreaterThan(700);
    expect(nsFiles.length).toBeGreaterThan(0);
    expect(ngFiles.length).toBeGreaterThan(30);
  });

  it('every µs file: same records as pcap-parser', async () => {
    let compared = 0;
    for (const f of usFiles) {
      const file = path.join(dir, f);
      const [o, r] = await Promise.all([oraclePcapParser(file), ours(file, true)]);
      // pcap-parser does no sanity checks: where we stop with an error it may go on reading
      // garbage, so compare the frames we delivered as a prefix of its list.
      if (r.error === null && !r.summary!.truncated) expect(r.records.length, f).toBe(o.packets.length);
      for (let i = 0; i < r.records.length; i++) {
        const a = r.records[i]!;
        const b = o.packets[i]!;
        const usec = b.header.timestampMicroseconds;
        expect(a.tsSec * 1e6 + a.tsNsec / 1000, `${f} #${i + 1} ts`).toBe(b.header.timestampSeconds * 1e6 + usec);
        expect(a.caplen, `${f} #${i + 1} caplen`).toBe(b.header.capturedLength);
        expect(a.len, `${f} #${i + 1} len`).toBe(b.header.originalLength);
        expect(a.data.equals(b.data), `${f} #${i + 1} bytes`).toBe(true);
      }
      compared++;
    }
    expect(compared).toBe(usFiles.length);
  });
});

const haveTcpdump = need(hasCommand('tcpdump'), 'tcpdump not installed');

describe.skipIf(!haveCorpus || !haveTcpdump)('tcpdump-tests corpus vs libpcap (tcpdump --count)', () => {
  it('every file: same packet count and the same verdict on readability', async () => {
    const mismatches: string[] = [];
    const queue = [...all];
    const worker = async (): Promise<void> => {
      for (let f = queue.shift(); f !== undefined; f = queue.shift()) {
        const file = path.join(dir, f);
        const [t, r] = await Promise.all([run('tcpdump', ['--count', '-r', file]), ours(file, false)]);
        const m = /(\d+) packets?/.exec(t.out);
        const complaints = t.err.split('\n').filter((l) => l.trim() !== '' && !l.startsWith('reading from file'));
        const libpcapBroken = t.code !== 0 || complaints.length > 0;
        const oursBroken = r.error !== null || r.summary!.truncated;
        if (libpcapBroken !== oursBroken) mismatches.push(`${f}: libpcap ${t.err.trim()} / ours ${r.error?.message ?? r.warnings[0]?.message ?? 'ok'}`);
        else if (!libpcapBroken && (m === null || Number(m[1]) !== r.records.length)) {
          mismatches.push(`${f}: libpcap count ${m?.[1]} / ours ${r.records.length}`);
        }
      }
    };
    await Promise.all(Array.from({ length: 8 }, worker));
    expect(mismatches).toEqual([]);
  });
});

const haveTshark = need(hasCommand('tshark'), 'tshark not installed');

function normEpoch(s: string): string {
  const [a, b = ''] = s.split('.');
  return `${a}.${b.padEnd(9, '0').slice(0, 9)}`;
}

// All pcapng and ns files, and every 40th µs file (the µs ones already met pcap-parser).
// timestamp_invalid_* hold out-of-range fractions that tshark prints unnormalised: checked separately.
const tsharkSample = [...ngFiles, ...nsFiles, ...usFiles.filter((_, i) => i % 40 === 0)].filter((f) => !f.startsWith('timestamp_invalid'));

describe.skipIf(!haveCorpus || !haveTshark)('tcpdump-tests corpus vs tshark', () => {
  it(`${tsharkSample.length} files: time, len, caplen per frame equal tshark's`, async () => {
    const problems: string[] = [];
    let checkedFrames = 0;
    let readable = 0;
    const queue = [...tsharkSample];
    const worker = async (): Promise<void> => {
      for (let f = queue.shift(); f !== undefined; f = queue.shift()) {
        const file = path.join(dir, f);
        const t = await run('tshark', ['-n', '-r', file, '-T', 'fields', '-E', 'separator=|',
          '-e', 'frame.number', '-e', 'frame.time_epoch', '-e', 'frame.len', '-e', 'frame.cap_len', '-e', 'frame.interface_id']);
        const r = await ours(file, false);
        if (t.code !== 0) {
          // tshark refuses some link types it cannot dissect; that says nothing about framing.
          if (!/unknown or unsupported/.test(t.err)) problems.push(`${f}: tshark failed: ${t.err.trim()}`);
          continue;
        }
        readable++;
        const rows = t.out.split('\n').filter((l) => l.length > 0).map((l) => l.split('|')).filter((c) => c[4] !== '' || f.endsWith('.pcap'));
        if (r.error !== null) { problems.push(`${f}: ours failed: ${r.error.message}`); continue; }
        if (rows.length !== r.records.length) { problems.push(`${f}: tshark ${rows.length} frames, ours ${r.records.length}`); continue; }
        rows.forEach((c, i) => {
          const a = r.records[i]!;
          const ts = `${a.tsSec}.${String(a.tsNsec).padStart(9, '0')}`;
          const want = c[1] === '' ? '0.000000000' : normEpoch(c[1]!);
          if (ts !== want || String(a.len) !== c[2] || String(a.caplen) !== c[3]) {
            problems.push(`${f} #${i + 1}: ours ${ts} ${a.len} ${a.caplen} tshark ${c.join(' ')}`);
          }
          checkedFrames++;
        });
      }
    };
    await Promise.all(Array.from({ length: 8 }, worker));
    expect(problems).toEqual([]);
    expect(readable).toBeGreaterThan(40);
    expect(checkedFrames).toBeGreaterThan(500);
  });
});

describe.skipIf(!haveCorpus)('out-of-range timestamp fractions (tcpdump .out as oracle)', () => {
  // tcpdump prints the raw fraction, e.g. "17:16:10.2147483648 (invalid us)"; we carry the
  // excess into seconds and warn, so seconds-of-day + fraction must add up to the same instant.
  it.each([
    ['timestamp_invalid_micro', 1e6],
    ['timestamp_invalid_nano', 1e9],
  ])('%s: normalised times equal the raw values tcpdump shows, with a warning', async (name, perSec) => {
    const out = readFileSync(path.join(dir, `${name}.out`), 'utf8').split('\n').filter((l) => l.trim() !== '');
    const r = await ours(path.join(dir, `${name}.pcap`), false);
    expect(r.error).toBeNull();
    expect(r.records.length).toBe(out.length);
    const invalid = out.filter((l) => l.includes('(invalid')).length;
    expect(invalid).toBeGreaterThan(0);
    expect(r.warnings.filter((w) => w.code === 'capture.malformed').length).toBe(invalid);
    out.forEach((line, i) => {
      const m = /^\s*\d+\s+(\d\d):(\d\d):(\d\d)\.(\d+)/.exec(line)!;
      const secOfDay = Number(m[1]) * 3600 + Number(m[2]) * 60 + Number(m[3]);
      const rawFrac = Number(m[4]);
      const a = r.records[i]!;
      const oursNs = ((a.tsSec % 86400) - secOfDay) * 1e9 + a.tsNsec;
      expect(oursNs).toBe(rawFrac * (1e9 / perSec));
    });
  });
});
