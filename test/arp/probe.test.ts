/**
 * The pure parts of the live probe: the who-has frame (decoded by tshark as the oracle), which
 * captured frames count as answers, and the findings drawn from the answers.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { PcapWriter } from '../../src/decode/capture/index.js';
import { buildWhoHas, judgeProbe, ProbeCollector, probeArp, type ProbeAnswer } from '../../src/live/arp-probe.js';
import { EnvironmentError, InputError } from '../../src/errors.js';
import { PacketBuilder } from '../../src/replay/builder/index.js';
import { hasCommand, need } from '../helpers/env.js';
import { IP, MAC } from './fixture-gen.js';

const ME = { mac: '02:00:00:00:00:aa', ip: '10.0.0.250' };
const reply = (sha: string, spa: string, tha: string, tpa: string, ethSrc = sha): Buffer =>
  PacketBuilder.eth({ src: ethSrc, dst: tha }).arp({ op: 2, sha, spa, tha, tpa }).build();

describe('live probe frame', () => {
  it.skipIf(!need(hasCommand('tshark'), 'tshark not installed'))('who-has is a broadcast ARP request as arping sends it (tshark)', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'lvsa-arpprobe-'));
    try {
      const file = path.join(dir, 'p.pcap');
      const w = new PcapWriter({ path: file });
      w.write(buildWhoHas(ME.mac, ME.ip, IP.vip), 1_800_000_000, 0);
      w.close();
      const out = execFileSync(
        'tshark',
        ['-n', '-r', file, '-T', 'fields', '-E', 'separator=|', '-e', 'eth.dst', '-e', 'eth.src', '-e', 'arp.opcode',
          '-e', 'arp.src.hw_mac', '-e', 'arp.src.proto_ipv4', '-e', 'arp.dst.hw_mac', '-e', 'arp.dst.proto_ipv4'],
        { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] },
      );
      expect(out.trim()).toBe(`ff:ff:ff:ff:ff:ff|${ME.mac}|1|${ME.mac}|${ME.ip}|00:00:00:00:00:00|${IP.vip}`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('ProbeCollector', () => {
  it('counts replies per answering MAC, only "VIP is-at" addressed to the prober', () => {
    const c = new ProbeCollector(IP.vip, ME.ip, ME.mac, new Set());
    c.add(reply(MAC.director, IP.vip, ME.mac, ME.ip), 1);
    c.add(reply(MAC.rs1, IP.vip, ME.mac, ME.ip), 2);
    c.add(reply(MAC.director, IP.vip, ME.mac, ME.ip), 1001);
    c.add(reply(MAC.rs2, IP.vip, MAC.client, IP.client), 3); // someone else's answer
    c.add(reply(MAC.rs2, IP.rs2, ME.mac, ME.ip), 4); // not about the VIP
    c.add(buildWhoHas(ME.mac, ME.ip, IP.vip), 0); // our own request
    expect(c.answers().map((a) => [a.mac, a.replies, a.firstMs])).toEqual([
      [MAC.director, 2, 1],
      [MAC.rs1, 1, 2],
    ]);
  });

  it('accepts answers to a 0.0.0.0 probe by our MAC, and records the Ethernet source', () => {
    const c = new ProbeCollector(IP.vip, '0.0.0.0', ME.mac, null);
    c.add(reply(MAC.director, IP.vip, ME.mac, '0.0.0.0', MAC.other), 5);
    expect(c.answers()).toEqual([{ mac: MAC.director, ethSrc: MAC.other, replies: 1, firstMs: 5, isDirector: null }]);
  });
});

describe('judgeProbe', () => {
  const ans = (mac: string, isDirector: boolean | null): ProbeAnswer => ({ mac, ethSrc: mac, replies: 3, firstMs: 0, isDirector });
  it('exactly the director: no finding', () => {
    expect(judgeProbe('eth0', IP.vip, 3, [ans(MAC.director, true)], true)).toEqual([]);
  });
  it('a non-director answers: error naming it, arp_ignore hint', () => {
    const f = judgeProbe('eth0', IP.vip, 3, [ans(MAC.director, true), ans(MAC.rs1, false)], true);
    expect(f.map((x) => [x.rule, x.severity])).toEqual([['arp.vip-answered-by-rs', 'error']]);
    expect(f[0]!.message).toContain(MAC.rs1);
    expect(f[0]!.hint).toContain('arp_ignore=1');
  });
  it('one MAC and no director known: no finding; two MACs: error listing both', () => {
    expect(judgeProbe('eth0', IP.vip, 3, [ans(MAC.director, null)], false)).toEqual([]);
    const f = judgeProbe('eth0', IP.vip, 3, [ans(MAC.director, null), ans(MAC.rs1, null)], false);
    expect(f).toHaveLength(1);
    expect(f[0]!.message).toContain(`${MAC.director}, ${MAC.rs1}`);
  });
  it('nobody answers: warning', () => {
    expect(judgeProbe('eth0', IP.vip, 3, [], false).map((x) => [x.rule, x.severity])).toEqual([['arp.unanswered', 'warning']]);
  });
});

describe('probeArp safety checks (before anything is sent)', () => {
  it('bounded count and a valid VIP are required', async () => {
    await expect(probeArp({ iface: 'lo', vip: IP.vip, count: 11 })).rejects.toBeInstanceOf(InputError);
    await expect(probeArp({ iface: 'lo', vip: IP.vip, intervalMs: 10 })).rejects.toBeInstanceOf(InputError);
    await expect(probeArp({ iface: 'lo', vip: 'fe80::1' })).rejects.toBeInstanceOf(InputError);
  });
  it('a missing interface is an EnvironmentError (exit 4)', async () => {
    await expect(probeArp({ iface: 'nosuchif9', vip: IP.vip, count: 1 })).rejects.toBeInstanceOf(EnvironmentError);
    await expect(probeArp({ iface: '../../etc', vip: IP.vip, count: 1 })).rejects.toBeInstanceOf(EnvironmentError);
  });
});
