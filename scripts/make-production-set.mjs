#!/usr/bin/env node
/**
 * Generator of a production-shaped, conformant IPVS-NAT capture set for the verify benchmark
 * (scripts/bench-verify.mjs, section "verify, production-shaped"): what tcpdump writes at the
 * four points of a NAT deployment whose hosts run with default offloads
 * (/work/shared/spec/capture-artifacts.md §1–§2, and fixtures/offload/ipvs-nat, the same shapes
 * measured on a real kernel). Written with the project's PcapWriter from dist/, streamed: a few
 * connections at a time are built, sorted by time per file and flushed.
 *
 * Topology, addresses and MACs are those of `make-verify-fixtures.mjs --bulk`: client
 * 198.51.100.7, VIP 192.0.2.10:80, rr over 10.0.0.11:8080 and 10.0.0.12:8080 (-m), director
 * eth0 (client side) and eth1 (real-server side). Each connection: handshake (MSS 1460, SACK,
 * timestamps, window scale), a small GET, the RS's ACK of it, a response of 64 KiB–300 KiB
 * (log-uniform), one client ACK per received (GRO-merged) packet, FIN teardown started by the
 * server (HTTP/1.0). Every non-SYN segment carries the timestamp option: MSS payload 1448.
 *
 * Per point (profile linux: TTL −1 across the director both ways, IP ID kept):
 *   rs1/rs2          the RS's response as TSO/GSO super-segments (2…45 × 1448 bytes, IPv4 total
 *                    length up to 65212), IP ID advanced by the number of segments, PSH on each.
 *   director-eth1    ingress (--director-in, default `segments`): the wire MSS segments the RS's
 *                    NIC cut (consecutive IDs from the super-segment's, PSH on the last one of
 *                    each super-segment only); `super`: the RS's super-segments unchanged (GRO on
 *                    the director re-merged them as sent); `gro`: GRO-merged packets with their
 *                    own boundaries (first segment's ID, flushed at PSH).
 *                    egress toward the RS: the client's packets with dst rewritten to RIP:8080.
 *   director-eth0    egress toward the client: MSS segments with src rewritten to VIP:80
 *                    (software GSO, egress TSO off); ingress: the client's packets.
 *   client           GRO-merged response packets (1…44 consecutive segments, never past a PSH
 *                    segment; headers of the first, ACK/window of the last, IPv4 header
 *                    checksum for the merged length).
 * Checksums: every TCP checksum at every point is the partial pseudo-header sum of that packet
 * (src, dst, proto, TCP length; folded, not complemented) — TX checksum offload on the senders,
 * kept partial by IPVS for the rewritten addresses (tcp_partial_csum_update) and passed on by
 * veth-like links, as measured on fixtures/offload/ipvs-nat (100 % partial). IPv4 header
 * checksums are always correct.
 *
 * Deterministic (seeded mulberry32): same options, byte-identical files.
 *
 * Usage: node scripts/make-production-set.mjs [--packets N] [--director-in segments|super|gro]
 *          [--seed S] [--concurrency C] [--long L] DIR
 * --long L: instead, L long-lived keep-alive connections (database pool, HTTP keep-alive)
 * carrying the N packets between them: one handshake each, then request/response exchanges
 * (a request, 1–3 MSS response segments, the client's ACK) every 5 ms or so per connection,
 * FIN teardown at the end; the memory soak of the verify benchmark (bench-verify.mjs).
 * N (default 1 000 000): connections are added until the packets over all five files reach N.
 * Writes DIR/{client,director-eth0,director-eth1,rs1,rs2}.pcap, service.conf and, last,
 * expected.json (packet counts per file: the marker of a complete set).
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { PcapWriter } = await import(pathToFileURL(path.join(repoRoot, 'dist', 'decode', 'capture', 'index.js')).href);

// ---------------------------------------------------------------- options
const argv = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = argv.indexOf(name);
  if (i < 0) return dflt;
  const v = argv[i + 1];
  argv.splice(i, 2);
  return v;
};
const TARGET = Number(opt('--packets', process.env.BENCH_PROD_PACKETS ?? 1_000_000));
const DIR_IN = opt('--director-in', 'segments');
const SEED = Number(opt('--seed', 2016));
const CONC = Math.max(1, Number(opt('--concurrency', 8)));
const LONG = Math.max(0, Number(opt('--long', 0)));
const outDir = path.resolve(argv[0] ?? '/tmp/lvsaudit-production-set');
if (!['segments', 'super', 'gro'].includes(DIR_IN)) throw new Error(`--director-in: segments, super or gro, not ${DIR_IN}`);
if (!(TARGET > 0)) throw new Error('--packets must be > 0');

// ---------------------------------------------------------------- topology (as the bulk set)
const ip = (s) => s.split('.').reduce((a, x) => a * 256 + Number(x), 0);
const CIP = ip('198.51.100.7');
const VIP = ip('192.0.2.10');
const RIPS = [ip('10.0.0.11'), ip('10.0.0.12')];
const VPORT = 80;
const RPORT = 8080;
const mac = (s) => Buffer.from(s.split(':').map((h) => parseInt(h, 16)));
const MAC = {
  client: mac('02:00:00:00:00:07'),
  dirOut: mac('02:00:00:00:0d:01'),
  dirIn: mac('02:00:00:00:0d:02'),
  rs: [mac('02:00:00:00:00:11'), mac('02:00:00:00:00:12')],
};

// ---------------------------------------------------------------- seeded PRNG (mulberry32)
let prngState = SEED >>> 0;
function rnd() {
  prngState = (prngState + 0x6d2b79f5) >>> 0;
  let t = prngState;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const rint = (lo, hi) => lo + Math.floor(rnd() * (hi - lo + 1));

// Response bytes come from a seeded pool (every segment's payload differs from its neighbours').
const POOL = Buffer.allocUnsafe(4 << 20);
for (let i = 0; i < POOL.length; i += 4) POOL.writeUInt32LE((rnd() * 4294967296) >>> 0, i);

// ---------------------------------------------------------------- frames
const FIN = 0x01, SYN = 0x02, PSH = 0x08, ACK = 0x10;
const MSS = 1460;
const SEG = 1448; // MSS minus the 12 bytes of NOP NOP TS
const MAX_SUPER = 45; // 45 × 1448 + 52 = 65212 bytes of IPv4 total length
const fold = (s) => {
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return s;
};

/**
 * Ethernet/IPv4/TCP frame. `ts` = [tsval, tsecr] adds NOP NOP TS; `syn` = [tsval, tsecr, isSynAck]
 * adds the SYN options (MSS, SACK permitted, TS, NOP, WS 7). The TCP checksum is the partial
 * pseudo-header sum (TX offload); the IPv4 header checksum is final.
 */
