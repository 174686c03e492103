/**
 * FILTER against tcpdump: for every expression of the table, the frames `lvsaudit decode
 * --filter` keeps equal the frames `tcpdump -r FILE EXPR` keeps, on tcpdump's own test
 * captures (../shared/corpus) and on this project's fixtures, per link type. Frames where
 * we differ on purpose (tunnelled packets, VLAN tags, see tcpdump.ts `compared`) are left out.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hasCommand, hasShared, need, repoRoot, sharedDir } from '../helpers/env.js';
import { differences, listCaptures, mergeCaptures, ourVerdicts, tempDir, type Merged, type OurFrame } from './tcpdump.js';

/** Every construct of the language; the first three are the examples. */
export const EXPRESSIONS: readonly string[] = [
  'tcp[tcpflags] & tcp-syn != 0',
  'ip[8] = 64',
  'greater 100',
  'less 60',
  'len > 1000',
  'len >= 60 and len <= 100',
  'len % 7 = 3',
  'len * 2 - 100 > 50 + 1',
  'len / 3 = 20',
  'len & 0xff = 0x3c',
  'len | 1 = 61',
  'len ^ 1 = 61',
  '(len << 2) >> 3 = 30',
  '-len & 0xf = 4',
  'tcp[tcpflags] & (tcp-syn|tcp-ack) = tcp-syn|tcp-ack',
  'tcp[tcpflags] & tcp-fin != 0 or tcp[tcpflags] & tcp-rst != 0',
  'tcp[tcpflags] & (tcp-push|tcp-urg|tcp-ece|tcp-cwr) != 0',
  'tcp[13] == 2',
  'tcp[0:2] = 80 or tcp[2:2] = 80',
  'tcp[12] >> 4 > 5',
  'tcp[tcp[12] >> 4 << 2] = 1',
  'ip[0] & 0xf != 5',
  'ip[2:2] > 576',
  'ip[6:2] & 0x1fff != 0',
  'ip[9] = 17',
  'ip[12:4] = ip[16:4]',
  'ip6[6] = 58',
  'ip6[7] < 64',
  'udp[0:2] = 53 or udp[2:2] = 53',
  'udp[4:2] > 100',
  'icmp[icmptype] = icmp-echo or icmp[icmptype] = icmp-echoreply',
  'icmp[icmptype] != icmp-echo and icmp[icmptype] != icmp-echoreply',
  'icmp[icmpcode] = 3',
  'icmp6[icmp6type] = icmp6-neighborsolicit or icmp6[icmp6type] = icmp6-neighboradvert',
  'icmp6[icmp6type] = icmp6-echo',
  'ether[0] & 1 != 0',
  'ether[12:2] = 0x0806',
  'arp[6:2] = 2',
  'arp[7] = 1 and arp[14:4] = arp[24:4]',
  'ether proto 0x88cc',
  'ether proto \\arp',
  'ether proto \\ip6',
  'ip proto 17',
  'ip proto \\tcp',
  'ip6 proto 58',
  'proto 6',
  'proto \\udp',
  'ip broadcast',
  'ip multicast',
  'ip6 multicast',
  'ether broadcast',
  'ether multicast',
  'broadcast or multicast',
  'arp',
  'rarp',
  'ip',
  'ip6',
  'tcp',
  'udp',
  'icmp',
  'icmp6',
  'sctp',
  'igmp',
  'pim or vrrp or esp or ah',
  'tcp port 80',
  'udp port 53',
  'port 53 or 80 or 443',
  'src port 53',
  'dst port 80',
  'src or dst port 80',
  'src and dst port 53',
  'tcp dst port 80 or 443',
  'portrange 1-1023',
  'udp portrange 5000-6000',
  'ip6 and tcp',
  'ip and not tcp and not udp',
  'not ip and not ip6 and not arp',
  'tcp or udp and port 53',
  'host 10.0.0.1',
  'net 10.0.0.0/8',
  'net 192.168',
  'src net 172.16.0.0 mask 255.240.0.0',
  'dst net 224.0.0.0/4',
  'ip6 net fe80::/10',
  'ip6 src net 2001:db8::/32',
  'arp host 10.0.0.1',
  'ip host 10.0.0.1 or 10.0.0.2',
  'src and dst net 10.0.0.0/8',
  'ether src 00:00:00:00:00:00',
  'ether dst ff:ff:ff:ff:ff:ff',
  'ether host 0:1:2:3:4:5',
  'vlan',
  'vlan 100',
  'vlan and ip',
  'vlan and tcp port 80',
  'mpls',
  'mpls 0',
  'pppoed',
  'pppoes',
  'pppoes 0x3b',
  'not (tcp or udp or icmp)',
  '!(ip[8] > 32) && ip',
  'ip and (tcp[13] & 0x12 = 0x12 or icmp)',
  // Names from this machine's /etc/services and /etc/hosts, which tcpdump reads too.
  'port http',
  'port domain',
  'port www or https',
  'udp port domain',
  'src port ssh or ntp',
  'portrange ssh-http',
  'host localhost',
  'dst localhost',
  'ip host localhost or 10.0.0.1',
  // libpcap's extension-header walk.
  'protochain 6',
  'protochain 17',
  'protochain \\udp',
  'ip protochain 1',
  'ip6 protochain 17',
  'ip6 protochain 58',
  'ip6 protochain 44',
  'ip6 protochain 0',
  'ip6 protochain 59',
];

const corpus = path.join(sharedDir, 'corpus', 'tcpdump-tests');
const fixtures = path.join(repoRoot, 'fixtures');
const gate = need(hasCommand('tcpdump'), 'tcpdump not installed: FILTER is not compared with it') && need(hasShared && existsSync(corpus), 'shared corpus not found');

describe('FILTER selects the frames tcpdump selects', () => {
  let tmp: ReturnType<typeof tempDir> | null = null;
  let merged: Merged[] = [];
  const ours = new Map<number, OurFrame[]>();

  beforeAll(() => {
    if (!gate) return;
    tmp = tempDir();
    merged = mergeCaptures([...listCaptures(corpus), ...listCaptures(fixtures)], tmp.dir, 200);
    for (const m of merged) ours.set(m.linkType, ourVerdicts(m.file, EXPRESSIONS));
  });
  afterAll(() => tmp?.done());

  it.skipIf(!gate)('the table has every construct (at least 60 expressions) and the merged captures are substantial', () => {
    expect(EXPRESSIONS.length).toBeGreaterThanOrEqual(60);
    const eth = merged.find((m) => m.linkType === 1);
    expect(eth?.frames ?? 0).toBeGreaterThan(3000);
  });

  it.skipIf(!gate).each(EXPRESSIONS.map((e, i) => [e, i] as const))('%s', (expr, index) => {
    const problems: string[] = [];
    let comparedAny = false;
    for (const m of merged) {
      const d = differences(expr, m, ours.get(m.linkType)!, index, tmp!.dir);
      if (typeof d === 'string') {
        // tcpdump refuses some words on some link types (ether host on a cooked capture…);
        // on Ethernet every expression of the table must be accepted.
        if (m.linkType === 1) problems.push(`tcpdump refused it on Ethernet: ${d}`);
        continue;
      }
      comparedAny = true;
      problems.push(...d.slice(0, 5));
    }
    expect(comparedAny).toBe(true);
    expect(problems).toEqual([]);
  });
});
