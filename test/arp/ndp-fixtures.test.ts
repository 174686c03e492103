/**
 * The IPv6 captures kept from the real-kernel run (fixtures/arp/kernel-ipv6/<scenario>/, written
 * by ndp-kernel.test.ts with LVSAUDIT_WRITE_FIXTURES=1) must keep giving the same conclusions from
 * the client capture alone, and what lvsaudit reads from neighbor discovery must agree with
 * tshark's dissection of the same frames (the independent oracle): every sender address and MAC,
 * and how many solicitations, solicited and unsolicited advertisements each sent.
 */
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { hasCommand, need } from '../helpers/env.js';
import { arpOnClient, expectNdpCorrect, expectNdpVipOnEth0, ndpFixtureDir } from './ndp-expect.js';
import { NDP_POINTS } from './ndp-kernel.js';

const client = (scenario: string): string => path.join(ndpFixtureDir(scenario), 'client.pcap');

describe('IPv6 neighbor discovery: captures kept from real kernels, client capture alone', () => {
  it('correct: no error, roles inferred', async () => expectNdpCorrect(await arpOnClient(client('correct'))));
  it('vip-on-eth0: rs1 named, the fix is the VIP on lo', async () => expectNdpVipOnEth0(await arpOnClient(client('vip-on-eth0'))));
});

interface Row {
  ip: string;
  mac: string;
  requests: number;
  replies: number;
  gratuitous: number;
}

/** tshark's view, written as our timeline: NS → its source (with the source link-layer option,
 *  else the Ethernet source), NA → its target (target link-layer option); DAD (from ::) claims nothing. */
function tsharkTimeline(file: string): Row[] {
  const out = execFileSync(
    'tshark',
    ['-r', file, '-Y', '(icmpv6.type == 135 || icmpv6.type == 136) && ipv6.hlim == 255', '-T', 'fields', '-E', 'separator=|',
      '-e', 'icmpv6.type', '-e', 'ipv6.src', '-e', 'eth.src', '-e', 'icmpv6.nd.na.target_address', '-e', 'icmpv6.opt.linkaddr', '-e', 'icmpv6.nd.na.flag.s'],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] },
  );
  const rows = new Map<string, Row>();
  for (const line of out.trim().split('\n').filter(Boolean)) {
    const [type, src, ethSrc, target, lla, solicited] = line.split('|');
    const ns = type === '135';
    const ip = ns ? src! : target!;
    if (ip === '::') continue;
    const mac = (lla || ethSrc)!.split(',')[0]!;
    const key = `${ip}|${mac}`;
    const row = rows.get(key) ?? { ip, mac, requests: 0, replies: 0, gratuitous: 0 };
    if (ns) row.requests++;
    else if (solicited === '1' || solicited === 'True') row.replies++;
    else row.gratuitous++;
    rows.set(key, row);
  }
  return [...rows.values()].sort((a, b) => `${a.ip}|${a.mac}`.localeCompare(`${b.ip}|${b.mac}`));
}

describe.skipIf(!need(hasCommand('tshark'), 'tshark not installed (the oracle for neighbor discovery fields)'))('neighbor discovery read as tshark reads it', () => {
  for (const scenario of ['correct', 'vip-on-eth0']) {
    for (const point of NDP_POINTS) {
      it(`${scenario}/${point}.pcap: every sender, MAC and message count`, async () => {
        const file = path.join(ndpFixtureDir(scenario), `${point}.pcap`);
        const { r } = await arpOnClient(file);
        const ours = r.timeline
          .map((t) => ({ ip: t.ip.replace(' (VIP)', ''), mac: t.mac, requests: t.requests, replies: t.replies, gratuitous: t.gratuitous }))
          .sort((a, b) => `${a.ip}|${a.mac}`.localeCompare(`${b.ip}|${b.mac}`));
        const theirs = tsharkTimeline(file);
        expect(theirs.length).toBeGreaterThan(0);
        expect(ours).toEqual(theirs);
      });
    }
  }
});