function frame(smac, dmac, src, dst, id, ttl, sport, dport, seq, ack, flags, win, ts, syn, pay, payOff, payLen) {
  const optLen = syn ? 20 : ts ? 12 : 0;
  const tcpLen = 20 + optLen + payLen;
  const ipLen = 20 + tcpLen;
  const b = Buffer.allocUnsafe(14 + ipLen);
  dmac.copy(b, 0);
  smac.copy(b, 6);
  b[12] = 0x08;
  b[13] = 0x00;
  // IPv4
  b[14] = 0x45;
  b[15] = 0;
  b.writeUInt16BE(ipLen, 16);
  b.writeUInt16BE(id & 0xffff, 18);
  b.writeUInt16BE(0x4000, 20); // DF
  b[22] = ttl;
  b[23] = 6;
  b.writeUInt16BE(0, 24);
  b.writeUInt32BE(src, 26);
  b.writeUInt32BE(dst, 30);
  let s = 0;
  for (let i = 14; i < 34; i += 2) s += (b[i] << 8) | b[i + 1];
  b.writeUInt16BE(~fold(s) & 0xffff, 24);
  // TCP
  const o = 34;
  b.writeUInt16BE(sport, o);
  b.writeUInt16BE(dport, o + 2);
  b.writeUInt32BE(seq >>> 0, o + 4);
  b.writeUInt32BE(ack >>> 0, o + 8);
  b[o + 12] = ((20 + optLen) / 4) << 4;
  b[o + 13] = flags;
  b.writeUInt16BE(win, o + 14);
  const ps = (src >>> 16) + (src & 0xffff) + (dst >>> 16) + (dst & 0xffff) + 6 + tcpLen;
  b.writeUInt16BE(fold(ps), o + 16);
  b.writeUInt16BE(0, o + 18);
  if (syn) {
    const p = o + 20;
    b[p] = 2; b[p + 1] = 4; b.writeUInt16BE(MSS, p + 2);
    b[p + 4] = 4; b[p + 5] = 2;
    b[p + 6] = 8; b[p + 7] = 10; b.writeUInt32BE(syn[0] >>> 0, p + 8); b.writeUInt32BE(syn[1] >>> 0, p + 12);
    b[p + 16] = 1; b[p + 17] = 3; b[p + 18] = 3; b[p + 19] = 7;
  } else if (ts) {
    const p = o + 20;
    b[p] = 1; b[p + 1] = 1; b[p + 2] = 8; b[p + 3] = 10;
    b.writeUInt32BE(ts[0] >>> 0, p + 4);
    b.writeUInt32BE(ts[1] >>> 0, p + 8);
  }
  if (payLen > 0) pay.copy(b, o + 20 + optLen, payOff, payOff + payLen);
  return b;
}

