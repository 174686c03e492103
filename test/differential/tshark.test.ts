/**
 * Differential test: `lvsaudit decode --json` (the built CLI) against `tshark -T fields`
 * on every tcpdump-corpus capture whose interfaces are Ethernet / SLL / SLL2, on a
 * fixture capture built with the project's builder (VLAN, TOA, IPIP, GRE, ICMP quotes,
 * bad checksums, IPv6, SLL2), and on the encapsulation fixtures (encap-fixtures.ts: tunnels
 * nested three deep, GRE v0/v1, GRE-in-UDP, TEB, ERSPAN II/III, VXLAN, Geneve, GUE, MPLS),
 * where each level's Ethernet/VLAN/MPLS/IP/transport and its header's fields are compared.
 *
 * For every frame both tools decode, these agree: MACs, VLAN ids, ARP op/addresses,
 * IPv4 src/dst/ttl/id/DF/MF/fragment offset/protocol/header-checksum verdict, IPv6
 * src/dst/hop limit, TCP ports/raw seq/raw ack/flags/option kinds/checksum verdict, UDP
 * ports/checksum verdict, ICMP type/code. Multi-valued fields (tunnels, ICMP-quoted
 * packets) are compared in dissection order: outer, tunnelled, quoted.
 *
 * Legitimate differences are skipped with the reason next to the rule (`skipReason`).
 */
import { execSync, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PcapWriter, PcapngWriter, readCaptureBuffer } from '../../src/decode/capture/index.js';
import { PacketBuilder } from '../../src/replay/builder/index.js';
import { hasCommand, hasShared, need, repoRoot, sharedDir } from '../helpers/env.js';
import { distReady, runDecode } from './cli.js';
import { encapFixtures, GUE_TEST_PORT } from './encap-fixtures.js';

const corpusDir = path.join(sharedDir, 'corpus', 'tcpdump-tests');
const haveTshark = need(hasCommand('tshark'), 'tshark not installed');
const haveCorpus = need(hasShared, `corpus not found at ${corpusDir}`);

const FIELDS = [
  'frame.number', 'frame.protocols', '_ws.malformed', '_ws.expert.message',
  'eth.src', 'eth.dst', 'vlan.id', 'sll.pkttype',
  'arp.opcode', 'arp.src.hw_mac', 'arp.src.proto_ipv4', 'arp.dst.hw_mac', 'arp.dst.proto_ipv4',
  'ip.src', 'ip.dst', 'ip.ttl', 'ip.id', 'ip.flags.df', 'ip.flags.mf', 'ip.frag_offset', 'ip.proto', 'ip.checksum.status',
  'ipv6.src', 'ipv6.dst', 'ipv6.hlim',
  'tcp.srcport', 'tcp.dstport', 'tcp.seq_raw', 'tcp.ack_raw', 'tcp.flags', 'tcp.option_kind', 'tcp.checksum.status',
  'udp.srcport', 'udp.dstport', 'udp.checksum.status',
  'icmp.type', 'icmp.code',
  'gre.key', 'gre.sequence_number', 'gre.ack_number', 'gre.key.call_id', 'gre.checksum', 'ppp.protocol',
  'vxlan.vni', 'geneve.vni', 'mpls.label', 'mpls.exp', 'mpls.ttl', 'erspan.spanid', 'erspan.vlan',
] as const;
type Field = (typeof FIELDS)[number];

const TSHARK_PREFS = [
  '-o', 'ip.check_checksum:TRUE', '-o', 'tcp.check_checksum:TRUE', '-o', 'udp.check_checksum:TRUE',
  // Reassembly would move fields to the last fragment/segment; we decode frame by frame.
  '-o', 'ip.defragment:FALSE', '-o', 'ipv6.defragment:FALSE', '-o', 'tcp.desegment_tcp_streams:FALSE',
  // Our TOA option kinds 253/254 are RFC 4727 experimental kinds for tshark: only the kind is compared.
];

/** tshark prints these as hex (`0x00001234`); ours are numbers. */
const HEX_FIELDS = new Set<string>(['gre.key', 'gre.checksum', 'geneve.vni', 'ppp.protocol']);

