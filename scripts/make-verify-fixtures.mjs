#!/usr/bin/env node
/**
 * Deterministic generator of the synthetic capture sets under fixtures/verify/.
 *
 * Each set is what tcpdump would have written at every capture point of one LVS deployment:
 * client.pcap, director*.pcap, rs1.pcap, rs2.pcap, a service.conf in `ipvsadm-save -n` form
 * and expected.json (the rule ids a correct verifier must report, the profile to use).
 *
 * The bytes are built here, by hand, independently of the project's decoder and packet builder,
 * so that the verify tests check the verifier against a second implementation of
 * lvs-behavior.md (§1.3 NAT, §1.4 DR, §1.5 TUN) rather than against itself; one set is also
 * checked with tshark in the tests. Everything derives from a seeded PRNG: running the script
 * twice gives byte-identical files.
 *
 * Usage: node scripts/make-verify-fixtures.mjs [outDir]   (default fixtures/verify)
 */
import { mkdirSync, writeFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
// `--bulk N DIR`: one large conformant NAT set of N connections (for throughput runs; not committed).
const bulkIdx = process.argv.indexOf('--bulk');
const bulk = bulkIdx >= 0 ? Number(process.argv[bulkIdx + 1]) : 0;
// `--rs-client DIR`: one NAT set whose client is real server 10.0.0.12, once from its service
// port 8080 (tests of the split verify run; not committed: verify's verdict on it is not the point).
const rsClientIdx = process.argv.indexOf('--rs-client');
const single = bulk > 0 || rsClientIdx >= 0;
const outRoot = path.resolve(
  bulk > 0
    ? process.argv[bulkIdx + 2] ?? '/tmp/verify-bulk'
    : rsClientIdx >= 0
      ? process.argv[rsClientIdx + 1] ?? '/tmp/verify-rs-client'
      : process.argv[2] ?? path.join(here, '..', 'fixtures', 'verify'),
);

// ---------------------------------------------------------------- addresses of the topology
const V4 = {
  CIP: '198.51.100.7',
  VIP: '192.0.2.10',
  DIP: '10.0.0.1', // director's address on the real-server LAN (NAT gateway, TUN outer src)
  RIPS: ['10.0.0.11', '10.0.0.12', '10.0.0.99'], // index 2: a host that is not a configured RS
};
const V6 = {
  CIP: '2001:db8:1::7',
  VIP: '2001:db8:2::10',
  DIP: 'fd00::1',
  RIPS: ['fd00::11', 'fd00::12', 'fd00::99'],
};
const VPORT = 80;
// The set being generated picks its family (makeSet runs the sets one after another).
let { CIP, VIP, DIP, RIPS } = V4;
const MAC = {
  client: '02:00:00:00:00:07', // the client (or its router) on the director's outer LAN
  dirOut: '02:00:00:00:0d:01', // director, client-facing NIC (DR/TUN: its only NIC)
  dirIn: '02:00:00:00:0d:02', // director, RS-facing NIC (NAT)
  rs: ['02:00:00:00:00:11', '02:00:00:00:00:12', '02:00:00:00:00:99'],
  otherRouter: '02:00:00:00:00:fe', // a gateway that is not the director
};

// ---------------------------------------------------------------- seeded PRNG (mulberry32)
function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// ---------------------------------------------------------------- byte helpers
const ip4 = (s) => Buffer.from(s.split('.').map(Number));
/** 16 bytes of an IPv6 address in text form (with one :: at most). */
function ip6(s) {
  const [head, tail] = s.split('::');
  const h = head ? head.split(':') : [];
  const t = tail !== undefined && tail !== '' ? tail.split(':') : [];
  const words = [...h, ...new Array(8 - h.length - t.length).fill('0'), ...t];
  const b = Buffer.alloc(16);
  words.forEach((w, i) => b.writeUInt16BE(parseInt(w, 16), 2 * i));
  return b;
}
const ipBytes = (s) => (s.includes(':') ? ip6(s) : ip4(s));
const mac = (s) => Buffer.from(s.split(':').map((h) => parseInt(h, 16)));

function sum16(buf, acc = 0) {
  for (let i = 0; i + 1 < buf.length; i += 2) acc += (buf[i] << 8) | buf[i + 1];
  if (buf.length & 1) acc += buf[buf.length - 1] << 8;
  return acc;
}
function fold(acc) {
  while (acc > 0xffff) acc = (acc & 0xffff) + (acc >>> 16);
  return ~acc & 0xffff;
}

/** TCP segment with a correct checksum over the pseudo header (src, dst). */
function tcpSegment(src, dst, t) {
  const opts = t.options ?? Buffer.alloc(0);
  const hl = 20 + opts.length;
  const payload = t.payload ?? Buffer.alloc(0);
  const seg = Buffer.alloc(hl + payload.length);
  seg.writeUInt16BE(t.sport, 0);
  seg.writeUInt16BE(t.dport, 2);
  seg.writeUInt32BE(t.seq >>> 0, 4);
  seg.writeUInt32BE(t.ack >>> 0, 8);
  seg[12] = (hl / 4) << 4;
  seg[13] = t.flags;
  seg.writeUInt16BE(t.window ?? 64240, 14);
  opts.copy(seg, 20);
  payload.copy(seg, hl);
  const pseudo = src.includes(':')
    ? Buffer.concat([ip6(src), ip6(dst), Buffer.from([0, 0, seg.length >> 8, seg.length & 255, 0, 0, 0, 6])])
    : Buffer.concat([ip4(src), ip4(dst), Buffer.from([0, 6, seg.length >> 8, seg.length & 255])]);
  seg.writeUInt16BE(fold(sum16(seg, sum16(pseudo))), 16);
  return seg;
}

/** IPv4 packet around `l4` with a correct header checksum. */
function ipv4(h, l4) {
  const b = Buffer.alloc(20 + l4.length);
  b[0] = 0x45;
  b[1] = h.tos ?? 0;
  b.writeUInt16BE(b.length, 2);
  b.writeUInt16BE(h.id & 0xffff, 4);
  b.writeUInt16BE(h.df === false ? 0 : 0x4000, 6);
  b[8] = h.ttl;
  b[9] = h.proto ?? 6;
  ip4(h.src).copy(b, 12);
  ip4(h.dst).copy(b, 16);
  b.writeUInt16BE(fold(sum16(b.subarray(0, 20))), 10);
  l4.copy(b, 20);
  return b;
}

/** Ethernet/IPv4 ARP frame: op 1 request, 2 reply. */
function arpFrame(op, sha, spa, tha, tpa, ethDst) {
  const b = Buffer.alloc(28);
  b.writeUInt16BE(1, 0);
  b.writeUInt16BE(0x0800, 2);
  b[4] = 6;
  b[5] = 4;
  b.writeUInt16BE(op, 6);
  mac(sha).copy(b, 8);
  ip4(spa).copy(b, 14);
  mac(tha).copy(b, 18);
  ip4(tpa).copy(b, 24);
  return Buffer.concat([mac(ethDst), mac(sha), Buffer.from([0x08, 0x06]), b]);
}

/** IPv6 packet (no extension headers): hop limit = h.ttl, traffic class = h.tos; no IP ID. */
function ipv6(h, l4) {
  const b = Buffer.alloc(40 + l4.length);
  b.writeUInt32BE(((6 << 28) | ((h.tos ?? 0) << 20)) >>> 0, 0);
  b.writeUInt16BE(l4.length, 4);
  b[6] = h.proto ?? 6;
  b[7] = h.ttl;
  ip6(h.src).copy(b, 8);
  ip6(h.dst).copy(b, 24);
  l4.copy(b, 40);
  return b;
}

/** IPv4 or IPv6 by the address family of the set. */
const ipPkt = (h, l4) => (h.src.includes(':') ? ipv6(h, l4) : ipv4(h, l4));

const eth = (src, dst, payload) =>
  Buffer.concat([mac(dst), mac(src), Buffer.from(payload[0] >> 4 === 6 ? [0x86, 0xdd] : [0x08, 0x00]), payload]);

// ---------------------------------------------------------------- pcap writer
class Pcap {
  constructor() {
    this.records = [];
  }
  add(tsUs, frame) {
    this.records.push({ tsUs, frame });
  }
  bytes() {
    // Stable order by time; equal stamps keep insertion order.
    const recs = this.records.map((r, i) => ({ ...r, i })).sort((a, b) => a.tsUs - b.tsUs || a.i - b.i);
    const hdr = Buffer.alloc(24);
    hdr.writeUInt32LE(0xa1b2c3d4, 0);
    hdr.writeUInt16LE(2, 4);
    hdr.writeUInt16LE(4, 6);
    hdr.writeUInt32LE(262144, 16);
    hdr.writeUInt32LE(1, 20); // LINKTYPE_ETHERNET
    const parts = [hdr];
    for (const r of recs) {
      const rh = Buffer.alloc(16);
      rh.writeUInt32LE(Math.floor(r.tsUs / 1e6), 0);
      rh.writeUInt32LE(r.tsUs % 1e6, 4);
      rh.writeUInt32LE(r.frame.length, 8);
      rh.writeUInt32LE(r.frame.length, 12);
      parts.push(rh, r.frame);
    }
    return Buffer.concat(parts);
  }
}

// ---------------------------------------------------------------- scenario model
/**
 * One capture set. A scenario lists connections (client port, chosen RS index) and the
 * deviations ("faults") applied while the packets travel; `emit*` functions write every copy of
 * every packet to the points where it would be captured.
 */
function makeSet(name, cfg) {
  ({ CIP, VIP, DIP, RIPS } = cfg.family === 6 ? V6 : V4);
  if (cfg.clientIp) CIP = cfg.clientIp;
  const rnd = prng(cfg.seed ?? 7);
  const method = cfg.method;
  const points = {
    client: new Pcap(),
    directorOut: new Pcap(),
    directorIn: method === 'nat' ? new Pcap() : null,
    rs: [new Pcap(), new Pcap(), new Pcap()], // rs[2] is never written: nobody captured there
  };
  const off = { director: cfg.offsetUs?.director ?? 0, rs: [...(cfg.offsetUs?.rs ?? [0, 0]), 0], client: 0 };
  const faults = cfg.faults ?? {};
  const ttlDec = cfg.profile === 'linux-legacy' ? 0 : 1;
  let clientId = 0x1000 + Math.floor(rnd() * 0x4000);
  const rsId = [0x5000 + Math.floor(rnd() * 0x1000), 0x7000 + Math.floor(rnd() * 0x1000), 0x9000];
  const T0 = 1_764_158_400_000_000; // 2025-11-26T12:00:00Z in µs
  const hop = 40; // µs per wire hop
  const proc = 15; // µs inside the director

  const rsPort = (k) => cfg.rsPorts?.[k] ?? 8080;
  const svcPort = (k) => (method === 'nat' ? rsPort(k) : VPORT);

  /** client → RS. `p` = {t, k, cport, seq, ack, flags, payload, dropAtDirector, mangle}. */
  function c2sPacket(p) {
    const id = clientId++ & 0xffff;
    const tcp = { sport: p.cport, dport: VPORT, seq: p.seq, ack: p.ack, flags: p.flags, payload: p.payload, options: p.options };
    const orig = ipPkt({ src: CIP, dst: VIP, ttl: 64, id }, tcpSegment(CIP, VIP, tcp));
    let t = p.t;
    const clientFrame = eth(MAC.client, MAC.dirOut, orig);
    // The client's own NIC computes the TCP checksum (offload): its capture shows a wrong one.
    points.client.add(t + off.client, cfg.clientOffload ? offloadCorrupt(clientFrame) : clientFrame);
    if (p.bypass) {
      // The client (ARP cache poisoned) sends straight to the RS MAC: the director never sees it.
      t += hop;
      const f = eth(MAC.client, MAC.rs[p.k], orig);
      points.rs[p.k].add(t + off.rs[p.k], f);
      return;
    }
    t += hop;
    points.directorOut.add(t + off.director, clientFrame);
    if (p.dropAtDirector) return;
    t += proc;
    const k = p.k;
    let fwd;
    const ttl = 64 - (faults.noTtlDecrement ? 0 : ttlDec);
    const fid = faults.rewriteId ? (id ^ 0x2a5) & 0xffff : id;
    if (method === 'nat') {
      const rip = RIPS[k];
      // A payload-mangling middlebox/helper flips one byte (same length) of the forwarded copy.
      const fwdPayload = p.manglePayload && tcp.payload ? Buffer.from(tcp.payload).fill(0x58, 0, 1) : tcp.payload;
      const seg = tcpSegment(CIP, rip, { ...tcp, payload: fwdPayload, dport: faults.natWrongPort ? 9999 : svcPort(k) });
      if (p.badL4Checksum) seg.writeUInt16BE(seg.readUInt16BE(16) ^ 0x1234, 16);
      fwd = eth(MAC.dirIn, MAC.rs[k], ipPkt({ src: CIP, dst: rip, ttl, id: fid }, seg));
      points.directorIn.add(t + off.director, fwd);
    } else if (method === 'dr') {
      const seg = tcpSegment(CIP, VIP, tcp);
      if (p.badL4Checksum) seg.writeUInt16BE(seg.readUInt16BE(16) ^ 0x1234, 16);
      fwd = eth(MAC.dirOut, faults.drWrongMac ? '02:00:00:00:00:33' : MAC.rs[k], ipPkt({ src: CIP, dst: VIP, ttl, id: fid }, seg));
      points.directorOut.add(t + off.director, fwd);
    } else {
      const inner = ipPkt({ src: CIP, dst: VIP, ttl, id: fid }, tcpSegment(CIP, VIP, tcp));
      const outerTtl = faults.tunOuterTtl ? 64 : ttl;
      fwd = eth(MAC.dirOut, MAC.rs[k], ipPkt({ src: DIP, dst: RIPS[k], ttl: outerTtl, id: 0, proto: 4 }, inner));
      points.directorOut.add(t + off.director, fwd);
    }
    if (p.lostInTransit) return;
    t += hop;
    points.rs[k].add(t + off.rs[k], fwd);
  }

  /** RS → client. */
  function s2c(p) {
    const k = p.k;
    const id = rsId[k]++ & 0xffff;
    let t = p.t;
    const fromRip = method === 'nat' || faults.drReplyFromRip;
    const src = fromRip ? RIPS[k] : VIP;
    const sport = fromRip ? svcPort(k) : VPORT;
    const tcp = { sport, dport: p.cport, seq: p.seq, ack: p.ack, flags: p.flags, payload: p.payload, options: p.options };
    const seg = tcpSegment(src, CIP, tcp);
    const pkt = ipPkt({ src, dst: CIP, ttl: 64, id }, seg);
    if (method === 'nat') {
      const viaDirector = !(faults.natReplyBypass && faults.natReplyBypass.includes(k));
      const rsFrame = eth(MAC.rs[k], viaDirector ? MAC.dirIn : MAC.otherRouter, pkt);
      points.rs[k].add(t + off.rs[k], cfg.rsOffload ? offloadCorrupt(rsFrame) : rsFrame);
      t += hop;
      if (!viaDirector) {
        // The other gateway routes it to the client unchanged (src stays the RIP).
        t += hop;
        points.client.add(t + off.client, eth(MAC.otherRouter, MAC.client, ipPkt({ src, dst: CIP, ttl: 63, id }, seg)));
        return { leaked: true, t };
      }
      points.directorIn.add(t + off.director, rsFrame);
      t += proc;
      const out = ipPkt({ src: VIP, dst: CIP, ttl: 63, id }, tcpSegment(VIP, CIP, { ...tcp, sport: VPORT }));
      const f = eth(MAC.dirOut, MAC.client, out);
      points.directorOut.add(t + off.director, f);
      t += hop;
      points.client.add(t + off.client, f);
      return { leaked: false, t };
    }
    // DR / TUN: the RS answers the client directly (its gateway is the client-side router).
    const f = eth(MAC.rs[k], MAC.client, pkt);
    points.rs[k].add(t + off.rs[k], cfg.rsOffload ? offloadCorrupt(f) : f);
    t += hop;
    points.client.add(t + off.client, f);
    return { leaked: fromRip, t };
  }

  if (method === 'dr') {
    // The director resolves each RIP before forwarding (DR needs the RS MAC, §1.4): who-has RIP
    // from the director, is-at from the RS. It also lets verify recognise the RS captures, whose
    // IP headers never name the RIP in DR.
    for (let k = 0; k < 2; k++) {
      const t = T0 - 20_000 + k * 1000;
      const req = arpFrame(1, MAC.dirOut, DIP, '00:00:00:00:00:00', RIPS[k], 'ff:ff:ff:ff:ff:ff');
      const rep = arpFrame(2, MAC.rs[k], RIPS[k], MAC.dirOut, DIP, MAC.dirOut);
      points.directorOut.add(t + off.director, req);
      points.rs[k].add(t + hop + off.rs[k], req);
      points.rs[k].add(t + hop + 30 + off.rs[k], rep);
      points.directorOut.add(t + 2 * hop + 30 + off.director, rep);
    }
  }

  const ACK = 0x10;
  const SYN = 0x02;
  const FIN = 0x01;
  const PSH = 0x08;
  const RST = 0x04;
  const synOpts = Buffer.from([2, 4, 0x05, 0xb4, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 3, 7]);

  for (const [i, conn] of cfg.conns.entries()) {
    const k = conn.k;
    const cport = conn.cport ?? 40000 + i * 7;
    let t = T0 + (conn.startMs ?? i * 100) * 1000;
    const cisn = Math.floor(rnd() * 2 ** 32) >>> 0;
    const sisn = Math.floor(rnd() * 2 ** 32) >>> 0;
    const f = { ...(conn.faults ?? {}) };
    // A big request (1460 bytes, DF) only fits a 1500-byte link without a tunnel header.
    const req = f.bigRequest
      ? Buffer.alloc(1460, 0x42)
      : Buffer.from(`GET /${name}/${i} HTTP/1.0\r\nHost: ${VIP}\r\n\r\n`);
    const resp = Buffer.alloc(96 + Math.floor(rnd() * 64), 0x61 + (i % 26));
    // A bypassing client (poisoned ARP cache) sends every packet of the connection to the RS.
    const c2s = (x) => c2sPacket({ k, cport, bypass: f.bypass, ...x });
    c2s({ t, seq: cisn, ack: 0, flags: SYN, options: synOpts, dropAtDirector: f.dropSyn });
    if (f.dropSyn) {
      // The client's SYN retransmission one second later is forwarded.
      t += 1_000_000;
      c2s({ t, seq: cisn, ack: 0, flags: SYN, options: synOpts });
    }
    t += 300;
    // A real server without the VIP drops the forwarded SYN silently (Linux: no RST, no ICMP).
    if (f.rsSilent) continue;
    if (f.vipNotBound) {
      s2c({ t, k, cport, seq: 0, ack: cisn + 1, flags: RST | ACK });
      continue;
    }
    const r = s2c({ t, k, cport, seq: sisn, ack: cisn + 1, flags: SYN | ACK, options: synOpts.subarray(0, 4) });
    t = r.t + 300;
    if (r.leaked) {
      // The client has no socket for RIP:port: it resets that stray SYN-ACK (sent to the RIP,
      // not through the director).
      const seg = tcpSegment(CIP, RIPS[k], { sport: cport, dport: svcPort(k), seq: cisn + 1, ack: 0, flags: RST });
      points.client.add(t + off.client, eth(MAC.client, MAC.dirOut, ipPkt({ src: CIP, dst: RIPS[k], ttl: 64, id: clientId++ & 0xffff }, seg)));
      continue;
    }
    c2s({ t, seq: cisn + 1, ack: sisn + 1, flags: ACK });
    t += 200;
    c2s({
      t,
      seq: cisn + 1,
      ack: sisn + 1,
      flags: ACK | PSH,
      payload: req,
      dropAtDirector: f.dropData,
      badL4Checksum: f.badChecksum,
      lostInTransit: f.lostData,
      manglePayload: f.manglePayload,
    });
    if (f.dropData || f.badChecksum || f.lostData) {
      // Retransmission after the RTO: this one gets through intact.
      t += 200_000;
      c2s({ t, seq: cisn + 1, ack: sisn + 1, flags: ACK | PSH, payload: req });
    }
    t += 500;
    s2c({ t, k, cport, seq: sisn + 1, ack: cisn + 1 + req.length, flags: ACK | PSH, payload: resp });
    t += 400;
    c2s({ t, seq: cisn + 1 + req.length, ack: sisn + 1 + resp.length, flags: ACK | FIN });
    t += 300;
    s2c({ t, k, cport, seq: sisn + 1 + resp.length, ack: cisn + 2 + req.length, flags: ACK | FIN });
    t += 300;
    c2s({ t, seq: cisn + 2 + req.length, ack: sisn + 2 + resp.length, flags: ACK });
  }

  const dir = single ? outRoot : path.join(outRoot, name);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, 'client.pcap'), points.client.bytes());
  if (method === 'nat') {
    writeFileSync(path.join(dir, 'director-eth0.pcap'), points.directorOut.bytes());
    writeFileSync(path.join(dir, 'director-eth1.pcap'), points.directorIn.bytes());
  } else {
    writeFileSync(path.join(dir, 'director.pcap'), points.directorOut.bytes());
  }
  writeFileSync(path.join(dir, 'rs1.pcap'), points.rs[0].bytes());
  writeFileSync(path.join(dir, 'rs2.pcap'), points.rs[1].bytes());
  const sw = { nat: '-m', dr: '-g', tun: '-i' }[method];
  const weights = cfg.weights ?? [1, 1];
  const hp = (ip, port) => (ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`);
  let conf = `-A -t ${hp(VIP, VPORT)} -s ${cfg.scheduler ?? 'rr'}${cfg.persistence ? ` -p ${cfg.persistence}` : ''}\n`;
  for (let k = 0; k < 2; k++) conf += `-a -t ${hp(VIP, VPORT)} -r ${hp(RIPS[k], svcPort(k))} ${sw} -w ${weights[k]}\n`;
  writeFileSync(path.join(dir, 'service.conf'), conf);
  const expected = {
    description: cfg.description,
    method,
    profile: cfg.profile ?? 'linux',
    expectedRules: cfg.expect ?? [],
    clockOffsetMs: { director: off.director / 1000, rs1: off.rs[0] / 1000, rs2: off.rs[1] / 1000 },
    addresses: { client: CIP, vip: `${VIP}:${VPORT}`, dip: DIP, rips: RIPS.slice(0, 2), macs: MAC },
  };
  writeFileSync(path.join(dir, 'expected.json'), JSON.stringify(expected, null, 2) + '\n');
}

/** What a capture on the sending host shows with TX checksum offload: a TCP checksum that is
 *  only the pseudo-header sum (here: any wrong value; we flip it deterministically). */
function offloadCorrupt(frame) {
  const f = Buffer.from(frame);
  const ihl = (f[14] & 15) * 4;
  const ck = 14 + ihl + 16;
  f.writeUInt16BE(f.readUInt16BE(ck) ^ 0xffff, ck);
  return f;
}

// ---------------------------------------------------------------- the sets
if (bulk > 0) {
  // Many clients ports over a long time: ports wrap after 20000 connections, ISNs differ.
  const conns = [];
  for (let i = 0; i < bulk; i++) conns.push({ k: i % 2, cport: 20000 + (i % 40000), startMs: i * 2 });
  makeSet('bulk', { method: 'nat', seed: 99, conns, description: `bulk conformant NAT, ${bulk} connections` });
  console.log(`bulk set written to ${outRoot}`);
  process.exit(0);
}
if (rsClientIdx >= 0) {
  makeSet('rs-client', {
    method: 'nat', seed: 41, clientIp: V4.RIPS[1],
    conns: [{ k: 0, cport: 8080, startMs: 0 }, { k: 1, cport: 40000, startMs: 100 }, { k: 0, cport: 40001, startMs: 200 }],
    description: 'the client is real server 10.0.0.12, once from its service port 8080',
  });
  console.log(`rs-client set written to ${outRoot}`);
  process.exit(0);
}
const rr6 = [0, 1, 0, 1, 0, 1].map((k) => ({ k }));

makeSet('nat-ok', {
  method: 'nat', seed: 11, conns: rr6, rsOffload: true, clientOffload: true,
  description: 'conformant IPVS-NAT, rr over two real servers, sender-side checksum offload at client and RS',
});
makeSet('nat-clock-offset', {
  method: 'nat', seed: 12, conns: rr6, offsetUs: { director: 3_700_000, rs: [-1_250_000, 820_000] },
  description: 'conformant NAT; director clock +3.7 s, rs1 -1.25 s, rs2 +0.82 s against the client',
});
makeSet('dr-ok', {
  method: 'dr', seed: 13, scheduler: 'wrr', weights: [2, 1], conns: [0, 0, 1, 0, 0, 1].map((k) => ({ k })), rsOffload: true,
  description: 'conformant IPVS-DR (linux profile: TTL -1), wrr 2:1, one director interface',
});
makeSet('dr-legacy-ok', {
  method: 'dr', seed: 14, profile: 'linux-legacy', conns: rr6,
  description: 'conformant DR before the TTL decrement (profile linux-legacy)',
});
makeSet('tun-ok', {
  method: 'tun', seed: 15, conns: rr6,
  description: 'conformant IPVS-TUN (IPIP), outer TTL = inner TTL after decrement, outer ID 0 with DF',
});

makeSet('nat6-ok', {
  method: 'nat', family: 6, seed: 16, conns: rr6, rsOffload: true,
  description: 'conformant IPVS-NAT over IPv6: hop limit -1, destination rewritten to the RIP',
});
makeSet('fault-nat6-hoplimit', {
  method: 'nat', family: 6, seed: 35, conns: rr6, faults: { noTtlDecrement: true },
  expect: ['rewrite.ttl'],
  description: 'IPv6 NAT director forwards without decrementing the hop limit',
});

makeSet('fault-nat-reply-bypass', {
  method: 'nat', seed: 21, conns: rr6, faults: { natReplyBypass: [0] },
  expect: ['nat.reply-bypass', 'nat.rip-leak'],
  description: 'rs1 default route is not the director: its replies leave via another gateway with src = RIP',
});
makeSet('fault-dr-reply-from-rip', {
  method: 'dr', seed: 22, conns: rr6, faults: { drReplyFromRip: true },
  expect: ['dr.reply-src'],
  description: 'DR real servers reply from their RIP instead of the VIP',
});
makeSet('fault-ttl-not-decremented', {
  method: 'nat', seed: 23, conns: rr6, faults: { noTtlDecrement: true },
  expect: ['rewrite.ttl'],
  description: 'NAT director forwards client packets without TTL -1 (judged under profile linux)',
});
makeSet('fault-ip-id-rewritten', {
  method: 'nat', seed: 24, conns: rr6, faults: { rewriteId: true },
  expect: ['rewrite.ip-fields'],
  description: 'NAT director rewrites the IP ID of forwarded packets',
});
makeSet('fault-bad-checksum', {
  method: 'nat', seed: 25, conns: [{ k: 0 }, { k: 1, faults: { badChecksum: true } }, { k: 0 }, { k: 1 }],
  expect: ['checksum.l4'],
  description: 'NAT director emits one rewritten data segment with a wrong TCP checksum; the client retransmits',
});
makeSet('fault-weight0', {
  method: 'nat', seed: 26, weights: [1, 0], conns: [0, 0, 1, 0].map((k) => ({ k })),
  expect: ['sched.weight0'],
  description: 'rs2 has weight 0 (quiesced) but receives a new connection',
});
makeSet('fault-persistence', {
  method: 'nat', seed: 27, persistence: 300, conns: [0, 0, 1, 0].map((k) => ({ k })),
  expect: ['sched.persistence'],
  description: 'persistent service (-p 300): the same client is sent to two real servers within the timeout',
});
makeSet('fault-dropped-at-director', {
  method: 'nat', seed: 28, conns: [{ k: 0 }, { k: 1 }, { k: 0, faults: { dropData: true } }, { k: 1 }],
  expect: ['flow.not-forwarded'],
  description: 'a client data segment reaches the director and is not forwarded; the retransmission is',
});
makeSet('fault-dr-vip-not-bound', {
  method: 'dr', seed: 29, conns: [{ k: 0 }, { k: 1, faults: { vipNotBound: true } }, { k: 0 }],
  expect: ['dr.vip-not-bound'],
  description: 'rs2 has no VIP on lo: it answers the forwarded SYN with RST',
});
makeSet('fault-dr-rs-silent', {
  method: 'dr', seed: 41, conns: [
    { k: 0, faults: { rsSilent: true } },
    { k: 1 },
    { k: 0 },
    { k: 1 },
  ],
  expect: ['dr.vip-not-bound'],
  description: 'rs1 drops one forwarded SYN silently (the first connection) and answers a later one: the VIP is missing for that connection (judged against every connection of the run, not only the ones judged before it)',
});
makeSet('fault-tun-outer-ttl', {
  method: 'tun', seed: 30, conns: rr6, faults: { tunOuterTtl: true },
  expect: ['tun.outer'],
  description: 'TUN director sets the outer TTL to 64 instead of copying the (decremented) inner TTL',
});
makeSet('fault-nat-wrong-port', {
  method: 'nat', seed: 31, conns: rr6, faults: { natWrongPort: true },
  expect: ['nat.dst'],
  description: 'NAT director rewrites the destination port to 9999 instead of the real-server port',
});
makeSet('fault-bypassed-director', {
  method: 'dr', seed: 32, conns: [{ k: 0 }, { k: 1 }, { k: 0, faults: { bypass: true } }],
  // The poisoned client cache is also what the ARP rules see (H6's analyzer runs inside verify).
  expect: ['arp.client-poisoned', 'flow.bypassed-director'],
  description: 'one SYN for the VIP goes from the client straight to rs1 (client ARP cache points at the RS)',
});
makeSet('fault-rr-order', {
  method: 'nat', seed: 33, conns: [0, 0, 1, 1, 0, 1].map((k) => ({ k })),
  expect: ['sched.distribution'],
  description: 'rr service, but the director sends two new connections in a row to the same server',
});
makeSet('fault-unknown-rs', {
  method: 'nat', seed: 34, conns: [{ k: 0 }, { k: 2 }, { k: 1 }],
  expect: ['sched.unknown-rs'],
  description: 'the director forwards to 10.0.0.99, which is not a configured real server (stale configuration)',
});
makeSet('fault-syn-dropped', {
  method: 'nat', seed: 36, conns: [{ k: 0 }, { k: 1, faults: { dropSyn: true } }, { k: 0 }],
  expect: ['flow.not-forwarded', 'flow.syn-retransmit'],
  description: 'the director drops a client SYN; the client retransmits it and the retransmission is forwarded',
});
makeSet('fault-lost-in-transit', {
  method: 'nat', seed: 37, conns: [{ k: 0 }, { k: 1, faults: { lostData: true } }, { k: 0 }],
  expect: ['flow.lost-in-transit'],
  description: 'a forwarded segment never reaches the real server (lost on the RS LAN); the retransmission does',
});
makeSet('fault-payload-rewritten', {
  method: 'nat', seed: 38, conns: [{ k: 0 }, { k: 1, faults: { manglePayload: true } }],
  expect: ['rewrite.payload'],
  description: 'the first payload byte of a forwarded request is changed on the way through the director',
});
makeSet('fault-tun-mtu', {
  method: 'tun', seed: 39, conns: [{ k: 0 }, { k: 1, faults: { bigRequest: true } }],
  expect: ['tun.mtu'],
  description: 'a 1500-byte DF packet is tunnelled into 1520 bytes instead of answered with ICMP fragmentation-needed',
});
console.log(`fixtures written to ${outRoot}`);