// ---------------------------------------------------------------- output (streamed by batch)
mkdirSync(outDir, { recursive: true });
for (const f of ['client.pcap', 'director-eth0.pcap', 'director-eth1.pcap', 'rs1.pcap', 'rs2.pcap', 'expected.json']) rmSync(path.join(outDir, f), { force: true });
const FILES = ['client', 'director-eth0', 'director-eth1', 'rs1', 'rs2'];
const CLIENT = 0, D0 = 1, D1 = 2, RS = [3, 4];
const writers = FILES.map((n) => new PcapWriter({ path: path.join(outDir, `${n}.pcap`) }));
const counts = FILES.map(() => 0);
const bytes = FILES.map(() => 0);
const shape = { superSegments: 0, groClient: 0, groDirector: 0, largestIpLen: 0 };
let batch = FILES.map(() => []);
let emitted = 0;
const T0_SEC = 1_764_158_400; // 2025-11-26T12:00:00Z
/** Queues `f` at point `p`, time `t` in ns since T0. */
function emit(p, t, f) {
  batch[p].push({ t, n: batch[p].length, f });
  emitted++;
}
function flushBatch() {
  for (let p = 0; p < FILES.length; p++) {
    const recs = batch[p].sort((a, b) => a.t - b.t || a.n - b.n);
    for (const r of recs) {
      const t = Math.round(r.t);
      writers[p].write(r.f, T0_SEC + Math.floor(t / 1e9), t % 1e9);
      counts[p]++;
      bytes[p] += r.f.length;
    }
  }
  batch = FILES.map(() => []);
}

// ---------------------------------------------------------------- timing (ns)
const HOP = 40_000; // one wire hop
const PROC = 15_000; // inside the director
const SER = 1_200; // one 1500-byte frame at 10 Gbit/s

// ---------------------------------------------------------------- connections
const LN64K = Math.log(64 * 1024);
const LN300K = Math.log(300 * 1024);
let conn = 0;
let batchStart = 0;
let clientId = rint(0x1000, 0x8000);
let totalPayload = 0;

/**
 * One connection from `t0`; returns its last timestamp. Client packets are seen at client,
 * director-eth0, director-eth1 (dst rewritten, TTL −1), RS; RS packets at RS, director-eth1,
 * director-eth0 (src rewritten, TTL −1), client.
 */
