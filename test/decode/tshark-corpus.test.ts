/**
 * Differential test: the decoder against tshark, frame by frame, on ~60 tcpdump corpus
 * captures with Ethernet / LINUX_SLL link types (plus a few re-wrapped as LINUX_SLL2 and
 * LINUX_SLL, since the corpus has no SLL2 capture). tshark is the oracle for addresses,
 * TTL, IP id/flags, TCP/UDP ports, sequence numbers, flags, option kinds, ARP and ICMP
 * fields and the three checksum verdicts.
 *
 * Deliberate differences, each handled below with its reason:
 *  - tshark reassembles IP fragments by default; we decode each fragment on its own, so
 *    defragmentation is switched off for the oracle.
 *  - tshark lists every padding byte after an EOL option as another EOL; an EOL ends the
 *    option list (RFC 9293 §3.2), so we keep one and compare up to the first EOL.
 *  - tshark opens encapsulations we do not (PIM register, PPPoE, ...; VXLAN, Geneve, ERSPAN,
 *    MPLS are decoded since encapsulation levels, test/differential covers them level by level):
 *    IP layer lists are compared as a prefix (we never decode an IP layer tshark does not),
 *    and TCP/UDP fields only when the first such layer is one we decoded.
 *  - ip.flags' reserved bit is not kept by the decoder: compared as DF|MF.
 *  - An IP total length beyond a frame captured whole (kday4/kday7 #10: tot_len 820 in a
 *    66-byte frame): tshark checks the TCP checksum over the bytes present and says Bad; the
 *    decoder marks the packet malformed and leaves the checksum unjudged (null), since the
 *    segment it would cover is not there. Checksum status is not compared for such frames.
 *  - A TCP header quoted (cut) inside an ICMP error: tshark lists the kind of an option whose
 *    bytes were cut and checks the checksum over the partial segment (Bad); the decoder keeps
 *    only whole options and leaves the checksum null. Options and checksum of a cut quoted
 *    segment are not compared (ports, sequence number, ack and flags still are).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { macToString, parseIpv6 } from '../../src/decode/addr.js';
import { Decoder } from '../../src/decode/decoder.js';
import { LinkType } from '../../src/decode/frame.js';
import type { NetLayers, Packet } from '../../src/decode/packet.js';
import { hasCommand, hasShared, need, sharedDir } from '../helpers/env.js';
import { readLite, toFrame, type LiteFrame } from './pcap-lite.js';
import { eth, icmp, ipv4, ipv6, pseudo4, pseudo6, tcp, u16, u32, udp } from './build.js';

const corpus = path.join(sharedDir, 'corpus', 'tcpdump-tests');

export const FILES = [
  'various_gre.pcap', 'accecn_handshake.pcap', '802.1ad_QinQ.pcap', 'bigtcp-ipv6-hbh.pcap', 'mptcp-v1.pcap',
  'mptcp-aa-echo.pcap', 'mptcp-fclose.pcap', 'resp_1_benchmark.pcap', 'RADIUS-RFC4675.pcap', 'radius_rfc5447.pcap',
  'bgp-orf.pcapng', 'RADIUS-RFC5176-2.pcap', 'bgp-ovs.pcapng', 'bgp-extended-shutdown-msg.pcapng', 'ldp-common-session.pcap',
  'arista_ether.pcap', 'bgp-evpn.pcap', 'erspan-type-ii-3.pcap', 'ipv4_tcp_http_xml.pcap', 'wccp_redirect_gre.pcap',
  'erspan-type-iii-ft-0.pcap', 'erspan-type-ii-2.pcap', 'dhcp-rfc4388.pcap', 'eapon1.pcap', 'bgp-4byte-asn.pcap',
  'vxlan.pcap', 'bgp-lu-multiple-labels.pcap', 'afs.pcap', 'mpls-over-udp.pcap', 'icmp6-rfc8335.pcap',
  'icmp-rfc8335-missing-bytes.pcap', 'icmp-length-zero.pcapng', 'geneve.pcap', 'icmpv6.pcap', 'ipv6_jumbogram_1.pcap',
  'dcb_qcn.pcap', 'rpl-14-dao.pcap', 'icmpv6_opt24.pcap', 'gso-ipv6-geneve-ipv4.pcap', 'bigtcp-ipv6.pcap',
  'gso-ipv6-geneve-ipv6.pcap', 'gso-ipv4.pcap', 'kday4.pcap', 'ipv4_tcp_http_xml_tso.pcap', 'of10_7050q.pcapng',
  'mptcp-aa-v1.pcap', 'gso-ipv4-vxlan-ipv4.pcap', 'sflow_expanded.pcap', 'tcp_rst_data.pcap', 'geneve-gcp.pcap',
  'kday7.pcap', 'babel_rfc6126bis.pcap', 'time_2107.pcapng', 'ripv1v2.pcap', 'dhcpv6-ia-na.pcap', 'EIGRP_ipv6.pcap',
  'pim-packet-assortment.pcap', 'arp-too-long-tha.pcap', 'isakmp4500.pcap', 'nhrp-trace.pcap', 'PIM_register_register-stop.pcap',
  'icmp-rfc8335.pcap', 'erspan-type-i-4.pcap',
];

/** Files also re-wrapped into cooked headers to give SLL/SLL2 real traffic. */
const REWRAP = ['accecn_handshake.pcap', 'mptcp-v1.pcap', 'icmpv6.pcap', 'kday4.pcap', 'various_gre.pcap'];

