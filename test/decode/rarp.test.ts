/**
 * RARP (EtherType 0x8035) is decoded as ARP is, printed with tcpdump's words (compared with
 * tcpdump -nn itself when installed), marked `"rarp":true` in --json, selected by the `rarp`
 * filter word, and never handed to the ARP rules.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { registerDecode } from '../../src/cli/decode.js';
import { decodeBytes } from '../../src/decode/decoder.js';
import { compileFilter } from '../../src/decode/filter.js';
import { arpText } from '../../src/decode/print/arp.js';
import { runInProcess } from '../helpers/cli.js';
import { hasCommand, need } from '../helpers/env.js';

const mac = (b: number[]): string => b.map((x) => x.toString(16).padStart(2, '0')).join(':');

/** An Ethernet frame carrying an Ethernet/IPv4 ARP header under `etherType`. */
function frame(etherType: number, op: number, sha: number[], spa: number[], tha: number[], tpa: number[]): Buffer {
  const head = Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, ...sha, etherType >> 8, etherType & 0xff, 0, 1, 8, 0, 6, 4, op >> 8, op & 0xff]);
  return Buffer.concat([head, Buffer.from([...sha, ...spa, ...tha, ...tpa])]);
}

function pcap(frames: Buffer[]): Buffer {
  const hdr = Buffer.alloc(24);
  hdr.writeUInt32LE(0xa1b2c3d4, 0);
  hdr.writeUInt16LE(2, 4);
  hdr.writeUInt16LE(4, 6);
  hdr.writeUInt32LE(65535, 16);
  hdr.writeUInt32LE(1, 20);
  const recs = frames.map((f, i) => {
    const r = Buffer.alloc(16);
    r.writeUInt32LE(i + 1, 0);
    r.writeUInt32LE(f.length, 8);
    r.writeUInt32LE(f.length, 12);
    return Buffer.concat([r, f]);
  });
  return Buffer.concat([hdr, ...recs]);
}

const A = [2, 0, 0, 0, 0, 1];
const B = [2, 0, 0, 0, 0, 2];

describe('RARP', () => {
  it('decodes a RARP request and reply as ARP, worded as tcpdump words them, kept from the ARP rules', () => {
    const req = decodeBytes(frame(0x8035, 3, A, [0, 0, 0, 0], B, [0, 0, 0, 0]), 1);
    expect(req.arp.present).toBe(true);
    expect(req.arp.reverse).toBe(true);
    expect(req.arp.isEthIpv4).toBe(false);
    expect(arpText(req)).toBe(`ARP, Reverse Request who-is ${mac(B)} tell ${mac(A)}`);
    const rep = decodeBytes(frame(0x8035, 4, A, [10, 0, 0, 1], B, [10, 0, 0, 2]), 1);
    expect(arpText(rep)).toBe(`ARP, Reverse Reply ${mac(B)} at 10.0.0.2`);
    const arp = decodeBytes(frame(0x0806, 1, A, [10, 0, 0, 1], B, [10, 0, 0, 2]), 1);
    expect(arp.arp.reverse).toBe(false);
    expect(arp.arp.isEthIpv4).toBe(true);
    expect(compileFilter('rarp')(rep)).toBe(true);
    expect(compileFilter('rarp')(arp)).toBe(false);
    expect(compileFilter('arp')(rep)).toBe(false);
    expect(compileFilter('host 10.0.0.2')(rep)).toBe(true);
  });

  it('a cut RARP header is truncated, not misread', () => {
    const full = frame(0x8035, 4, A, [10, 0, 0, 1], B, [10, 0, 0, 2]);
    for (let n = 14; n < full.length; n++) {
      const p = decodeBytes(full.subarray(0, n), 1, undefined, full.length);
      expect(p.truncated).toBe('arp');
      expect(arpText(p)).not.toMatch(/Reverse Reply/);
    }
  });

  it('--json marks RARP and keeps the ARP keys', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'lvsaudit-rarp-'));
    try {
      const file = path.join(dir, 'rarp.pcap');
      writeFileSync(file, pcap([frame(0x8035, 4, A, [10, 0, 0, 1], B, [10, 0, 0, 2]), frame(0x0806, 2, A, [10, 0, 0, 1], B, [10, 0, 0, 2])]));
      const r = await runInProcess(registerDecode, 'decode', ['--json', file]);
      expect(r.code).toBe(0);
      const [rarp, arp] = r.out.trim().split('\n').map((l) => JSON.parse(l) as { arp: Record<string, unknown> });
      expect(rarp!.arp).toMatchObject({ op: 4, tha: mac(B), tpa: '10.0.0.2', rarp: true });
      expect(arp!.arp.rarp).toBeUndefined();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it.skipIf(!need(hasCommand('tcpdump'), 'tcpdump not installed: RARP wording not compared with it'))('prints what tcpdump -nn prints for any RARP/ARP operation and addresses', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'lvsaudit-rarp-'));
    try {
      const byte = fc.integer({ min: 0, max: 255 });
      const addr = (n: number): fc.Arbitrary<number[]> => fc.array(byte, { minLength: n, maxLength: n });
      const samples = fc.sample(fc.tuple(fc.constantFrom(0x0806, 0x8035), fc.constantFrom(1, 2, 3, 4), addr(6), addr(4), addr(6), addr(4)), { numRuns: 40, seed: 19 });
      const frames = samples.map(([t, op, sha, spa, tha, tpa]) => frame(t, op, sha, spa, tha, tpa));
      const file = path.join(dir, 'arp.pcap');
      writeFileSync(file, pcap(frames));
      const r = spawnSync('tcpdump', ['-r', file, '-nn', '-t'], { encoding: 'utf8' });
      const theirs = r.stdout.trim().split('\n').map((l) => l.replace(/, length \d+$/, ''));
      const ours = frames.map((f) => arpText(decodeBytes(f, 1)).replace(/ \((gratuitous|probe)\)$/, ''));
      expect(ours).toEqual(theirs);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
