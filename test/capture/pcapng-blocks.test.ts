/**
 * Hand-built pcapng (independent of our writer): binary and decimal if_tsresol, if_tsoffset,
 * the obsolete Packet Block, SPB snaplen cutting, NRB/DSB/unknown blocks skipped and counted,
 * epb_flags direction and opt_comment — read by us and by tshark.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readCaptureBuffer } from '../../src/decode/capture/index.js';
import type { Frame } from '../../src/decode/frame.js';
import { hasCommand, need } from '../helpers/env.js';
import { Blocks } from '../helpers/pcapng-blocks.js';

const tmp = mkdtempSync(path.join(tmpdir(), 'lvsaudit-capture-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function ipv4(n: number, len: number): Buffer {
  // A minimal IPv4 header so tshark dissects LINKTYPE_RAW frames without complaint.
  const b = Buffer.alloc(len);
  b[0] = 0x45;
  b.writeUInt16BE(len, 2);
  b[8] = 64;
  b[9] = 17;
  b.writeUInt32BE(0x0a000001 + n, 12);
  b.writeUInt32BE(0x0a0000fe, 16);
  return b;
}

function build(be: boolean): Buffer {
  const k = new Blocks(be);
  k.shb()
    // if0: 2^-10 s units, +1000 s offset, named; if1: 10^-3 s units, snaplen 32.
    .idb(101, 0, [k.opt(2, Buffer.from('dir0')), k.opt(9, Buffer.from([0x8a])), k.opt(14, k.i64(1000n))])
    .nrb(Buffer.from([10, 0, 0, 1]), 'vip')
    .epb(0, (1_700_000_000n << 10n) + 513n, ipv4(1, 40), 40, [k.opt(1, Buffer.from('first')), k.flags(1)])
    .block(0x0a, Buffer.concat([Buffer.from('TLSK'), Buffer.alloc(4)])) // DSB, 0-length secrets
    .idb(101, 32, [k.opt(9, Buffer.from([3])), k.opt(14, k.i64(-5n))])
    .epb(1, 1_700_000_123_456n, ipv4(2, 32), 60, [k.flags(2)])
    .pb(1, 1_700_000_124_000n, ipv4(3, 28), [k.opt(1, Buffer.from('obsolete'))])
    .block(0x00000123, Buffer.alloc(8)) // unknown, skipped
    .spb(ipv4(4, 48));
  return k.bytes();
}

describe.each([['little-endian', false], ['big-endian', true]])('hand-built pcapng, %s', (_n, be) => {
  const bytes = build(be);

  it('our reader: interfaces, block counts, times, lengths, comments, directions', () => {
    const frames: Array<Partial<Frame>> = [];
    const s = readCaptureBuffer(bytes, 'h.pcapng', (f) => {
      frames.push({ tsSec: f.tsSec, tsNsec: f.tsNsec, len: f.len, caplen: f.caplen, interfaceId: f.interfaceId, comment: f.comment, direction: f.direction });
    });
    expect(s.blockCounts).toEqual({ SHB: 1, IDB: 2, NRB: 1, EPB: 2, DSB: 1, PB: 1, 'UNKNOWN(0x00000123)': 1, SPB: 1 });
    expect(s.interfaces).toEqual([
      { linkType: 101, snaplen: 0, name: 'dir0', tsResolution: '2^-10', tsOffsetSec: 1000, section: 0 },
      { linkType: 101, snaplen: 32, name: null, tsResolution: '1e-3', tsOffsetSec: -5, section: 0 },
    ]);
    expect(frames).toEqual([
      // 513/1024 s = 0.5009765625 s → 500976562 ns (floor)
      { tsSec: 1_700_001_000, tsNsec: 500_976_562, len: 40, caplen: 40, interfaceId: 0, comment: 'first', direction: 'in' },
      { tsSec: 1_699_999_995 + 123, tsNsec: 456_000_000, len: 60, caplen: 32, interfaceId: 1, comment: null, direction: 'out' },
      { tsSec: 1_699_999_995 + 124, tsNsec: 0, len: 28, caplen: 28, interfaceId: 1, comment: 'obsolete', direction: null },
      // SPB: interface 0 (snaplen 0 = unlimited), no timestamp.
      { tsSec: 0, tsNsec: 0, len: 48, caplen: 48, interfaceId: 0, comment: null, direction: null },
    ]);
  });

  it.skipIf(!need(hasCommand('tshark'), 'tshark not installed'))('tshark agrees on times, lengths and interfaces', () => {
    const file = path.join(tmp, `h-${be ? 'be' : 'le'}.pcapng`);
    writeFileSync(file, bytes);
    const r = spawnSync('tshark', ['-n', '-r', file, '-T', 'fields', '-E', 'separator=|', '-e', 'frame.time_epoch', '-e', 'frame.len', '-e', 'frame.cap_len', '-e', 'frame.interface_id', '-e', 'frame.comment'], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    const rows = r.stdout.split('\n').filter((l) => l !== '').map((l) => l.split('|'));
    const ours: string[][] = [];
    readCaptureBuffer(bytes, 'h', (f) => {
      ours.push([f.tsSec === 0 && f.tsNsec === 0 ? '' : `${f.tsSec}.${String(f.tsNsec).padStart(9, '0')}`, String(f.len), String(f.caplen), String(f.interfaceId), f.comment ?? '']);
    });
    expect(rows).toEqual(ours);
  });
});
