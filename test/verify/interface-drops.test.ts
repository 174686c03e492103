/**
 * pcapng Interface Statistics Blocks (draft-ietf-opsawg-pcapng §4.6): isb_ifdrop (option 5,
 * dropped by the interface or driver) and isb_osdrop (7, dropped by the capture system — what
 * tcpdump prints as "packets dropped by kernel"), cumulative, the last block of an interface
 * holding the totals. The reader keeps them per interface; verify reports them as capture.gaps.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readCaptureBuffer } from '../../src/decode/capture/index.js';
import { parseServiceConfig } from '../../src/verify/service/index.js';
import { verify } from '../../src/verify/verify.js';
import { Blocks } from '../helpers/pcapng-blocks.js';
import { fixturesDir } from './fixture-util.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'lvsaudit-isb-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** A classic pcap rewritten as pcapng (one Ethernet interface), statistics blocks at the end. */
function asPcapng(pcap: Buffer, be: boolean, stats: Array<{ ifdrop?: bigint; osdrop?: bigint }>): Buffer {
  const k = new Blocks(be);
  k.shb().idb(1, 0, [k.opt(9, Buffer.from([9]))]);
  let last = 0n;
  readCaptureBuffer(pcap, 'in.pcap', (f) => {
    last = BigInt(f.tsSec) * 1_000_000_000n + BigInt(f.tsNsec);
    k.epb(0, last, Buffer.from(f.buf.subarray(f.off, f.off + f.caplen)), f.len, []);
  });
  for (const s of stats) {
    const opts: Buffer[] = [];
    if (s.ifdrop !== undefined) opts.push(k.opt(5, k.i64(s.ifdrop)));
    if (s.osdrop !== undefined) opts.push(k.opt(7, k.i64(s.osdrop)));
    k.isb(0, last, opts);
  }
  return k.bytes();
}

const rs1 = readFileSync(path.join(fixturesDir, 'nat-ok', 'rs1.pcap'));

describe('pcapng interface statistics', () => {
  it.each([[false], [true]])('the reader keeps the last block\'s drop counters (big-endian: %s)', (be) => {
    const bytes = asPcapng(rs1, be, [{ ifdrop: 1n, osdrop: 2n }, { ifdrop: 3n, osdrop: 2n ** 33n + 4n }]);
    const s = readCaptureBuffer(bytes, 'x.pcapng', () => undefined);
    expect(s.blockCounts.ISB).toBe(2);
    expect(s.interfaces[0]).toMatchObject({ ifDrop: 3, osDrop: 2 ** 33 + 4 });
  });

  it('a file without statistics has none (classic pcap, pcapng without ISB)', () => {
    expect(readCaptureBuffer(rs1, 'rs1.pcap', () => undefined).interfaces[0]!.osDrop).toBeUndefined();
    expect(readCaptureBuffer(asPcapng(rs1, false, []), 'x.pcapng', () => undefined).interfaces[0]!.osDrop).toBeUndefined();
  });

  it('verify reports the drops of a real server\'s capture as capture.gaps (warning), verdict still pass', async () => {
    const dir = path.join(fixturesDir, 'nat-ok');
    const file = path.join(tmp, 'rs1.pcapng');
    writeFileSync(file, asPcapng(rs1, false, [{ ifdrop: 0n, osdrop: 17n }]));
    const conf = path.join(dir, 'service.conf');
    const r = await verify({
      services: parseServiceConfig(readFileSync(conf, 'utf8'), conf),
      points: [
        { kind: 'client', files: [path.join(dir, 'client.pcap')] },
        { kind: 'director', files: [path.join(dir, 'director-eth0.pcap'), path.join(dir, 'director-eth1.pcap')] },
        { kind: 'rs', files: [file] },
        { kind: 'rs', files: [path.join(dir, 'rs2.pcap')] },
      ],
      profile: 'linux',
    });
    const gaps = r.findings.filter((f) => f.rule === 'capture.gaps');
    expect(gaps).toHaveLength(1);
    expect(gaps[0]!.severity).toBe('warning');
    expect(gaps[0]!.message).toMatch(/17 packet\(s\) dropped/);
    expect(gaps[0]!.evidence[0]!.capture).toBe(file);
    expect(r.verdict).toBe('pass');
  });
});