function tshark(file: string, decodeAs: readonly string[] = []): Promise<Map<number, Record<Field, string[]>>> {
  return new Promise((resolve, reject) => {
    const args = ['-n', '-r', file, ...TSHARK_PREFS, ...decodeAs.flatMap((d) => ['-d', d]), '-T', 'fields', '-E', 'separator=/t', '-E', 'occurrence=a', '-E', 'aggregator=|'];
    for (const f of FIELDS) args.push('-e', f);
    const child = spawn('tshark', args, { stdio: ['ignore', 'pipe', 'ignore'] });
    let out = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (d: string) => (out += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('error', reject);
    child.on('close', () => {
      clearTimeout(timer);
      const rows = new Map<number, Record<Field, string[]>>();
      for (const line of out.split('\n')) {
        if (line === '') continue;
        const cols = line.split('\t');
        const rec = {} as Record<Field, string[]>;
        FIELDS.forEach((f, i) => (rec[f] = cols[i] ? cols[i]!.split('|').map((x) => (HEX_FIELDS.has(f) && x.startsWith('0x') ? String(Number(x)) : x)) : []));
        rows.set(Number(rec['frame.number'][0]), rec);
      }
      resolve(rows);
    });
  });
}

/* eslint-disable @typescript-eslint/no-explicit-any */
type Json = Record<string, any>;

/** Our values for every compared field, in tshark's dissection order. */
function ours(o: Json): Partial<Record<Field, string[]>> {
  // One object per encapsulation level, nested through `inner` (cli.md "decode --json").
  const chain: Json[] = [o];
  for (let c = o; c.inner; c = c.inner) chain.push(c.inner);
  const stacks: Json[] = [...chain];
  // ICMP quote of the outer or the tunnelled packet comes last.
  for (const s of [...stacks]) {
    const ic = s.icmp ?? s.icmpv6;
    if (ic?.inner) stacks.push(ic.inner);
  }
  const v: Partial<Record<Field, string[]>> = {};
  const add = (f: Field, x: unknown): void => {
    (v[f] ??= []).push(String(x));
  };
  for (const c of chain) {
    if (c.eth) {
      add('eth.src', c.eth.src);
      add('eth.dst', c.eth.dst);
    }
    for (const t of c.vlan ?? []) add('vlan.id', t.id);
    for (const m of c.mpls ?? []) {
      add('mpls.label', m.label);
      add('mpls.exp', m.tc);
      add('mpls.ttl', m.ttl);
    }
    const g = c.gre;
    if (g) {
      if (g.version === 1) {
        add('gre.key.call_id', g.callId);
        if (g.ack !== null) add('gre.ack_number', g.ack);
        if (g.ppp !== null) add('ppp.protocol', g.ppp);
      } else if (g.key !== null) add('gre.key', g.key);
      if (g.seq !== null) add('gre.sequence_number', g.seq);
      if (g.checksum !== null) add('gre.checksum', g.checksum);
    }
    if (c.erspan) {
      add('erspan.spanid', c.erspan.session);
      add('erspan.vlan', c.erspan.vlan);
    }
    if (c.vxlan) add('vxlan.vni', c.vxlan.vni);
    if (c.geneve) add('geneve.vni', c.geneve.vni);
  }
  if (o.sll) add('sll.pkttype', o.sll.pkttype);
  // ARP in the frame, or in an Ethernet frame a level carries (ERSPAN, VXLAN…).
  for (const arp of chain.map((c) => c.arp as Json | undefined)) {
    if (!arp) continue;
    add('arp.opcode', arp.op);
    // tshark names hardware addresses arp.*.hw_mac only for Ethernet/IEEE 802 hardware of 6 bytes.
    if (arp.hlen === 6 && (arp.htype === 1 || arp.htype === 6)) {
      add('arp.src.hw_mac', arp.sha);
      add('arp.dst.hw_mac', arp.tha);
    }
    if (arp.ptype === 0x800 && arp.spa.includes('.')) {
      add('arp.src.proto_ipv4', arp.spa);
      add('arp.dst.proto_ipv4', arp.tpa);
    }
  }
  const quotedFrom = chain.length;
  stacks.forEach((s, depth) => {
    const ip = s.ipv4;
    if (ip) {
      add('ip.src', ip.src);
      add('ip.dst', ip.dst);
      add('ip.ttl', ip.ttl);
      add('ip.id', '0x' + ip.id.toString(16).padStart(4, '0'));
      add('ip.flags.df', ip.df ? '1' : '0');
      add('ip.flags.mf', ip.mf ? '1' : '0');
      // tshark 4.0 shows the fragment offset in 8-byte units; ours is in bytes.
      add('ip.frag_offset', ip.fragOffset / 8);
      add('ip.proto', ip.proto);
      add('ip.checksum.status', ip.checksumOk === null ? '2' : ip.checksumOk ? '1' : '0');
    }
    if (s.ipv6) {
      add('ipv6.src', s.ipv6.src);
      add('ipv6.dst', s.ipv6.dst);
      add('ipv6.hlim', s.ipv6.hlim);
    }
    const t = s.tcp;
    if (t) {
      add('tcp.srcport', t.sport);
      add('tcp.dstport', t.dport);
      // tshark has no tcp.seq_raw for a segment quoted by an ICMP error (no conversation there).
      if (depth < quotedFrom) add('tcp.seq_raw', t.seq);
      if (t.hdrLen > 0) {
        add('tcp.ack_raw', t.ack);
        add('tcp.flags', '0x' + t.flags.toString(16).padStart(4, '0'));
        for (const op of t.options) add('tcp.option_kind', op.kind);
        add('tcp.checksum.status', t.checksumOk === null ? '2' : t.checksumOk ? '1' : '0');
      }
    }
    if (s.udp) {
      add('udp.srcport', s.udp.sport);
      add('udp.dstport', s.udp.dport);
      // A zero IPv4 UDP checksum is "none sent": ours says ok (nothing wrong), tshark "not present" (3).
      const none = s.udp.checksum === 0 && s.ipv4 !== undefined;
      add('udp.checksum.status', none ? '3' : s.udp.checksumOk === null ? '2' : s.udp.checksumOk ? '1' : '0');
    }
    if (s.icmp) {
      add('icmp.type', s.icmp.type);
      add('icmp.code', s.icmp.code);
    }
  });
  return v;
}

/** Protocols of tshark's frame.protocols that we decode; anything else in the chain before
 *  the transport means tshark went where we deliberately do not (MPLS, PPPoE, VXLAN, …). */
const OURS = new Set(['eth', 'ethertype', 'vlan', 'sll', 'arp', 'ip', 'ipv6', 'tcp', 'udp', 'icmp', 'icmpv6', 'gre', 'data', 'ipv6.hopopts', 'ipv6.routing', 'ipv6.fraghdr', 'ipv6.dstopts', 'mpls', 'vxlan', 'geneve', 'erspan', 'ppp']);

/** Why a frame (or one field of it) is not comparable; null when it must agree. */
function skipReason(o: Json, t: Record<Field, string[]>): string | null {
  if (o.malformed || o.truncated) return 'we flag it malformed/truncated: field sets legitimately diverge';
  if (t['_ws.malformed'].length > 0) return 'tshark flags it malformed';
  if (t['_ws.expert.message'].some((m) => /bogus|invalid|too short|exceeds|overflow|malformed|Bad length/i.test(m))) {
    return 'tshark reports a header error its dissection stopped at';
  }
  if (o.eth?.type === 0x8035) return 'RARP (ethertype 0x8035): tshark shows it as arp, we do not decode it';
  if (t['frame.protocols'][0]?.includes(':gre:') && !o.inner) {
    return 'GRE payload we do not open (e.g. WCCP redirect 0x883e, ERSPAN): tshark dissects it';
  }
  const chain = t['frame.protocols'][0]?.split(':') ?? [];
  const l3 = chain.findIndex((p) => p === 'ip' || p === 'ipv6' || p === 'arp');
  const before = l3 < 0 ? chain : chain.slice(0, l3);
  if (before.some((p) => !OURS.has(p))) return 'encapsulation we do not decode below IP (' + before.join(':') + ')';
  return null;
}

const FIELD_PROTO: Record<string, string> = {
  eth: 'eth', vlan: 'vlan', sll: 'sll', arp: 'arp', ip: 'ip', ipv6: 'ipv6', tcp: 'tcp', udp: 'udp', icmp: 'icmp',
  gre: 'gre', ppp: 'ppp', vxlan: 'vxlan', geneve: 'geneve', mpls: 'mpls', erspan: 'erspan',
};

/**
 * Compares one field. tshark goes on into payloads we leave alone by design (Ethernet in
 * ERSPAN/VXLAN/Geneve, IP in UDP, quoted transports it re-dissects), so its list may be
 * longer: the layers we decoded come first and must equal its first values. What we must
 * not do is miss a layer tshark reached through protocols we do decode: when the field's
 * protocol sits in that part of frame.protocols, an empty list on our side is a mismatch.
 */
function fieldCompare(f: Field, mine: string[], theirs: string[], reachable: Set<string>): boolean {
  if (mine.length === 0 && theirs.length > 0) return !reachable.has(FIELD_PROTO[f.split('.')[0]!]!);
  if (theirs.length < mine.length) return false;
  for (let i = 0; i < mine.length; i++) if (mine[i] !== theirs[i]) return false;
  return true;
}

/** Protocols of tshark's chain before the first one we do not decode. */
function reachableProtocols(t: Record<Field, string[]>): Set<string> {
  const out = new Set<string>();
  for (const p of t['frame.protocols'][0]?.split(':') ?? []) {
    if (!OURS.has(p)) break;
    out.add(p);
  }
  return out;
}

interface Mismatch {
  file: string;
  frame: number;
  field: Field;
  ours: string[];
  tshark: string[];
}

/**
 * Copies every frame of `files` into one pcapng (one interface per link type) so that both
 * tools run once over identical bytes; `origin[i]` names the source of merged frame i+1.
 */
function merge(files: string[], out: string): string[] {
  const w = new PcapngWriter({ path: out });
  const ifaceOf = new Map<number, number>();
  const origin: string[] = [];
  for (const file of files) {
    readCaptureBuffer(readFileSync(file), path.basename(file), (f) => {
      let id = ifaceOf.get(f.linkType);
      if (id === undefined) ifaceOf.set(f.linkType, (id = w.addInterface({ name: `lt${f.linkType}`, linkType: f.linkType })));
      w.write(id, f.buf.subarray(f.off, f.off + f.caplen), f.tsSec, f.tsNsec, { origLen: f.len });
      origin.push(`${path.basename(file)}#${f.frame}`);
    });
  }
  w.close();
  return origin;
}

async function compareFiles(
  files: string[],
  name: string,
  extra: { decodeArgs?: string[]; decodeAs?: string[] } = {},
): Promise<{ compared: number; skipped: Map<string, number>; mismatches: Mismatch[]; fieldsCompared: number; fields: Map<string, number> }> {
  const merged = path.join(tmp, `${name}.pcapng`);
  const origin = merge(files, merged);
  // Frame by frame, as tshark runs here (defragmentation off): no reassembly.
  const r = runDecode(['--json', '--no-reassemble', ...(extra.decodeArgs ?? []), merged], { timeout: 300_000 });
  if (r.status !== 0) throw new Error(`decode failed: ${r.stderr}`);
  const rows = await tshark(merged, extra.decodeAs);
  const fields = new Map<string, number>();
  const skipped = new Map<string, number>();
  const mismatches: Mismatch[] = [];
  let compared = 0;
  let fieldsCompared = 0;
  for (const line of r.stdout.split('\n')) {
    if (!line) continue;
    const o = JSON.parse(line) as Json;
    const t = rows.get(o.frame);
    const src = origin[o.frame - 1] ?? `#${o.frame}`;
    if (!t) {
      skipped.set('frame absent from tshark output', (skipped.get('frame absent from tshark output') ?? 0) + 1);
      continue;
    }
    const why = skipReason(o, t);
    if (why !== null) {
      const key = why.replace(/\(.*\)/, '(…)');
      skipped.set(key, (skipped.get(key) ?? 0) + 1);
      continue;
    }
    compared++;
    const mine = ours(o);
    const reachable = reachableProtocols(t);
    for (const f of FIELDS) {
      if (f === 'frame.number' || f === 'frame.protocols' || f.startsWith('_ws')) continue;
      fieldsCompared++;
      if ((mine[f] ?? []).length > 0) fields.set(f, (fields.get(f) ?? 0) + mine[f]!.length);
      if (!fieldCompare(f, mine[f] ?? [], t[f], reachable)) mismatches.push({ file: src, frame: o.frame, field: f, ours: mine[f] ?? [], tshark: t[f] });
    }
  }
  return { compared, skipped, mismatches, fieldsCompared, fields };
}

function report(name: string, res: Awaited<ReturnType<typeof compareFiles>>): void {
  console.log(`[differential] ${name}: ${res.compared} frames compared (${res.fieldsCompared} fields), skipped: ${JSON.stringify(Object.fromEntries(res.skipped))}`);
  for (const m of res.mismatches.slice(0, Number(process.env.DIFF_SHOW ?? 30))) console.log(`[differential] MISMATCH ${m.file} (merged #${m.frame}) ${m.field}: ours=${m.ours.join('|')} tshark=${m.tshark.join('|')}`);
}

let tmp = '';
beforeAll(() => {
  if (!distReady()) execSync('npx tsc -p .', { cwd: repoRoot, stdio: 'inherit' });
  tmp = mkdtempSync(path.join(os.tmpdir(), 'lvsaudit-diff-'));
}, 120_000);
afterAll(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe('decode --json vs tshark -T fields', () => {
  it.skipIf(!haveTshark)('agrees on builder fixtures (VLAN, TOA, tunnels, ICMP quote, bad checksums, IPv6, SLL2)', async () => {
    const A = '02:00:00:00:00:01';
    const B = '02:00:00:00:00:02';
    const e = (): PacketBuilder => PacketBuilder.eth({ src: A, dst: B });
    const eth: Buffer[] = [
      e().vlan({ id: 10, pcp: 3 }).ipv4({ src: '10.0.0.2', dst: '192.168.0.100', id: 4711, df: true }).tcp({
        sport: 58820, dport: 80, seq: 4119932128, flags: 'S',
        options: [{ kind: 'mss', value: 1460 }, { kind: 'sackPermitted' }, { kind: 'ts', val: 1, ecr: 0 }, { kind: 'nop' }, { kind: 'ws', shift: 7 }, { kind: 'toa', addr: '198.51.100.7', port: 40123 }],
      }).build(),
      e().ipv4({ src: '10.0.0.2', dst: '10.0.0.1', id: 1 }).tcp({ sport: 1000, dport: 80, seq: 5, ack: 3000000000, flags: 'PA', checksum: 0x1234 }).payload('hello').build(),
      e().ipv4({ src: '10.0.0.2', dst: '10.0.0.1', checksum: 0xbeef }).udp({ sport: 1, dport: 2 }).payload('x').build(),
      e().ipv4({ src: '10.0.0.2', dst: '10.0.0.1' }).udp({ sport: 3, dport: 4, checksum: 0x4321 }).payload('yy').build(),
      PacketBuilder.eth({ src: A, dst: 'ff:ff:ff:ff:ff:ff' }).arp({ op: 1, sha: A, spa: '10.0.0.2', tha: '00:00:00:00:00:00', tpa: '10.0.0.1' }).build(),
      e().arp({ op: 2, sha: B, spa: '10.0.0.1', tha: A, tpa: '10.0.0.2' }).build(),
      e().ipv4({ src: '10.0.0.1', dst: '10.0.0.11', id: 2 }).ipv4({ src: '203.0.113.5', dst: '10.0.0.100', id: 3, ttl: 63 }).tcp({ sport: 40000, dport: 80, flags: 'S', seq: 9 }).build(),
      e().ipv4({ src: '10.0.0.1', dst: '10.0.0.11' }).gre().ipv4({ src: '203.0.113.5', dst: '10.0.0.100' }).udp({ sport: 5000, dport: 53 }).build(),
      e().ipv4({ src: '10.0.0.254', dst: '10.0.0.2', id: 5 }).icmp({ type: 3, code: 4, mtu: 1480 }).ipv4({ src: '10.0.0.2', dst: '192.168.0.100', id: 6 }).tcp({ sport: 58820, dport: 80, seq: 77, flags: 'PA', ack: 1 }).payload(Buffer.alloc(100)).build(),
      e().ipv4({ src: '10.0.0.2', dst: '10.0.0.1', id: 7, mf: true }).udp({ sport: 9, dport: 10 }).payload(Buffer.alloc(16)).build(),
      e().ipv6({ src: '2001:db8::2', dst: '2001:db8::1', hlim: 60 }).tcp({ sport: 1, dport: 443, flags: 'SA', seq: 1, ack: 2, options: [{ kind: 'toa', addr: '2001:db8::99', port: 8 }] }).build(),
      e().ipv6({ src: '2001:db8::2', dst: '2001:db8::1' }).icmpv6({ type: 128, code: 0, id: 1, seq: 2 }).build(),
    ];
    const sll2 = [
      PacketBuilder.sll({ version: 2, pktType: 4, ifIndex: 3, addr: A }).ipv4({ src: '10.0.0.2', dst: '10.0.0.1', id: 11 }).tcp({ sport: 5, dport: 6, flags: 'R', seq: 3 }).build(),
      PacketBuilder.sll({ version: 2, pktType: 0, ifIndex: 2, addr: B }).ipv4({ src: '10.0.0.1', dst: '10.0.0.2', id: 12 }).udp({ sport: 6, dport: 5 }).build(),
    ];
    const sll1 = [PacketBuilder.sll({ version: 1, pktType: 4, addr: A }).ipv4({ src: '10.0.0.2', dst: '10.0.0.1', id: 13 }).tcp({ sport: 5, dport: 6, flags: 'F', seq: 3 }).build()];
    const files: string[] = [];
    for (const [name, list, lt] of [['eth.pcap', eth, 1], ['sll2.pcap', sll2, 276], ['sll.pcap', sll1, 113]] as const) {
      const f = path.join(tmp, name);
      const w = new PcapWriter({ path: f, linkType: lt, resolution: 'us' });
      list.forEach((b, i) => w.write(b, 1795699418, i * 1000));
      w.close();
      files.push(f);
    }
    const res = await compareFiles(files, 'fixtures');
    report('fixtures', res);
    expect(res.mismatches).toEqual([]);
    // Every fixture frame must be comparable: none may hide behind a skip rule.
    expect(res.compared).toBe(eth.length + sll2.length + sll1.length);
  }, 120_000);

  it.skipIf(!haveTshark)('agrees at every depth on nested tunnels, GRE v0/v1, GRE-in-UDP, TEB, ERSPAN II/III, VXLAN, Geneve, GUE, MPLS', async () => {
    const fx = encapFixtures();
    const f = path.join(tmp, 'encap.pcap');
    const w = new PcapWriter({ path: f, linkType: 1, resolution: 'us' });
    fx.forEach((x, i) => w.write(x.frame, 1795699418, i * 1000));
    w.close();
    const decodeAs = [...new Set(fx.flatMap((x) => x.decodeAs ?? []))];
    const res = await compareFiles([f], 'encap', { decodeArgs: ['--gue-port', String(GUE_TEST_PORT)], decodeAs });
    report('encap', res);
    expect(res.mismatches).toEqual([]);
    expect(res.compared).toBe(fx.length);
    // The deep fields were really compared, not skipped for being absent on our side: three IP
    // headers in the nested fixtures, and every overlay's own fields.
    for (const field of ['ip.src', 'ipv6.src', 'eth.src', 'gre.key', 'gre.sequence_number', 'gre.key.call_id', 'gre.ack_number', 'gre.checksum', 'ppp.protocol', 'vxlan.vni', 'geneve.vni', 'mpls.label', 'mpls.ttl', 'erspan.spanid', 'vlan.id', 'tcp.seq_raw']) {
      expect(res.fields.get(field) ?? 0, field).toBeGreaterThan(0);
    }
  }, 120_000);

  it.skipIf(!haveTshark || !haveCorpus)('agrees on the tcpdump corpus (Ethernet, SLL, SLL2 captures)', async () => {
    const files: string[] = [];
    for (const name of readdirSync(corpusDir).sort()) {
      if (!/\.(pcap|pcapng)$/.test(name)) continue;
      const file = path.join(corpusDir, name);
      try {
        // Selection only: the link types of the file's interfaces, and that it reads without CaptureError.
        const s = readCaptureBuffer(readFileSync(file), name, () => {});
        if (s.interfaces.length > 0 && s.interfaces.every((i) => i.linkType === 1 || i.linkType === 113 || i.linkType === 276)) files.push(file);
      } catch {
        // Unreadable captures are the no-crash test's business.
      }
    }
    expect(files.length).toBeGreaterThan(400);
    const res = await compareFiles(files, 'corpus');
    report('corpus', res);
    expect(res.compared).toBeGreaterThan(5000);
    expect(res.mismatches).toEqual([]);
  }, 600_000);
});