function connection(i, t0) {
  const k = i % 2; // rr, in SYN order at the director
  const rip = RIPS[k];
  const rsP = RS[k];
  const rsMac = MAC.rs[k];
  const cport = 20000 + (i % 40000);
  const cisn = (rnd() * 4294967296) >>> 0;
  const sisn = (rnd() * 4294967296) >>> 0;
  let rsId = rint(0, 0xffff);
  const cTs = (rnd() * 4294967296) >>> 0;
  const sTs = (rnd() * 4294967296) >>> 0;
  const cTsv = (t) => (cTs + Math.floor(t / 1e6)) >>> 0; // 1 kHz timestamp clocks
  const sTsv = (t) => (sTs + Math.floor(t / 1e6)) >>> 0;
  let end = t0;
  const at = (p, t, f) => {
    emit(p, t, f);
    if (t > end) end = t;
  };

  /** Client → RS, sent at client time t; returns the RS arrival time. */
  const c2s = (t, seq, ack, flags, win, opts, pay, payLen) => {
    const id = clientId++ & 0xffff;
    const syn = opts === 'syn' ? [cTsv(t), 0] : null;
    const ts = opts === 'ts' ? [cTsv(t), sTsv(t - HOP)] : null;
    const fc = frame(MAC.client, MAC.dirOut, CIP, VIP, id, 64, cport, VPORT, seq, ack, flags, win, ts, syn, pay, 0, payLen);
    at(CLIENT, t, fc);
    at(D0, t + HOP, fc);
    const fr = frame(MAC.dirIn, rsMac, CIP, rip, id, 63, cport, RPORT, seq, ack, flags, win, ts, syn, pay, 0, payLen);
    at(D1, t + HOP + PROC, fr);
    at(rsP, t + 2 * HOP + PROC, fr);
    return t + 2 * HOP + PROC;
  };
  /** A small RS → client packet (no payload) sent at RS time t; returns the client arrival time. */
  const s2c = (t, id, seq, ack, flags, opts) => {
    const syn = opts === 'syn' ? [sTsv(t), cTsv(t - HOP)] : null;
    const ts = opts === 'ts' ? [sTsv(t), cTsv(t - HOP)] : null;
    const fr = frame(rsMac, MAC.dirIn, rip, CIP, id, 64, RPORT, cport, seq, ack, flags, 509, ts, syn, null, 0, 0);
    at(rsP, t, fr);
    at(D1, t + HOP, fr);
    const fo = frame(MAC.dirOut, MAC.client, VIP, CIP, id, 63, VPORT, cport, seq, ack, flags, 509, ts, syn, null, 0, 0);
    at(D0, t + HOP + PROC, fo);
    at(CLIENT, t + 2 * HOP + PROC, fo);
    return t + 2 * HOP + PROC;
  };

  // Handshake, request, the RS's ACK of it.
  let t = c2s(t0, cisn, 0, SYN, 64240, 'syn', null, 0);
  t = s2c(t + 20_000, 0, sisn, cisn + 1, SYN | ACK, 'syn'); // Linux sends SYN-ACKs with IP ID 0
  t = c2s(t + 10_000, cisn + 1, sisn + 1, ACK, 502, 'ts', null, 0);
  const req = Buffer.from(`GET /objects/${i.toString(36)}.bin HTTP/1.0\r\nHost: 192.0.2.10\r\nUser-Agent: bench/1\r\nAccept: */*\r\n\r\n`);
  t = c2s(t + 30_000, cisn + 1, sisn + 1, ACK | PSH, 502, 'ts', req, req.length);
  const cAck = cisn + 1 + req.length;
  s2c(t + 40_000, rsId++, sisn + 1, cAck, ACK, 'ts');

  // The response: super-segments at the RS, cut into MSS segments on the wire.
  const R = Math.floor(Math.exp(LN64K + rnd() * (LN300K - LN64K)));
  totalPayload += R;
  const poolOff = rint(0, POOL.length - R - 1);
  const nSeg = Math.ceil(R / SEG);
  // Wire segments: { off, len, id, psh, tIn (director-eth1 ingress time) }
  const segs = [];
  let ts = t + rint(100_000, 2_000_000); // application time
  let s = 0;
  for (let j = 0; s < nSeg; j++) {
    const n = Math.min(nSeg - s, MAX_SUPER, Math.max(1, Math.floor(3 * 2 ** j * (0.7 + 0.6 * rnd()))));
    const off = s * SEG;
    const len = Math.min(R - off, n * SEG);
    const fr = frame(rsMac, MAC.dirIn, rip, CIP, rsId, 64, RPORT, cport, sisn + 1 + off, cAck, ACK | PSH, 509, [sTsv(ts), cTsv(ts - HOP)], null, POOL, poolOff + off, len);
    at(rsP, ts, fr);
    if (n > 1) shape.superSegments++;
    if (fr.length - 14 > shape.largestIpLen) shape.largestIpLen = fr.length - 14;
    for (let q = 0; q < n; q++) {
      const o = off + q * SEG;
      segs.push({ off: o, len: Math.min(SEG, R - o), id: rsId + q, psh: q === n - 1, tIn: ts + HOP + (q + 1) * SER, tsv: sTsv(ts), ecr: cTsv(ts - HOP), superFrame: q === 0 ? fr : null });
    }
    rsId += n;
    s += n;
    ts += n * SER + rint(0, 30_000);
  }
  const lastRs = ts;

  /** Groups of consecutive segments as a receiver's GRO merges them: 1…max, ended by PSH. */
  const groups = (max) => {
    const out = [];
    let cur = [];
    let lim = rint(1, max);
    for (const sg of segs) {
      cur.push(sg);
      if (sg.psh || cur.length >= lim) {
        out.push(cur);
        cur = [];
        lim = rint(1, max);
      }
    }
    if (cur.length) out.push(cur);
    return out;
  };
  /** One packet of the merged segments `g` (headers of the first, ACK/window of the last). */
  const merged = (g, smac, dmac, src, sport, ttl) => {
    const a = g[0];
    const len = g.reduce((x, y) => x + y.len, 0);
    const flags = ACK | (g.some((y) => y.psh) ? PSH : 0);
    return frame(smac, dmac, src, CIP, a.id, ttl, sport, cport, sisn + 1 + a.off, cAck, flags, 509, [a.tsv, a.ecr], null, POOL, poolOff + a.off, len);
  };

  // director-eth1 ingress.
  if (DIR_IN === 'segments') {
    for (const sg of segs) at(D1, sg.tIn, frame(rsMac, MAC.dirIn, rip, CIP, sg.id, 64, RPORT, cport, sisn + 1 + sg.off, cAck, ACK | (sg.psh ? PSH : 0), 509, [sg.tsv, sg.ecr], null, POOL, poolOff + sg.off, sg.len));
  } else if (DIR_IN === 'super') {
    let last = null;
    for (const sg of segs) {
      if (sg.superFrame) last = sg.superFrame;
      if (sg.psh) at(D1, sg.tIn, last);
    }
  } else {
    for (const g of groups(44)) {
      if (g.length > 1) shape.groDirector++;
      at(D1, g[g.length - 1].tIn + 2_000, merged(g, rsMac, MAC.dirIn, rip, RPORT, 64));
    }
  }
  // director-eth0 egress: MSS segments, src rewritten to VIP:80, TTL − 1, ID kept.
  const tOut = (sg) => sg.tIn + PROC + (DIR_IN === 'segments' ? 0 : 2_000);
  for (const sg of segs) at(D0, tOut(sg), frame(MAC.dirOut, MAC.client, VIP, CIP, sg.id, 63, VPORT, cport, sisn + 1 + sg.off, cAck, ACK | (sg.psh ? PSH : 0), 509, [sg.tsv, sg.ecr], null, POOL, poolOff + sg.off, sg.len));
  // client: GRO-merged, one ACK per merged packet.
  let lastAck = 0;
  for (const g of groups(44)) {
    const tc = tOut(g[g.length - 1]) + HOP + 2_000;
    if (g.length > 1) shape.groClient++;
    at(CLIENT, tc, merged(g, MAC.dirOut, MAC.client, VIP, VPORT, 63));
    const e = g[g.length - 1];
    lastAck = tc + 8_000;
    c2s(lastAck, cAck, sisn + 1 + e.off + e.len, ACK, 502 + Math.min(1500, Math.floor((e.off + e.len) / 4096)), 'ts', null, 0);
  }

  // Teardown: the server closes (HTTP/1.0), the client answers FIN, the server ACKs.
  const sEnd = sisn + 1 + R;
  const finC = s2c(lastRs + 10_000, rsId++, sEnd, cAck, FIN | ACK, 'ts');
  const finRs = c2s(Math.max(finC, lastAck) + 20_000, cAck, sEnd + 1, FIN | ACK, 2000, 'ts', null, 0);
  s2c(finRs + 10_000, rsId++, sEnd + 1, cAck + 1, ACK, 'ts');
  return end;
}

