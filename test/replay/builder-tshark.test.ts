/**
 * Builder vs tshark: the spot packets written to classic pcap files (one per link type) must have
 * every checksum tshark verifies reported Good, and tshark must see the TOA option bytes where the
 * builder put them.
 */
import { describe, expect, it, beforeAll, afterAll } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PcapWriter } from '../../src/decode/capture/index.js';
import { LinkType, type PacketBuilder } from '../../src/replay/builder/index.js';
import { hasCommand, need } from '../helpers/env.js';
import { spots, frags, badChecksum } from './builder-fixtures.js';

const hasTshark = hasCommand('tshark');

/** Wireshark's checksum status values (proto.h: PROTO_CHECKSUM_E_BAD/GOOD/UNVERIFIED/NOT_PRESENT). */
const GOOD = '1';
const BAD = '0';
const NOT_PRESENT = '3';
/** Packets sent with a zero UDP checksum ("none", RFC 768; the IPVS GUE default). */
const ZERO_UDP = new Set(['udp4Zero', 'gue']);
/** ICMP errors whose quote is cut (548 of 1440 bytes): tshark checks the quoted TCP over the cut bytes. */
const CUT_QUOTE = new Set(['icmpFragNeeded']);

const STATUS_FIELDS = ['ip.checksum.status', 'tcp.checksum.status', 'udp.checksum.status', 'icmp.checksum.status', 'icmpv6.checksum.status', 'gre.checksum.status'];
const OTHER_FIELDS = ['frame.protocols', 'tcp.option_kind', 'tcp.option_len', 'tcp.options', 'tcp.hdr_len'];

type Row = Record<string, string[]>;

function tshark(file: string): Row[] {
  const fields = [...STATUS_FIELDS, ...OTHER_FIELDS];
  const args = ['-n', '-r', file, '-o', 'tcp.check_checksum:TRUE', '-o', 'ip.check_checksum:TRUE', '-o', 'udp.check_checksum:TRUE', '-T', 'fields', '-E', 'separator=|', '-E', 'occurrence=a', '-E', 'aggregator=;'];
  for (const f of fields) args.push('-e', f);
  const r = spawnSync('tshark', args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`tshark failed: ${r.stderr}`);
  return r.stdout
    .split('\n')
    .filter((l) => l !== '')
    .map((line) => {
      const cols = line.split('|');
      const row: Row = {};
      fields.forEach((f, i) => (row[f] = cols[i] ? cols[i]!.split(';') : []));
      return row;
    });
}

describe.skipIf(!need(hasTshark, 'tshark not installed'))('builder vs tshark', () => {
  let dir = '';
  /** name → tshark's row for that packet. */
  const rows = new Map<string, Row>();

  beforeAll(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'lvsaudit-h3-'));
    const all: [string, PacketBuilder | Buffer, number][] = Object.entries(spots).map(([n, b]) => [n, b, b.linkType]);
    frags.forEach((f, i) => all.push([`frag${i}`, f, LinkType.ETHERNET]));
    all.push(['bad', badChecksum, LinkType.ETHERNET]);
    const byLink = new Map<number, [string, Buffer][]>();
    for (const [n, b, lt] of all) {
      const bytes = Buffer.isBuffer(b) ? b : b.build();
      const list = byLink.get(lt) ?? [];
      list.push([n, bytes]);
      byLink.set(lt, list);
    }
    for (const [lt, list] of byLink) {
      const file = path.join(dir, `lt${lt}.pcap`);
      const w = new PcapWriter({ path: file, linkType: lt, resolution: 'us' });
      list.forEach(([, bytes], i) => w.write(bytes, 1_700_000_000 + i, 0));
      w.close();
      const out = tshark(file);
      expect(out.length).toBe(list.length);
      list.forEach(([n], i) => rows.set(n, out[i]!));
    }
  });

  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('every checksum tshark verifies is Good in every spot packet and fragment', () => {
    let verified = 0;
    for (const [n, row] of rows) {
      if (n === 'bad') continue;
      for (const f of STATUS_FIELDS) {
        for (const v of row[f]!) {
          if (f === 'tcp.checksum.status' && CUT_QUOTE.has(n)) continue;
          const want = f === 'udp.checksum.status' && ZERO_UDP.has(n) ? NOT_PRESENT : GOOD;
          expect({ n, f, v }).toEqual({ n, f, v: want });
          verified++;
        }
      }
    }
    // Sanity: the statuses were really produced (IP, TCP, UDP, ICMP, ICMPv6, GRE all appear).
    expect(verified).toBeGreaterThan(40);
    for (const f of STATUS_FIELDS) expect([...rows.values()].some((r) => r[f]!.includes(GOOD)), f).toBe(true);
  });

  it('a forced bad TCP checksum is reported Bad (the check can fail)', () => {
    const row = rows.get('bad')!;
    expect(row['tcp.checksum.status']).toEqual([BAD]);
    expect(row['ip.checksum.status']).toEqual([GOOD]);
  });

  it('tshark sees the TOA option bytes where the builder put them', () => {
    const syn = rows.get('tcp4Syn')!;
    expect(syn['tcp.option_kind']).toEqual(['2', '4', '8', '1', '3', '254']);
    expect(syn['tcp.option_len']).toEqual(['4', '2', '10', '3', '8']);
    expect(syn['tcp.hdr_len']).toEqual(['48']);
    // mss 1460 | sackOK | TS 123456/0 | nop | ws 7 | TOA 254 len 8 port 40000 addr 10.0.0.2
    expect(syn['tcp.options']).toEqual(['020405b4' + '0402' + '080a0001e24000000000' + '01' + '030307' + 'fe089c400a000002']);

    const ack = rows.get('tcp4Sack')!;
    expect(ack['tcp.option_kind']![0]).toBe('254'); // TOA first, right after the base header (§2.3)
    expect(ack['tcp.options']![0]!.startsWith('fe089c410a000002')).toBe(true);

    const v6 = rows.get('tcp6Toa')!;
    expect(v6['tcp.option_kind']).toEqual(['253']);
    expect(v6['tcp.option_len']).toEqual(['20']);
    expect(v6['tcp.options']).toEqual(['fd149c42' + '20010db8000000000000000000000002']);

    const nat64 = rows.get('tcp4Toa6Dpvs')!;
    expect(nat64['tcp.option_kind']).toEqual(['254']);
    expect(nat64['tcp.option_len']).toEqual(['20']);
  });

  it('tshark decodes the protocol stacks the builder says it built', () => {
    const protos = (n: string): string => rows.get(n)!['frame.protocols']!.join(';');
    expect(protos('qinq')).toBe('eth:ethertype:ieee8021ad:ethertype:vlan:ethertype:ip:icmp:data');
    expect(protos('ipip')).toBe('eth:ethertype:ip:ip:tcp');
    expect(protos('greKeyCsum')).toBe('eth:ethertype:ip:gre:ip:udp:data');
    expect(protos('icmp6Ptb')).toMatch(/^eth:ethertype:ipv6:icmpv6:ipv6:tcp/);
    expect(protos('garp')).toBe('eth:ethertype:arp');
    expect(protos('sll2')).toBe('sll:ethertype:ipv6:tcp');
  });
});
