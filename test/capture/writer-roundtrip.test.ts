/**
 * Writers → our reader, and writers → tshark: both must read back exactly what was written
 * (timestamps to the nanosecond, lengths, bytes, interfaces, comments, direction).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { PcapWriter, PcapngWriter, readCapture, readCaptureBuffer } from '../../src/decode/capture/index.js';
import type { Direction } from '../../src/decode/frame.js';
import { hasCommand, need } from '../helpers/env.js';

interface Pkt {
  bytes: Buffer;
  tsSec: number;
  tsNsec: number;
  origLen: number;
  iface: number;
  comment?: string;
  direction: Direction;
}

/** Deterministic packets with awkward values: 0 and max nanoseconds, 2^31+ seconds, odd sizes. */
function samplePackets(n: number): Pkt[] {
  const out: Pkt[] = [];
  let seed = 12345;
  const rnd = (m: number): number => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % m;
  };
  const secs = [0, 1, 1_700_000_000, 2_147_483_648, 4_294_967_295];
  const nsecs = [0, 1, 999_999_999, 123_456_789, 500_000_000];
  for (let i = 0; i < n; i++) {
    const size = [1, 3, 14, 60, 1514, 9000][i % 6]!;
    const bytes = Buffer.alloc(size);
    for (let j = 0; j < size; j++) bytes[j] = rnd(256);
    const dirs: Direction[] = [null, 'in', 'out'];
    out.push({
      bytes,
      tsSec: secs[i % secs.length]! + rnd(1000),
      tsNsec: nsecs[(i * 3) % nsecs.length]!,
      origLen: size + (i % 4 === 0 ? 100 : 0),
      iface: i % 2,
      comment: i % 3 === 0 ? `pkt ${i} ✓` : undefined,
      direction: dirs[i % 3]!,
    });
  }
  // Keep seconds inside the 32-bit range the classic format can hold.
  for (const p of out) p.tsSec = Math.min(p.tsSec, 4_294_967_295);
  return out;
}

