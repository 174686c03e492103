/**
 * `decode --json` / `decode --reassemble` against tshark (one pass, defragmentation on, as
 * `tshark -r F -T fields` runs): the frame that completes a datagram carries its transport
 * (ports) and the list of its fragments' frames, on builder-made captures (IPv4 and IPv6, UDP,
 * TCP and ICMP, in order, reversed, shuffled with a duplicate, a missing piece) and on the
 * corpus's fragmented AFS capture. Also: what text mode prints, `--no-reassemble`, the records
 * for datagrams not reassembled, and that the filter still picks frames.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PcapWriter } from '../../src/decode/capture/index.js';
import { PacketBuilder } from '../../src/replay/builder/index.js';
import { fragmentIpv4, fragmentIpv6 } from '../../src/replay/builder/fragment.js';
import { hasCommand, hasShared, need, sharedDir } from '../helpers/env.js';
import { runDecode } from '../differential/cli.js';

const ETH = { src: '02:00:00:00:00:01', dst: '02:00:00:00:00:02' };

function body(n: number, seed: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i * 13 + seed) & 255;
  return b;
}

/** Ethernet frames: several fragmented datagrams, interleaved and reordered. */
function frames(): { list: Buffer[]; incompleteId: number } {
  const v4 = (id: number) => PacketBuilder.eth(ETH).ipv4({ src: '192.0.2.10', dst: '198.51.100.20', id });
  const v6 = () => PacketBuilder.eth(ETH).ipv6({ src: '2001:db8::10', dst: '2001:db8::20' });
  const inOrder = fragmentIpv4(v4(1).udp({ sport: 4000, dport: 53 }).payload(body(4000, 1)).build(), 1500, { ipOff: 14 });
  const reversed = fragmentIpv4(v4(2).tcp({ sport: 40000, dport: 80, flags: 'PA', seq: 1000, ack: 2000 }).payload(body(3000, 2)).build(), 1000, { ipOff: 14 }).reverse();
  const s6 = fragmentIpv6(v6().udp({ sport: 5000, dport: 4789 }).payload(body(3000, 3)).build(), 1280, { ipOff: 14, id: 77 });
  const shuffled6 = [s6[1]!, s6[2]!, s6[1]!, s6[0]!];
  // The case: an IPv6 UDP datagram in two fragments.
  const two6 = fragmentIpv6(v6().udp({ sport: 6000, dport: 6001 }).payload(body(1500, 4)).build(), 1280, { ipOff: 14, id: 78 });
  const echo = fragmentIpv4(v4(3).icmp({ type: 8, code: 0, id: 9, seq: 1 }).payload(body(2500, 5)).build(), 1000, { ipOff: 14 });
  const missing = fragmentIpv4(v4(4).udp({ sport: 7000, dport: 7001 }).payload(body(3000, 6)).build(), 1000, { ipOff: 14 });
  if (missing.length !== 4) throw new Error('fixture: expected four fragments');
  const plain = PacketBuilder.eth(ETH).ipv4({ src: '192.0.2.10', dst: '198.51.100.20', id: 5 }).udp({ sport: 1, dport: 2 }).payload('x').build();
  const list = [inOrder[0]!, reversed[0]!, inOrder[1]!, plain, ...shuffled6, reversed[1]!, missing[0]!, inOrder[2]!, ...two6,
    reversed[2]!, ...reversed.slice(3), missing[3]!, ...echo];
  return { list, incompleteId: 4 };
}

type Json = Record<string, unknown> & {
  frame?: number;
  udp?: { sport: number; dport: number; checksumOk: boolean | null };
  tcp?: { sport: number; dport: number };
  icmp?: { type: number };
  icmpv6?: { type: number };
  ipv4?: { fragOffset: number; mf: boolean };
  ipv6?: { fragment?: { offset: number; mf: boolean } };
  reassembled?: { frames: number[]; duplicates?: number[]; length: number; proto: number; checksumOk: boolean | null };
  reassembly?: { result: string; reason: string; id: number; frames: number[] };
};

