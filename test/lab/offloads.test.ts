/**
 * `lab run --offloads on`: the option, the offload plan per veth end, what the kernel reports
 * for it (`ethtool -k` in a namespace, read directly as the oracle), tcpdump's miss counts, and a
 * real run whose captures show what production captures show, read with tshark: super-segments
 * where a host sends, GRO-merged packets where one receives, partial TCP checksums (exactly the
 * pseudo-header sum) at the sender. Lab parts need root, ethtool, nft, tcpdump, tshark: skipped
 * with a reason outside CI.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { main } from '../../src/cli/main.js';
import { parseOffloads } from '../../src/cli/lab.js';
import { InputError } from '../../src/errors.js';
import { labUnavailableReason } from '../../src/lab/netns.js';
import {
  OFFLOAD_RESPONSE_BYTES,
  labShape,
  offloadPlan,
  parseOffloadState,
  readOffloadState,
  runLabCase,
  type LabCaseResult,
} from '../../src/lab/sequence.js';
import { Lab, OFFLOAD_SETTINGS, missedPackets } from '../../src/lab/topology.js';
import { nftablesCase, nftablesDriver } from '../../src/lab/scenarios.js';
import { offloadExpectation, offloadFixture, pseudoHeaderSum } from '../../src/lab/offload-fixtures.js';
import { MAC } from '../../src/lab/plan.js';
import { hasCommand, need } from '../helpers/env.js';
import { tsharkFields } from './oracle.js';

async function exitOf(args: string[]): Promise<number> {
  const err = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
  try {
    return await main(args);
  } finally {
    err.mockRestore();
  }
}

describe('--offloads and the offload plan (no lab)', () => {
  it('parses on/off, defaults to off, rejects anything else with exit 2', async () => {
    expect(parseOffloads(undefined)).toBe('off');
    expect(parseOffloads('on')).toBe('on');
    expect(parseOffloads('off')).toBe('off');
    expect(() => parseOffloads('yes')).toThrow(InputError);
    expect(await exitOf(['lab', 'run', '--director', 'nftables', '--mode', 'nat', '--offloads', 'maybe'])).toBe(2);
    expect(await exitOf(['lab', 'matrix', '--case', 'nat/none', '--offloads', 'ON'])).toBe(2);
  });

  it('gives hosts their defaults, kernel forwarders software segmentation, and the userspace director finished frames', () => {
    const kernel = { addressed: true };
    const userspace = { addressed: false };
    for (const d of [kernel, userspace]) expect(new Set(Object.values(offloadPlan('off', d)))).toEqual(new Set(['off']));
    expect(offloadPlan('on', kernel)).toEqual({ host: 'host', router: 'segment', director: 'segment', directorPort: 'switch', port: 'switch' });
    // libpcap hands the reference director no offload metadata: its ports must see cut, checksummed frames.
    expect(offloadPlan('on', userspace)).toMatchObject({ host: 'host', director: 'off', directorPort: 'finish' });
    expect(OFFLOAD_SETTINGS.finish).toEqual(expect.arrayContaining(['tx', 'off', 'tso', 'off', 'gso', 'on']));
    expect(labShape({})).toEqual({ offloads: 'off', responseBytes: 0 });
    expect(labShape({ offloads: 'on' })).toEqual({ offloads: 'on', responseBytes: OFFLOAD_RESPONSE_BYTES });
    expect(labShape({ offloads: 'on', responseBytes: 1000 }).responseBytes).toBe(1000);
  });

  it("counts a tcpdump's kernel drops from its exit lines (a packet after the end is no hole)", () => {
    const lines = (c: number, r: number, d: number): string => `listening on eth0\n${c} packets captured\n${r} packets received by filter\n${d} packets dropped by kernel\n`;
    expect(missedPackets(lines(2061, 2061, 0))).toBe(0);
    expect(missedPackets(lines(1935, 2061, 126))).toBe(126);
    expect(missedPackets(lines(35, 36, 0))).toBe(0);
    expect(missedPackets(lines(1, 1, 1).replace('1 packets dropped', '1 packet dropped'))).toBe(1);
    expect(missedPackets('tcpdump: eth9: No such device exists')).toBeNull();
  });

  it('computes the partial checksum a TX-offload stack leaves (folded pseudo-header sum)', () => {
    // 0x0a00 + 0x000b + 0xac10 + 0x0002 + 6 + 32 = 0xb643, no carry.
    expect(pseudoHeaderSum('10.0.0.11', '172.16.0.2', 32)).toBe(0xb643);
    // Carries fold back in: 0xffff + 0xffff + 0xffff + 0xffff + 6 + 0 → 0x4_0002 → 0x0006.
    expect(pseudoHeaderSum('255.255.255.255', '255.255.255.255', 0)).toBe(0x0006);
  });

  it('expects exactly the fault rules, the poisoning ones when the run shows the bypass', () => {
    expect(offloadExpectation(offloadFixture('nftables-nat'), false)).toEqual({ verdict: 'pass', rules: [], allowed: [] });
    const arp = offloadFixture('ipvs-dr-rs1-arp_ignore0');
    // The director answers the same who-has: the VIP conflict is the fault's own rule.
    expect(offloadExpectation(arp, false)).toEqual({ verdict: 'fail', rules: ['arp.vip-answered-by-rs', 'arp.vip-conflict'], allowed: ['arp.client-poisoned', 'flow.bypassed-director'] });
    expect(offloadExpectation(arp, true).rules).toEqual(['arp.vip-answered-by-rs', 'arp.vip-conflict', 'arp.client-poisoned', 'flow.bypassed-director']);
    expect(offloadExpectation(offloadFixture('nftables-nat-rs1-gateway-bypass'), false)).toEqual({
      verdict: 'fail',
      rules: ['nat.reply-bypass', 'nat.rip-leak'],
      allowed: ['flow.syn-retransmit', 'flow.unexpected-rst'],
    });
  });
});

const labReason = labUnavailableReason();
const canLab = need(labReason === null, labReason ?? '') && need(hasCommand('ethtool'), 'ethtool not installed');

describe.skipIf(!canLab)('offload profiles on real veths', () => {
  it('readOffloadState reports what ethtool -k says in each namespace', async () => {
    const lab = new Lab();
    try {
      const a = lab.addNamespace('client');
      const b = lab.addNamespace('router');
      lab.link(a, b, { a: { offloads: 'host' }, b: { offloads: 'segment' } });
      const state = readOffloadState(lab);
      // The oracle: ethtool itself, run per device.
      const direct = (ns: string): string => execFileSync('ip', ['netns', 'exec', ns, 'ethtool', '-k', 'eth0'], { encoding: 'utf8' });
      const fromEthtool = (ns: string) => parseOffloadState(`== x eth0\n${direct(ns)}`)['x/eth0'];
      expect(state['client/eth0']).toEqual(fromEthtool(a.name));
      expect(state['router/eth0']).toEqual(fromEthtool(b.name));
      expect(state['client/eth0']).toEqual({ tx: true, tso: true, gso: true, gro: true });
      expect(state['router/eth0']).toEqual({ tx: true, tso: false, gso: true, gro: true });
      expect(direct(a.name)).toMatch(/^tcp-segmentation-offload: on/m);
      expect(direct(b.name)).toMatch(/^tcp-segmentation-offload: off/m);
    } finally {
      await lab.destroy();
    }
  });
});

const canRun =
  canLab &&
  need(hasCommand('tshark'), 'tshark not installed') &&
  need(hasCommand('nft'), 'nftables (nft) not installed') &&
  need(hasCommand('tcpdump'), 'tcpdump not installed') &&
  need(hasCommand('sysctl'), 'sysctl (procps) not installed');

describe.skipIf(!canRun)('lab run --director nftables --mode nat --offloads on', () => {
  const dir = canRun ? mkdtempSync(join(tmpdir(), 'lvsa-offloads-')) : '';
  let r: LabCaseResult;

  beforeAll(async () => {
    r = await runLabCase(nftablesDriver, nftablesCase('nat', [], 4), dir, { offloads: 'on' });
  });
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('serves 300 KB responses through the director', () => {
    expect(r.connections.map((c) => [c.ok, c.bytes])).toEqual(Array(4).fill([true, OFFLOAD_RESPONSE_BYTES]));
    expect(r.shape).toEqual({ offloads: 'on', responseBytes: OFFLOAD_RESPONSE_BYTES });
    expect(r.offloadState?.['rs1/eth0']).toEqual({ tx: true, tso: true, gso: true, gro: true });
    expect(r.offloadState?.['director/eth0']).toMatchObject({ tso: false, gso: true, gro: true });
  });

  it('the real server sends super-segments whose TCP checksum is the partial pseudo-header sum', () => {
    const rows = tsharkFields(r.captures.rs1!, `tcp && eth.src==${MAC.rs1} && ip.len > 1500`, ['ip.src', 'ip.dst', 'ip.len', 'ip.hdr_len', 'tcp.checksum']);
    expect(rows.length).toBeGreaterThan(0);
    const partial = rows.filter(([src, dst, len, hdr, sum]) => Number.parseInt(sum!, 16) === pseudoHeaderSum(src!, dst!, Number(len) - Number(hdr)));
    expect(partial.length).toBe(rows.length);
  });

  it('the client receives GRO-merged packets; the director sends segments cut in software', () => {
    expect(tsharkFields(r.captures.client!, `tcp && eth.dst==${MAC.client} && ip.len > 1500`, ['ip.len']).length).toBeGreaterThan(0);
    // SLL2 packet type 4: sent by the director. Super-segments arrive, only wire-size ones leave.
    const inBig = tsharkFields(r.captures.director!, 'tcp && sll.pkttype != 4 && ip.len > 1500', ['ip.len']);
    const out = tsharkFields(r.captures.director!, 'tcp && sll.pkttype == 4', ['ip.len']).map(([l]) => Number(l));
    expect(inBig.length).toBeGreaterThan(0);
    expect(out.length).toBeGreaterThan(100);
    expect(Math.max(...out)).toBeLessThanOrEqual(1500);
  });

  it("the sender's bad checksums show only with validation on (tshark leaves it off by default because of TX offload)", () => {
    const bad = tsharkFields(r.captures.rs1!, `tcp && eth.src==${MAC.rs1} && tcp.checksum.status == 0`, ['frame.number']);
    // tcp.checksum.status needs validation on: ask tshark with the preference set.
    const checked = execFileSync('tshark', ['-n', '-r', r.captures.rs1!, '-o', 'tcp.check_checksum:TRUE', '-Y', `tcp && eth.src==${MAC.rs1} && tcp.checksum.status == 0`, '-T', 'fields', '-e', 'frame.number'], {
      encoding: 'utf8',
    });
    expect(bad.length).toBe(0);
    expect(checked.split('\n').filter((l) => l.length > 0).length).toBeGreaterThan(0);
  });
});