const FIELDS = [
  'ip.src', 'ip.dst', 'ip.ttl', 'ip.id', 'ip.flags', 'ip.checksum.status',
  'ipv6.src', 'ipv6.dst', 'ipv6.hlim',
  'tcp.srcport', 'tcp.dstport', 'tcp.seq_raw', 'tcp.ack_raw', 'tcp.flags', 'tcp.option_kind', 'tcp.checksum.status',
  'udp.srcport', 'udp.dstport', 'udp.checksum.status',
  'arp.opcode', 'arp.src.hw_mac', 'arp.src.proto_ipv4', 'arp.dst.proto_ipv4',
  'icmp.type', 'icmp.code', 'icmpv6.type', 'icmpv6.code',
] as const;
type Field = (typeof FIELDS)[number];

function tshark(file: string): Array<Record<Field, string[]>> {
  const args = ['-r', file, '-n', '-o', 'ip.check_checksum:TRUE', '-o', 'tcp.check_checksum:TRUE', '-o', 'udp.check_checksum:TRUE',
    '-o', 'ip.defragment:FALSE', '-o', 'ipv6.defragment:FALSE', '-T', 'fields', '-E', 'occurrence=a', '-E', 'aggregator=|',
    '-E', 'separator=/t', ...FIELDS.flatMap((f) => ['-e', f])];
  const r = spawnSync('tshark', args, { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
  return r.stdout.split('\n').filter((l) => l.length > 0).map((line) => {
    const cols = line.split('\t');
    const rec = {} as Record<Field, string[]>;
    FIELDS.forEach((f, i) => {
      const v = cols[i] ?? '';
      rec[f] = v === '' ? [] : v.split('|');
    });
    return rec;
  });
}

const status = (ok: boolean | null): string => (ok === null ? '2' : ok ? '1' : '0');
const dq = (a: number): string => `${a >>> 24}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}`;

function stacks(p: Packet): NetLayers[] {
  return [p.net, p.inner, p.quoted].filter((s) => s.present);
}

/** How many frames each comparison actually ran on, so coverage is visible and asserted. */
const seen = { ipv4: 0, ipv6: 0, inner: 0, quoted: 0, tcp: 0, tcpOptions: 0, tcpChecksum: 0, udp: 0, arp: 0, icmp: 0, icmpv6: 0 };

/** Compares one frame; returns the differences as text. */
function compare(p: Packet, t: Record<Field, string[]>): string[] {
  const out: string[] = [];
  if (p.inner.present) seen.inner++;
  if (p.quoted.present) seen.quoted++;
  const eq = (what: string, ours: string, theirs: string | undefined): void => {
    if (theirs !== undefined && ours !== theirs) out.push(`${what}: ours ${ours} tshark ${theirs}`);
  };
  const all = stacks(p);
  const v4 = all.filter((s) => s.ip.version === 4);
  const v6 = all.filter((s) => s.ip.version === 6);
  if (t['ip.src'].length < v4.length) out.push(`ipv4 layers: ours ${v4.length} tshark ${t['ip.src'].length}`);
  if (t['ipv6.src'].length < v6.length) out.push(`ipv6 layers: ours ${v6.length} tshark ${t['ipv6.src'].length}`);
  if (v4.length) seen.ipv4++;
  if (v6.length) seen.ipv6++;
  v4.forEach((s, i) => {
    const ip = s.ip;
    eq(`ip.src[${i}]`, dq(ip.src4), t['ip.src'][i]);
    eq(`ip.dst[${i}]`, dq(ip.dst4), t['ip.dst'][i]);
    eq(`ip.ttl[${i}]`, String(ip.ttl), t['ip.ttl'][i]);
    const id = t['ip.id'][i];
    if (id !== undefined) eq(`ip.id[${i}]`, String(ip.id), String(parseInt(id, 16)));
    const fl = t['ip.flags'][i];
    if (fl !== undefined) eq(`ip.flags[${i}]`, String((ip.df ? 2 : 0) | (ip.mf ? 1 : 0)), String(parseInt(fl, 16) & 3));
    eq(`ip.checksum.status[${i}]`, status(ip.checksumOk), t['ip.checksum.status'][i]);
  });
  v6.forEach((s, i) => {
    const b = p.buf;
    const src = parseIpv6(t['ipv6.src'][i] ?? '');
    const dst = parseIpv6(t['ipv6.dst'][i] ?? '');
    if (src && !src.equals(b.subarray(s.ip.srcOff, s.ip.srcOff + 16))) out.push(`ipv6.src[${i}] differs (${t['ipv6.src'][i]})`);
    if (dst && !dst.equals(b.subarray(s.ip.dstOff, s.ip.dstOff + 16))) out.push(`ipv6.dst[${i}] differs (${t['ipv6.dst'][i]})`);
    eq(`ipv6.hlim[${i}]`, String(s.ip.ttl), t['ipv6.hlim'][i]);
  });
  // Transport: our first TCP/UDP layer against tshark's first, when tshark's first one is ours
  // (it may come from an encapsulation we do not open; then the ports tell).
  const tcpStacks = all.filter((s) => s.l4 === 'tcp' && s.tcp.present);
  const firstTcp = tcpStacks[0];
  if (firstTcp && t['tcp.srcport'].length > 0) {
    const tc = firstTcp.tcp;
    seen.tcp++;
    eq('tcp.srcport', String(tc.sport), t['tcp.srcport'][0]);
    eq('tcp.dstport', String(tc.dport), t['tcp.dstport'][0]);
    eq('tcp.seq_raw', String(tc.seq), t['tcp.seq_raw'][0]);
    if (tc.hdrLen >= 20) {
      eq('tcp.ack_raw', String(tc.ack), t['tcp.ack_raw'][0]);
      const fl = t['tcp.flags'][0];
      if (fl !== undefined) eq('tcp.flags', String(tc.flags), String(parseInt(fl, 16) & 0x1ff));
      const cutQuote = firstTcp === p.quoted && p.quoted.ip.payloadLen < p.quoted.ip.payloadWireLen;
      if (t['tcp.srcport'].length === 1 && !cutQuote) {
        const theirs = t['tcp.option_kind'].flatMap((x) => x.split(',')).map(Number);
        const eol = theirs.indexOf(0);
        const cutTheirs = eol >= 0 ? theirs.slice(0, eol + 1) : theirs;
        const ours = Array.from(tc.optKind.subarray(0, tc.optCount));
        if (!p.malformed.present && p.truncated === null) seen.tcpOptions++;
        if (!p.malformed.present && p.truncated === null) eq('tcp.option_kind', ours.join(','), cutTheirs.join(','));
      }
      const lying = p.malformed.present && p.malformed.reason === 'length runs past the end of the frame';
      if (lying || cutQuote) expect(tc.checksumOk).toBe(null);
      else if (++seen.tcpChecksum) eq('tcp.checksum.status', status(tc.checksumOk), t['tcp.checksum.status'][0]);
    }
  } else if (firstTcp && t['tcp.srcport'].length === 0) {
    out.push('tcp: decoded by us, not by tshark');
  }
  const firstUdp = all.find((s) => s.l4 === 'udp' && s.udp.present);
  if (firstUdp && t['udp.srcport'].length > 0) {
    const u = firstUdp.udp;
    seen.udp++;
    eq('udp.srcport', String(u.sport), t['udp.srcport'][0]);
    eq('udp.dstport', String(u.dport), t['udp.dstport'][0]);
    let ours = status(u.checksumOk);
    // tshark: zero checksum is "Not present" (3) over IPv4, "Illegal" (4) over IPv6.
    if (u.checksum === 0 && u.length >= 8) ours = firstUdp.ip.version === 4 ? '3' : '4';
    eq('udp.checksum.status', ours, t['udp.checksum.status'][0]);
  }
  if (p.arp.present && p.arp.isEthIpv4) {
    seen.arp++;
    eq('arp.opcode', String(p.arp.op), t['arp.opcode'][0]);
    eq('arp.src.hw_mac', macToString(p.buf, p.arp.shaOff), t['arp.src.hw_mac'][0]);
    eq('arp.src.proto_ipv4', dq(p.arp.spa), t['arp.src.proto_ipv4'][0]);
    eq('arp.dst.proto_ipv4', dq(p.arp.tpa), t['arp.dst.proto_ipv4'][0]);
  }
  const icmp4 = all.find((s) => s.l4 === 'icmp' && s.icmp.present);
  if (icmp4) {
    seen.icmp++;
    eq('icmp.type', String(icmp4.icmp.type), t['icmp.type'][0]);
    eq('icmp.code', String(icmp4.icmp.code), t['icmp.code'][0]);
  }
  const icmp6 = all.find((s) => s.l4 === 'icmpv6' && s.icmp.present);
  if (icmp6) {
    seen.icmpv6++;
    eq('icmpv6.type', String(icmp6.icmp.type), t['icmpv6.type'][0]);
    eq('icmpv6.code', String(icmp6.icmp.code), t['icmpv6.code'][0]);
  }
  return out;
}

/** Ethernet frame → cooked header with the same EtherType and payload (for SLL/SLL2 coverage). */
function rewrap(f: LiteFrame, sll2: boolean, pktType: number): Buffer {
  const b = f.buf.subarray(f.off, f.off + f.caplen);
  const type = b.readUInt16BE(12);
  const hdr = Buffer.alloc(sll2 ? 20 : 16);
  if (sll2) {
    hdr.writeUInt16BE(type, 0);
    hdr.writeUInt32BE(3, 4);
    hdr.writeUInt16BE(1, 8);
    hdr[10] = pktType;
    hdr[11] = 6;
    b.copy(hdr, 12, 6, 12);
  } else {
    hdr.writeUInt16BE(pktType, 0);
    hdr.writeUInt16BE(1, 2);
    hdr.writeUInt16BE(6, 4);
    b.copy(hdr, 6, 6, 12);
    hdr.writeUInt16BE(type, 14);
  }
  return Buffer.concat([hdr, b.subarray(14)]);
}

function writePcap(file: string, linkType: number, frames: Buffer[]): void {
  const parts: Buffer[] = [];
  const gh = Buffer.alloc(24);
  gh.writeUInt32LE(0xa1b2c3d4, 0);
  gh.writeUInt16LE(2, 4);
  gh.writeUInt16LE(4, 6);
  gh.writeUInt32LE(262144, 16);
  gh.writeUInt32LE(linkType, 20);
  parts.push(gh);
  for (const fr of frames) {
    const h = Buffer.alloc(16);
    h.writeUInt32LE(fr.length, 8);
    h.writeUInt32LE(fr.length, 12);
    parts.push(h, fr);
  }
  writeFileSync(file, Buffer.concat(parts));
}

function runFile(file: string, frames: LiteFrame[], problems: string[]): number {
  const rows = tshark(file);
  const d = new Decoder();
  if (rows.length !== frames.length) {
    problems.push(`${path.basename(file)}: tshark ${rows.length} frames, reader ${frames.length}`);
    return 0;
  }
  let compared = 0;
  frames.forEach((f, i) => {
    const p = d.decode(toFrame(f, file));
    for (const diff of compare(p, rows[i]!)) problems.push(`${path.basename(file)}#${f.frame}: ${diff}`);
    compared++;
  });
  return compared;
}

const ready = hasShared && existsSync(corpus);
const gate = need(ready, 'tcpdump corpus not found') && need(hasCommand('tshark'), 'tshark not installed');

describe('decoder vs tshark on the tcpdump corpus', () => {
  it.skipIf(!gate)('agrees on every compared field of every frame', () => {
    const problems: string[] = [];
    let frames = 0;
    let files = 0;
    for (const name of FILES) {
      const file = path.join(corpus, name);
      if (!existsSync(file)) continue;
      const r = readLite(readFileSync(file));
      if (!r.linkTypes.every((l) => l === LinkType.ETHERNET || l === LinkType.LINUX_SLL || l === LinkType.LINUX_SLL2)) continue;
      frames += runFile(file, r.frames, problems);
      files++;
    }
    console.log(`tshark differential: ${files} files, ${frames} frames, ${problems.length} differences`, seen);
    for (const k of Object.keys(seen) as Array<keyof typeof seen>) expect(seen[k], k).toBeGreaterThan(0);
    expect(seen.tcp).toBeGreaterThan(300);
    if (problems.length) console.log(problems.slice(0, 60).join('\n'));
    expect(files).toBeGreaterThanOrEqual(55);
    expect(problems).toEqual([]);
  });

  it.skipIf(!gate)('agrees on hand-built LVS TUN-mode tunnels, TOA segments and ICMP errors', () => {
    // The corpus has almost no IPIP/SIT/GRE-IP traffic, which IPVS TUN mode is made of.
    const c4 = (s: string, d: string) => (l: number): Uint8Array => pseudo4(s, d, 6, l);
    const c6 = (s: string, d: string) => (l: number): Uint8Array => pseudo6(s, d, 6, l);
    const inner4 = ipv4({ proto: 6, src: '198.51.100.7', dst: '192.0.2.80', ttl: 63, df: true },
      tcp({ sport: 40001, dport: 80, seq: 0xdeadbeef, ack: 7, flags: 0x18, options: [1, 1, 8, 10, ...u32(5), ...u32(6)], payload: [71, 69, 84] },
        c4('198.51.100.7', '192.0.2.80')));
    const inner6 = ipv6({ nh: 6, src: '2001:db8:1::7', dst: '2001:db8:2::80', hlim: 63 },
      tcp({ sport: 40002, dport: 443, flags: 0x02, options: [2, 4, 5, 0xa0, 4, 2, 3, 3, 7] }, c6('2001:db8:1::7', '2001:db8:2::80')));
    const toa = ipv4({ proto: 6, src: '10.1.0.5', dst: '10.2.0.9', id: 0 },
      tcp({ sport: 5001, dport: 8080, flags: 0x10, options: [254, 8, ...u16(40001), 198, 51, 100, 7, 1, 1, 8, 10, ...u32(9), ...u32(10)] }, c4('10.1.0.5', '10.2.0.9')));
    const frames = [
      eth(0x0800, ipv4({ proto: 4, src: '10.0.0.1', dst: '10.0.0.2', ttl: 63 }, inner4)),
      eth(0x0800, ipv4({ proto: 41, src: '10.0.0.1', dst: '10.0.0.2' }, inner6)),
      eth(0x86dd, ipv6({ nh: 4 }, inner4)),
      eth(0x86dd, ipv6({ nh: 41 }, inner6)),
      eth(0x0800, ipv4({ proto: 47 }, [0x20, 0, 0x08, 0x00, ...u32(99), ...inner4])),
      eth(0x0800, ipv4({ proto: 47 }, [0x10, 0, 0x86, 0xdd, ...u32(3), ...inner6])),
      eth(0x0800, toa),
      eth(0x0800, ipv4({ proto: 1, src: '10.0.0.2', dst: '10.0.0.1' }, icmp(3, 4, [0, 0, ...u16(1480)], inner4.slice(0, 28)))),
      eth(0x0800, ipv4({ proto: 4 }, ipv4({ proto: 1, src: '192.0.2.80', dst: '198.51.100.7' }, icmp(11, 0, [0, 0, 0, 0], inner4.slice(0, 48))))),
      eth(0x86dd, ipv6({ nh: 58 }, icmp(2, 0, u32(1280), inner6.slice(0, 60), pseudo6('2001:db8::1', '2001:db8::2', 58, 68)))),
      eth(0x0800, ipv4({ proto: 17, mf: true, id: 77 }, udp(53, 53, Array(64).fill(1)).slice(0, 40))),
      eth(0x0800, ipv4({ proto: 6, badChecksum: true }, tcp({ flags: 0x11 }))),
      eth(0x0800, ipv4({ proto: 6, totLen: 0, src: '10.1.0.5', dst: '10.2.0.9' }, tcp({ flags: 0x10, payload: Array(100).fill(9) }, c4('10.1.0.5', '10.2.0.9')))),
    ].map((f) => Buffer.from(f));
    const dir = mkdtempSync(path.join(tmpdir(), 'lvsaudit-h2-'));
    const problems: string[] = [];
    try {
      const file = path.join(dir, 'tunnels.pcap');
      writePcap(file, LinkType.ETHERNET, frames);
      const r = readLite(readFileSync(file));
      const before = seen.inner;
      runFile(file, r.frames, problems);
      expect(seen.inner - before).toBe(7);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    if (problems.length) console.log(problems.join('\n'));
    expect(problems).toEqual([]);
  });

  it.skipIf(!gate)('agrees on corpus traffic re-wrapped as LINUX_SLL and LINUX_SLL2', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'lvsaudit-h2-'));
    const problems: string[] = [];
    let frames = 0;
    try {
      for (const name of REWRAP) {
        const r = readLite(readFileSync(path.join(corpus, name)));
        const eth = r.frames.filter((f) => f.linkType === LinkType.ETHERNET && f.caplen >= 14);
        for (const [sll2, lt] of [[false, LinkType.LINUX_SLL], [true, LinkType.LINUX_SLL2]] as const) {
          const bufs = eth.map((f, i) => rewrap(f, sll2, i % 2 === 0 ? 0 : 4));
          const file = path.join(dir, `${sll2 ? 'sll2' : 'sll'}-${name}`);
          writePcap(file, lt, bufs);
          const back = readLite(readFileSync(file));
          frames += runFile(file, back.frames, problems);
          const d = new Decoder();
          back.frames.forEach((f, i) => {
            const p = d.decode(toFrame(f));
            if (p.direction !== (i % 2 === 0 ? 'in' : 'out')) problems.push(`${file}#${i + 1}: direction ${p.direction}`);
            if (p.sll.version !== (sll2 ? 2 : 1)) problems.push(`${file}#${i + 1}: sll version`);
          });
        }
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    console.log(`tshark differential (re-wrapped): ${frames} frames, ${problems.length} differences`);
    if (problems.length) console.log(problems.slice(0, 40).join('\n'));
    expect(frames).toBeGreaterThan(50);
    expect(problems).toEqual([]);
  });
});