function ours(file: string, extra: string[] = []): Json[] {
  const r = runDecode(['--json', ...extra, file]);
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  return r.stdout.trim().split('\n').map((l) => JSON.parse(l) as Json);
}

interface TsharkRow { ports: string; fragments: number[]; length: string }

/** tshark's view, one pass: ports of the frame, and for a completing frame its fragments' frames. */
function tshark(file: string): Map<number, TsharkRow> {
  const fields = ['frame.number', 'udp.srcport', 'udp.dstport', 'tcp.srcport', 'tcp.dstport', 'ip.fragment', 'ipv6.fragment', 'ip.reassembled.length', 'ipv6.reassembled.length'];
  const r = spawnSync('tshark', ['-n', '-r', file, '-T', 'fields', '-E', 'occurrence=a', '-E', 'aggregator=,', ...fields.flatMap((f) => ['-e', f])], { encoding: 'utf8' });
  const rows = new Map<number, TsharkRow>();
  for (const line of r.stdout.split('\n')) {
    if (line === '') continue;
    const c = line.split('\t');
    const frags = (c[5] || c[6] || '').split(',').filter((x) => x !== '').map(Number);
    const first = (v: string | undefined): string => (v ?? '').split(',')[0]!;
    rows.set(Number(c[0]), { ports: [first(c[1]) || first(c[3]), first(c[2]) || first(c[4])].join('>'), fragments: frags, length: c[7] || c[8] || '' });
  }
  return rows;
}

const isFirstFragment = (o: Json): boolean =>
  (o.ipv4 !== undefined && o.ipv4.fragOffset === 0 && o.ipv4.mf) || (o.ipv6?.fragment !== undefined && o.ipv6.fragment.offset === 0);

/** Frame-by-frame differences between our JSON and tshark's one-pass defragmented view. */
function compare(mine: Json[], theirs: Map<number, TsharkRow>): { mismatches: string[]; completions: number } {
  const mismatches: string[] = [];
  let completions = 0;
  for (const o of mine) {
    if (o.frame === undefined) continue;
    const t = theirs.get(o.frame);
    if (t === undefined) {
      mismatches.push(`frame ${o.frame}: not in tshark's output`);
      continue;
    }
    const l4 = o.udp ?? o.tcp;
    const ports = l4 ? `${l4.sport}>${l4.dport}` : '>';
    if (o.reassembled) {
      completions++;
      // tshark lists the fragments by offset, duplicates included; ours by arrival, duplicates apart.
      const sorted = [...o.reassembled.frames, ...(o.reassembled.duplicates ?? [])].sort((a, b) => a - b);
      const tsorted = [...t.fragments].sort((a, b) => a - b);
      if (sorted.join(',') !== tsorted.join(',')) mismatches.push(`frame ${o.frame}: fragments ${sorted.join(',')} vs tshark ${t.fragments.join(',')}`);
      if (String(o.reassembled.length) !== t.length) mismatches.push(`frame ${o.frame}: length ${o.reassembled.length} vs ${t.length}`);
    } else if (t.fragments.length > 0) mismatches.push(`frame ${o.frame}: tshark reassembles here, we do not`);
    // A first fragment keeps its own transport header here; tshark moves it to the completing frame.
    if (isFirstFragment(o) && !o.reassembled) continue;
    // tshark's udp/tcp fields also hold an ICMP error's quoted packet; ours is under icmp.inner.
    if (o.icmp !== undefined || o.icmpv6 !== undefined) continue;
    if (ports !== t.ports) mismatches.push(`frame ${o.frame}: ports ${ports} vs tshark ${t.ports}`);
  }
  return { mismatches, completions };
}

const haveTshark = need(hasCommand('tshark'), 'tshark not installed');