/**
 * --long: one keep-alive connection from `t0` (its handshake); `exchange(t)` adds one request/
 * response exchange from client time t and returns its last timestamp, `close(t)` the teardown.
 * Wire-size segments at every point (no offload shapes: the soak measures memory over time).
 */
function keepAlive(i, t0) {
  const k = i % 2;
  const rip = RIPS[k];
  const rsP = RS[k];
  const rsMac = MAC.rs[k];
  const cport = 30000 + i;
  let cseq = (rnd() * 4294967296) >>> 0;
  let sseq = (rnd() * 4294967296) >>> 0;
  let rsId = rint(0, 0xffff);
  const cTs = (rnd() * 4294967296) >>> 0;
  const sTs = (rnd() * 4294967296) >>> 0;
  const cTsv = (t) => (cTs + Math.floor(t / 1e6)) >>> 0;
  const sTsv = (t) => (sTs + Math.floor(t / 1e6)) >>> 0;
  let end = t0;
  const at = (p, t, f) => {
    emit(p, t, f);
    if (t > end) end = t;
  };
  const c2s = (t, flags, opts, payOff, payLen) => {
    const id = clientId++ & 0xffff;
    const syn = opts === 'syn' ? [cTsv(t), 0] : null;
    const ts = opts === 'ts' ? [cTsv(t), sTsv(t - HOP)] : null;
    const ack = flags & ACK ? sseq : 0;
    const fc = frame(MAC.client, MAC.dirOut, CIP, VIP, id, 64, cport, VPORT, cseq, ack, flags, 502, ts, syn, POOL, payOff, payLen);
    at(CLIENT, t, fc);
    at(D0, t + HOP, fc);
    const fr = frame(MAC.dirIn, rsMac, CIP, rip, id, 63, cport, RPORT, cseq, ack, flags, 502, ts, syn, POOL, payOff, payLen);
    at(D1, t + HOP + PROC, fr);
    at(rsP, t + 2 * HOP + PROC, fr);
    cseq = (cseq + payLen + (flags & (SYN | FIN) ? 1 : 0)) >>> 0;
    return t + 2 * HOP + PROC;
  };
  const s2c = (t, flags, opts, payOff, payLen) => {
    const id = flags & SYN ? 0 : rsId++ & 0xffff;
    const syn = opts === 'syn' ? [sTsv(t), cTsv(t - HOP)] : null;
    const ts = opts === 'ts' ? [sTsv(t), cTsv(t - HOP)] : null;
    const fr = frame(rsMac, MAC.dirIn, rip, CIP, id, 64, RPORT, cport, sseq, cseq, flags, 509, ts, syn, POOL, payOff, payLen);
    at(rsP, t, fr);
    at(D1, t + HOP, fr);
    const fo = frame(MAC.dirOut, MAC.client, VIP, CIP, id, 63, VPORT, cport, sseq, cseq, flags, 509, ts, syn, POOL, payOff, payLen);
    at(D0, t + HOP + PROC, fo);
    at(CLIENT, t + 2 * HOP + PROC, fo);
    sseq = (sseq + payLen + (flags & (SYN | FIN) ? 1 : 0)) >>> 0;
    return t + 2 * HOP + PROC;
  };
  let t = c2s(t0, SYN, 'syn', 0, 0);
  t = s2c(t + 20_000, SYN | ACK, 'syn', 0, 0);
  c2s(t + 10_000, ACK, 'ts', 0, 0);
  return {
    exchange(tc) {
      end = tc;
      const req = rint(60, 400);
      let ts = c2s(tc, ACK | PSH, 'ts', rint(0, POOL.length - req - 1), req) + rint(20_000, 200_000);
      const n = rint(1, 3);
      let last = 0;
      for (let q = 0; q < n; q++) {
        const len = q < n - 1 ? SEG : rint(100, SEG);
        last = s2c(ts, ACK | (q === n - 1 ? PSH : 0), 'ts', rint(0, POOL.length - len - 1), len);
        ts += SER;
      }
      c2s(last + 10_000, ACK, 'ts', 0, 0);
      return end;
    },
    close(tc) {
      const t1 = s2c(tc, FIN | ACK, 'ts', 0, 0);
      const t2 = c2s(t1 + 20_000, FIN | ACK, 'ts', 0, 0);
      s2c(t2 + 10_000, ACK, 'ts', 0, 0);
      conn++;
      return end;
    },
  };
}