const tmp = mkdtempSync(path.join(tmpdir(), 'lvsaudit-capture-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const haveTshark = need(hasCommand('tshark'), 'tshark not installed');

function tshark(file: string, fields: string[]): string[][] {
  const r = spawnSync('tshark', ['-n', '-r', file, '-T', 'fields', '-E', 'separator=|', ...fields.flatMap((f) => ['-e', f])], { encoding: 'utf8' });
  expect(r.status, r.stderr).toBe(0);
  return r.stdout.split('\n').filter((l) => l !== '').map((l) => l.split('|'));
}

function epoch(sec: number, nsec: number, digits: number): string {
  return `${sec}.${String(nsec).padStart(9, '0').slice(0, digits)}`;
}

describe('PcapWriter round trip', () => {
  const pkts = samplePackets(60);
  it.each([
    ['ns little-endian', { resolution: 'ns' as const }],
    ['ns big-endian', { resolution: 'ns' as const, bigEndian: true }],
    ['us little-endian', { resolution: 'us' as const }],
    ['us big-endian', { resolution: 'us' as const, bigEndian: true }],
  ])('%s: reader returns what was written', (_n, opts) => {
    const w = new PcapWriter({ linkType: 101, ...opts });
    for (const p of pkts) w.write(p.bytes, p.tsSec, p.tsNsec, p.origLen);
    const buf = w.toBuffer();
    const got: Pkt[] = [];
    const s = readCaptureBuffer(buf, 'mem', (f) => {
      expect(f.linkType).toBe(101);
      got.push({ bytes: Buffer.from(f.buf.subarray(f.off, f.off + f.caplen)), tsSec: f.tsSec, tsNsec: f.tsNsec, origLen: f.len, iface: f.interfaceId, direction: f.direction });
    });
    expect(s.format).toBe('pcap');
    expect(s.interfaces).toEqual([{ linkType: 101, snaplen: 262144, name: null, tsResolution: opts.resolution === 'ns' ? '1e-9' : '1e-6', tsOffsetSec: 0, section: 0 }]);
    expect(got.length).toBe(pkts.length);
    got.forEach((g, i) => {
      const p = pkts[i]!;
      expect(g.bytes.equals(p.bytes)).toBe(true);
      expect(g.tsSec).toBe(p.tsSec);
      expect(g.tsNsec).toBe(opts.resolution === 'ns' ? p.tsNsec : Math.floor(p.tsNsec / 1000) * 1000);
      expect(g.origLen).toBe(p.origLen);
    });
  });

  it('cuts records at the snaplen and keeps the original length', () => {
    const w = new PcapWriter({ snaplen: 64 });
    w.write(Buffer.alloc(1000, 7), 5, 6);
    const lens: number[][] = [];
    readCaptureBuffer(w.toBuffer(), 'mem', (f) => void lens.push([f.caplen, f.len]));
    expect(lens).toEqual([[64, 1000]]);
  });

  it.skipIf(!haveTshark)('file output: tshark reads the same times, lengths and bytes', async () => {
    const file = path.join(tmp, 'rt.pcap');
    const w = new PcapWriter({ path: file, linkType: 1 });
    for (const p of pkts) w.write(p.bytes, p.tsSec, p.tsNsec, p.origLen);
    w.close();
    const rows = tshark(file, ['frame.time_epoch', 'frame.len', 'frame.cap_len', 'frame.encap_type']);
    expect(rows.length).toBe(pkts.length);
    rows.forEach((r, i) => {
      const p = pkts[i]!;
      expect(r[0]).toBe(epoch(p.tsSec, p.tsNsec, 9));
      expect(r[1]).toBe(String(p.origLen));
      expect(r[2]).toBe(String(p.bytes.length));
    });
    // Bytes: tshark's JSON output carries every frame's raw bytes as hex.
    const json = spawnSync('tshark', ['-n', '-r', file, '-T', 'json', '-x'], { encoding: 'utf8', maxBuffer: 256 << 20 });
    const raws = [...json.stdout.matchAll(/"frame_raw": \[\s*"([0-9a-f]*)"/g)].map((m) => m[1]);
    expect(raws).toEqual(pkts.map((p) => p.bytes.toString('hex')));
    let n = 0;
    const s = await readCapture(file, () => void n++);
    expect(n).toBe(pkts.length);
    expect(s.gzip).toBe(false);
  });
});

describe('PcapngWriter round trip', () => {
  const pkts = samplePackets(60);
  function build(opts: { path?: string; bigEndian?: boolean }): PcapngWriter {
    const w = new PcapngWriter(opts);
    expect(w.addInterface({ name: 'director-eth0', linkType: 1 })).toBe(0);
    expect(w.addInterface({ name: 'rs1 any', linkType: 276, snaplen: 128 })).toBe(1);
    for (const p of pkts) w.write(p.iface, p.bytes, p.tsSec, p.tsNsec, { origLen: p.origLen, comment: p.comment, direction: p.direction });
    return w;
  }

  it.each([['little-endian', false], ['big-endian', true]])('%s: reader returns what was written', (_n, bigEndian) => {
    const buf = build({ bigEndian }).toBuffer();
    const got: Pkt[] = [];
    const s = readCaptureBuffer(buf, 'mem', (f) => {
      got.push({ bytes: Buffer.from(f.buf.subarray(f.off, f.off + f.caplen)), tsSec: f.tsSec, tsNsec: f.tsNsec, origLen: f.len, iface: f.interfaceId, comment: f.comment ?? undefined, direction: f.direction });
      expect(f.linkType).toBe(f.interfaceId === 0 ? 1 : 276);
    });
    expect(s.format).toBe('pcapng');
    expect(s.blockCounts).toEqual({ SHB: 1, IDB: 2, EPB: pkts.length });
    expect(s.interfaces).toEqual([
      { linkType: 1, snaplen: 262144, name: 'director-eth0', tsResolution: '1e-9', tsOffsetSec: 0, section: 0 },
      { linkType: 276, snaplen: 128, name: 'rs1 any', tsResolution: '1e-9', tsOffsetSec: 0, section: 0 },
    ]);
    expect(got.length).toBe(pkts.length);
    got.forEach((g, i) => {
      const p = pkts[i]!;
      const cap = p.iface === 1 ? Math.min(128, p.bytes.length) : p.bytes.length;
      expect(g.bytes.equals(p.bytes.subarray(0, cap))).toBe(true);
      expect([g.tsSec, g.tsNsec]).toEqual([p.tsSec, p.tsNsec]);
      expect(g.origLen).toBe(p.origLen);
      expect(g.iface).toBe(p.iface);
      expect(g.comment).toBe(p.comment);
      expect(g.direction).toBe(p.direction);
    });
  });

  it.skipIf(!haveTshark)('file output: tshark reads the same interfaces, times, lengths, comments, directions', () => {
    const file = path.join(tmp, 'rt.pcapng');
    build({ path: file }).close();
    const rows = tshark(file, ['frame.time_epoch', 'frame.len', 'frame.cap_len', 'frame.interface_id', 'frame.interface_name', 'frame.comment', 'frame.packet_flags_direction']);
    expect(rows.length).toBe(pkts.length);
    rows.forEach((r, i) => {
      const p = pkts[i]!;
      expect(r[0]).toBe(epoch(p.tsSec, p.tsNsec, 9));
      expect(r[1]).toBe(String(p.origLen));
      expect(r[2]).toBe(String(p.iface === 1 ? Math.min(128, p.bytes.length) : p.bytes.length));
      expect(r[3]).toBe(String(p.iface));
      expect(r[4]).toBe(p.iface === 0 ? 'director-eth0' : 'rs1 any');
      expect(r[5]).toBe(p.comment ?? '');
      // Wireshark: 1 = inbound, 2 = outbound; absent flags print nothing.
      expect(r[6] === '' ? null : Number(r[6])).toBe(p.direction === 'in' ? 1 : p.direction === 'out' ? 2 : null);
    });
  });
});