describe('decode reassembly through the CLI', () => {
  let tmp = '';
  let file = '';
  let incompleteId = 0;
  beforeAll(() => {
    tmp = mkdtempSync(path.join(os.tmpdir(), 'lvsaudit-reasm-'));
    file = path.join(tmp, 'frags.pcap');
    const f = frames();
    incompleteId = f.incompleteId;
    const w = new PcapWriter({ path: file, linkType: 1, resolution: 'us' });
    f.list.forEach((b, i) => w.write(b, 1795699418, i * 1000));
    w.close();
  });
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  it.skipIf(!haveTshark)('the completing frame carries the datagram\'s ports and fragment list, as tshark shows them', () => {
    const mine = ours(file);
    const { mismatches, completions } = compare(mine, tshark(file));
    expect(mismatches).toEqual([]);
    expect(completions).toBe(5);
    expect(mine.find((o) => o.reassembled?.duplicates)?.reassembled?.duplicates).toHaveLength(1);
  });

  it.skipIf(!haveTshark || !need(hasShared, 'shared corpus not found'))('the corpus\'s fragmented AFS capture: every completion where tshark has it', () => {
    const afs = path.join(sharedDir, 'corpus', 'tcpdump-tests', 'afs.pcap');
    const { mismatches, completions } = compare(ours(afs), tshark(afs));
    expect(mismatches).toEqual([]);
    expect(completions).toBeGreaterThan(20);
  });

  it('the datagram\'s transport checksum is verified over the whole datagram; ICMP too', () => {
    const mine = ours(file);
    const done = mine.filter((o) => o.reassembled);
    expect(done.map((o) => o.reassembled!.checksumOk)).toEqual([true, true, true, true, true]);
    expect(done.map((o) => o.reassembled!.proto)).toEqual([17, 17, 17, 6, 1]);
    expect(done[4]!.icmp?.type).toBe(8);
  });

  it('a datagram missing a piece is one record at the end', () => {
    const recs = ours(file).filter((o) => o.reassembly);
    expect(recs).toHaveLength(1);
    expect(recs[0]!.reassembly).toMatchObject({ result: 'incomplete', reason: 'incomplete', id: incompleteId });
    expect(recs[0]!.reassembly!.frames).toHaveLength(2);
  });

  it('--no-reassemble prints frames alone; text shows the datagram only with --reassemble', () => {
    const plain = ours(file, ['--no-reassemble']);
    expect(plain.some((o) => o.reassembled || o.reassembly)).toBe(false);
    const withIt = ours(file);
    expect(plain.length).toBe(withIt.length - 1);
    const text = runDecode([file]).stdout.trim().split('\n');
    expect(text.some((l) => l.includes('reassembled'))).toBe(false);
    const reasm = runDecode(['--reassemble', file]).stdout.trim().split('\n');
    const lines = reasm.filter((l) => l.includes(' [reassembled from frames '));
    expect(lines).toHaveLength(5);
    expect(lines.some((l) => / IP6 2001:db8::10\.6000 > 2001:db8::20\.6001: UDP, length 1500/.test(l))).toBe(true);
    expect(reasm[reasm.length - 1]).toMatch(/: reassembly: IP 192\.0\.2\.10 > 198\.51\.100\.20 id 4 proto 17: incomplete at the end of the capture, frames \d+,\d+, 1056 of 3008 data bytes$/);
  });

  it.skipIf(!haveTshark)('overlapping fragments: dropped as Linux drops them, where tshark reassembles and flags the overlap', () => {
    const ovl = path.join(tmp, 'overlap.pcap');
    const w4 = PacketBuilder.eth(ETH).ipv4({ src: '192.0.2.1', dst: '198.51.100.2', id: 5 }).udp({ sport: 9, dport: 10 }).payload(body(3000, 7)).build();
    const w6 = PacketBuilder.eth(ETH).ipv6({ src: '2001:db8::1', dst: '2001:db8::2' }).udp({ sport: 9, dport: 10 }).payload(body(3000, 8)).build();
    const big4 = fragmentIpv4(w4, 1200, { ipOff: 14 });
    const big6 = fragmentIpv6(w6, 1280, { ipOff: 14 });
    // The second piece of a finer cut starts inside the first piece and ends past it.
    const list = [big4[0]!, fragmentIpv4(w4, 900, { ipOff: 14 })[1]!, ...big4.slice(1), big6[0]!, fragmentIpv6(w6, 1000, { ipOff: 14 })[1]!, ...big6.slice(1)];
    const w = new PcapWriter({ path: ovl, linkType: 1, resolution: 'us' });
    list.forEach((b, i) => w.write(b, 1795699418, i * 1000));
    w.close();
    const mine = ours(ovl);
    expect(mine.some((o) => o.reassembled)).toBe(false);
    const dropped = mine.filter((o) => o.reassembly?.reason === 'overlap').map((o) => o.reassembly!.frames);
    expect(dropped).toEqual([[1], [big4.length + 2]]);
    const r = spawnSync('tshark', ['-n', '-r', ovl, '-T', 'fields', '-e', 'frame.number', '-e', 'ip.fragment.overlap', '-e', 'ipv6.fragment.overlap'], { encoding: 'utf8' });
    const flagged = r.stdout.split('\n').filter((l) => /\t1/.test(l)).map((l) => Number(l.split('\t')[0]));
    expect(flagged).toEqual([big4.length + 1, list.length]);
  });

  it.skipIf(!haveTshark)('a fragmented IPIP packet (a TUN director\'s leg): the completing frame shows the packet it carries, as tshark does', () => {
    const ipip = path.join(tmp, 'ipip.pcap');
    const whole = PacketBuilder.eth(ETH).ipv4({ src: '10.0.0.1', dst: '10.0.0.11', id: 300 })
      .ipv4({ src: '203.0.113.5', dst: '10.0.0.100', id: 301 })
      .tcp({ sport: 40001, dport: 443, flags: 'PA', seq: 7, ack: 9 }).payload(body(2400, 9)).build();
    const frags = fragmentIpv4(whole, 1000, { ipOff: 14 });
    const w = new PcapWriter({ path: ipip, linkType: 1, resolution: 'us' });
    frags.forEach((b, i) => w.write(b, 1795699418, i * 1000));
    w.close();
    const last = ours(ipip).find((o) => o.reassembled) as Json & { tunnel?: string; inner?: { tcp?: { sport: number; dport: number; seq: number } } };
    expect(last.frame).toBe(frags.length);
    expect(last.tunnel).toBe('ipip');
    expect(last.inner?.tcp).toMatchObject({ sport: 40001, dport: 443, seq: 7 });
    expect(tshark(ipip).get(frags.length)?.ports).toBe('40001>443');
    const text = runDecode(['--reassemble', ipip]).stdout;
    expect(text).toMatch(/\[reassembled from frames 1,2,3 \(2440 bytes\): IP 10\.0\.0\.1 > 10\.0\.0\.11 \(ttl 64, id 300\): IP 203\.0\.113\.5\.40001 > 10\.0\.0\.100\.443: /);
  });

  it('past 4096 datagrams held, fragments are refused and said so; after -c nothing is reported', () => {
    const many = path.join(tmp, 'many.pcap');
    const w = new PcapWriter({ path: many, linkType: 1, resolution: 'us' });
    for (let id = 0; id < 4100; id++) {
      const f = fragmentIpv4(PacketBuilder.eth(ETH).ipv4({ src: '192.0.2.1', dst: '198.51.100.2', id }).udp({ sport: 9, dport: 10 }).payload(body(100, id)).build(), 100, { ipOff: 14 });
      w.write(f[0]!, 1795699418, id);
    }
    w.close();
    const recs = ours(many).filter((o) => o.reassembly).map((o) => o.reassembly!);
    expect(recs.filter((x) => x.result === 'refused').map((x) => x.id)).toEqual([4096, 4097, 4098, 4099]);
    expect(recs.filter((x) => x.result === 'incomplete')).toHaveLength(4096);
    expect(ours(many, ['-c', '10']).filter((o) => o.reassembly)).toEqual([]);
  });

  it('a filter picks frames as before; the reassembler still sees every frame', () => {
    // `ip6` keeps the IPv6 frames only: the two completions there still show their datagrams.
    const v6 = ours(file, ['--filter', 'ip6']);
    expect(v6.filter((o) => o.reassembled).map((o) => o.udp?.sport)).toEqual([5000, 6000]);
  });
});