const tGen = Date.now();
if (LONG > 0) {
  const PERIOD = 5_000_000;
  const live = [];
  let t = 0;
  for (let i = 0; i < LONG; i++) live.push(keepAlive(i, (t += rint(20_000, 120_000))));
  let round = 1;
  // Every connection's exchange of a round ends before the next round starts: flushing by
  // rounds keeps each file in time order.
  const slot = Math.floor((PERIOD * 0.8) / LONG);
  while (emitted < TARGET) {
    const start = round * PERIOD;
    live.forEach((c, i) => c.exchange(start + i * slot + rint(0, slot >> 2)));
    if (round % 20 === 0) flushBatch();
    round++;
  }
  live.forEach((c, i) => c.close(round * PERIOD + i * slot));
  flushBatch();
}
while (emitted < TARGET && LONG === 0) {
  let batchEnd = batchStart;
  let start = batchStart;
  for (let c = 0; c < CONC && emitted < TARGET; c++) {
    start += rint(20_000, 120_000); // SYNs in connection order: rr alternates rs1, rs2
    batchEnd = Math.max(batchEnd, connection(conn++, start));
  }
  flushBatch();
  batchStart = batchEnd + rint(50_000, 500_000);
}
for (const w of writers) w.close();

const perFile = Object.fromEntries(FILES.map((n, p) => [`${n}.pcap`, { packets: counts[p], bytes: bytes[p] + 16 * counts[p] + 24 }]));
const packets = counts.reduce((a, b) => a + b, 0);
writeFileSync(
  path.join(outDir, 'service.conf'),
  '-A -t 192.0.2.10:80 -s rr\n-a -t 192.0.2.10:80 -r 10.0.0.11:8080 -m -w 1\n-a -t 192.0.2.10:80 -r 10.0.0.12:8080 -m -w 1\n',
);
const expected = {
  description:
    LONG > 0
      ? `long-lived conformant NAT: ${conn} keep-alive connections of request/response exchanges every ~5 ms; wire-size segments; every TCP checksum partial`
      : `production-shaped conformant NAT: ${conn} connections with 64–300 KiB responses; TSO super-segments at the RS, director ingress ${DIR_IN}, MSS segments at director egress, GRO-merged at the client; every TCP checksum partial`,
  method: 'nat',
  profile: 'linux',
  expectedRules: [],
  expectedInfo: LONG > 0 ? ['capture.checksum-offload'] : ['capture.checksum-offload', 'capture.segmentation-offload'],
  generator: { script: 'scripts/make-production-set.mjs', seed: SEED, targetPackets: TARGET, directorIngress: DIR_IN, concurrency: CONC, ...(LONG > 0 ? { long: LONG } : {}) },
  connections: conn,
  packets,
  responseBytes: totalPayload,
  shape,
  files: perFile,
};
writeFileSync(path.join(outDir, 'expected.json'), JSON.stringify(expected, null, 2) + '\n');
process.stderr.write(
  `make-production-set: ${conn} connections, ${packets} packets, ${(Object.values(perFile).reduce((a, f) => a + f.bytes, 0) / 1e6).toFixed(0)} MB in ${((Date.now() - tGen) / 1000).toFixed(1)} s → ${outDir}\n`,
);
