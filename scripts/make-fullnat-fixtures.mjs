#!/usr/bin/env node
/**
 * Deterministic generator of the FullNAT capture sets under fixtures/fullnat/ — the cases the
 * reference director (fixtures/replay) has no switch for: IPv6, NAT64, a TOA of another
 * connection, a TOA of kind 200 under the alibaba profile, a TOA that pushes a segment over the
 * MTU, a full option space (TOA correctly skipped by alibaba, SACK pruned by dpvs), and a TOA
 * missing on the handshake-completing ACK only, and a dpvs-style director that prunes SACK blocks
 * where TOA fitted beside them.
 *
 * Each set: client.pcap, director.pcap (both legs on one capture), rs1.pcap, service.conf
 * (ipvsadm-save form with -b and -P … -z LIP) and expected.json ({ profile, rules, verdict,
 * description, toa: where the TOA bytes sit, for the tshark check }).
 *
 * The director's behaviour is written here from lvs-behavior.md §2.1–2.4 (alibaba) and §3.1
 * (dpvs), independently of src/replay/director and of the verify rules; packets are built with
 * the project's packet builder (dist/replay/builder, so run `npm run build` first) and written
 * with PcapWriter. No randomness: every ISN, port and IP ID is a constant below, so the output
 * is byte-identical on every run.
 *
 * Usage: node scripts/make-fullnat-fixtures.mjs [outDir]   (default fixtures/fullnat)
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const dist = path.join(here, '..', 'dist');
const { PacketBuilder } = await import(path.join(dist, 'replay', 'builder', 'index.js'));
const { PcapWriter } = await import(path.join(dist, 'decode', 'capture', 'writer.js'));

// `--bulk N DIR`: one conformant alibaba set of N sequential connections (throughput and memory
// runs; not committed).
const bulkIdx = process.argv.indexOf('--bulk');
const bulk = bulkIdx >= 0 ? Number(process.argv[bulkIdx + 1]) : 0;
const outRoot = path.resolve(bulk > 0 ? process.argv[bulkIdx + 2] ?? '/tmp/fullnat-bulk' : process.argv[2] ?? path.join(here, '..', 'fixtures', 'fullnat'));

const MAC = { client: '02:00:00:00:00:07', dirC: '02:00:00:00:0d:01', dirR: '02:00:00:00:0d:02', rs1: '02:00:00:00:00:11' };
const T0 = 1767225600; // 2026-01-01T00:00:00Z, the replay fixtures' epoch

const V4 = { cip: '198.51.100.7', vip: '192.0.2.10', lip: '10.0.0.100', rip: '10.0.0.11' };
const V6 = { cip: '2001:db8:1::7', vip: '2001:db8:2::10', lip: 'fd00::100', rip: 'fd00::11' };
const NAT64 = { cip: '2001:db8:1::7', vip: '2001:db8:2::10', lip: '10.0.0.100', rip: '10.0.0.11' };

const is6 = (a) => a.includes(':');
const optLen = (o) =>
  o.kind === 'nop' || o.kind === 'eol' ? 1 : o.kind === 'mss' ? 4 : o.kind === 'ws' ? 3 : o.kind === 'sackPermitted' ? 2 : o.kind === 'ts' ? 10 : o.kind === 'sack' ? 2 + 8 * o.blocks.length : o.kind === 'toa' ? (o.len ?? (is6(o.addr) ? 20 : 8)) : 2 + (o.data?.length ?? 0);
const space = (opts) => (opts.reduce((n, o) => n + optLen(o), 0) + 3) & ~3;

/** One pcap per capture point, frames appended in time order. */
class Capture {
  constructor() {
    this.w = new PcapWriter({ linkType: 1 });
  }
  add(tUs, bytes) {
    this.w.write(bytes, T0 + Math.floor(tUs / 1e6), (tUs % 1e6) * 1000);
  }
}

function frame(srcMac, dstMac, src, dst, ipId, tcp, payload) {
  let b = PacketBuilder.eth({ src: srcMac, dst: dstMac });
  b = is6(src) ? b.ipv6({ src, dst, hlim: 64 }) : b.ipv4({ src, dst, ttl: 64, id: ipId & 0xffff, df: true });
  b = b.tcp(tcp);
  if (payload.length > 0) b = b.payload(payload);
  return b.build();
}

/**
 * One FullNAT connection through a director that follows `profile`, with `fault` hooks.
 * Returns nothing; writes into the three captures.
 */
function connection(caps, clock, o) {
  const { a, profile, cport, lport, isn, rsIsn, delta, ipId0, rsIpId0 } = o;
  const fault = o.fault ?? {};
  const fam = is6(a.cip) ? 6 : 4;
  const toaLen = fam === 4 ? 8 : 20;
  const toaKind = fault.toaKind ?? (profile === 'alibaba' && fam === 6 ? 253 : 254);
  const mtu = 1500;
  let cid = ipId0;
  let rid = rsIpId0;
  const rsMss = 1460;
  const toaFor = (p) => fault.toaOf?.(p) ?? { kind: 'toa', addr: a.cip, port: cport, optKind: toaKind };

  /** Client → RS: client copy, director in/out, RS copy. */
  const c2s = (flags, seq, ack, opts, payload = Buffer.alloc(0), tag = '') => {
    const t = clock.t;
    clock.t += 200;
    const id = cid++;
    const cli = frame(MAC.client, MAC.dirC, a.cip, a.vip, id, { sport: cport, dport: 80, seq, ack, flags, options: opts }, payload);
    caps.client.add(t, cli);
    caps.director.add(t + 20, cli);
    const syn = flags === 'S';
    const fin = flags.includes('F');
    const rst = flags.includes('R');
    let out = opts.map((x) => x);
    if (syn && !fault.keepTs) out = out.flatMap((x) => (x.kind === 'ts' ? Array.from({ length: 10 }, () => ({ kind: 'nop' })) : [x]));
    const ackMatch = !syn && ack === ((rsIsn + 1) >>> 0);
    const ipLen = (fam === 4 ? 20 : 40) + 20 + space(opts) + payload.length;
    let want = false;
    if (syn) want = profile === 'alibaba';
    else if (!rst && ackMatch) want = profile === 'dpvs' || !fin;
    if (fam !== (is6(a.rip) ? 6 : 4) && profile === 'alibaba') want = false; // ALI: af mismatch, no TOA
    if (want) {
      if (profile === 'alibaba') {
        // §2.3: no compaction; skipped when options > 40 - len or the segment > MTU - len.
        if (space(out) + toaLen > 40 || ipLen + toaLen > mtu) want = fault.forceToa === true;
      } else {
        // §3.1: prune NOPs, then (outside the SYN) SACK, then insert.
        if (space(out) + toaLen > 40 || fault.pruneAlways) out = out.filter((x) => x.kind !== 'nop');
        if ((space(out) + toaLen > 40 || fault.pruneAlways) && !syn) out = out.filter((x) => x.kind !== 'sack');
        if (space(out) + toaLen > 40) want = false;
      }
    }
    const p = { tag, flags, syn, ackMatch };
    if (want && !(fault.dropToa?.(p) ?? false)) {
      const toa = toaFor(p);
      out = fault.toaNotFirst?.(p) ? [...out, toa] : [toa, ...out];
    }
    const fwd = frame(MAC.dirR, MAC.rs1, a.lip, a.rip, id, { sport: lport, dport: 8080, seq: (seq + delta) >>> 0, ack, flags, options: out, pad: 'nop' }, payload);
    caps.director.add(t + 40, fwd);
    caps.rs.add(t + 60, fwd);
  };

  /** RS → client: RS copy, director in/out, client copy. */
  const s2c = (flags, seq, ack, opts, payload = Buffer.alloc(0)) => {
    const t = clock.t;
    clock.t += 200;
    const id = rid++;
    const fromRs = frame(MAC.rs1, MAC.dirR, a.rip, a.lip, id, { sport: 8080, dport: lport, seq, ack: (ack + delta) >>> 0, flags, options: opts.map((x) => (x.kind === 'sack' ? { kind: 'sack', blocks: x.blocks.map(([l, r]) => [(l + delta) >>> 0, (r + delta) >>> 0]) } : x)), pad: 'nop' }, payload);
    caps.rs.add(t, fromRs);
    caps.director.add(t + 20, fromRs);
    const back = opts.map((x) => (x.kind === 'mss' && flags === 'SA' ? { kind: 'mss', value: x.value - toaLen } : x));
    const cli = frame(MAC.dirC, MAC.client, a.vip, a.cip, id, { sport: 80, dport: cport, seq, ack, flags, options: back, pad: 'nop' }, payload);
    caps.director.add(t + 40, cli);
    caps.client.add(t + 60, cli);
  };

  const synOpts = [{ kind: 'mss', value: fam === 4 ? 1460 : 1440 }, { kind: 'sackPermitted' }, { kind: 'ts', val: 1000 + cport, ecr: 0 }, { kind: 'nop' }, { kind: 'ws', shift: 7 }];
  c2s('S', isn, 0, synOpts, undefined, 'syn');
  s2c('SA', rsIsn, (isn + 1) >>> 0, [{ kind: 'mss', value: fam === 4 ? rsMss : rsMss - 20 }, { kind: 'nop' }, { kind: 'nop' }, { kind: 'sackPermitted' }, { kind: 'nop' }, { kind: 'ws', shift: 7 }]);
  let cseq = (isn + 1) >>> 0;
  const rack = (rsIsn + 1) >>> 0;
  c2s('A', cseq, rack, [], undefined, 'ack3');
  const req = Buffer.from(o.request ?? 'GET / HTTP/1.1\r\nHost: fnat.example\r\nUser-Agent: lvsaudit-fixture\r\n\r\n');
  c2s('PA', cseq, rack, [], req, 'request');
  cseq = (cseq + req.length) >>> 0;
  o.middle?.({ c2s, s2c, cseq, rack, isn, rsIsn });
  const resp = Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
  if (o.openEnd) return;
  s2c('PA', rack, cseq, [], resp);
  const rsEnd = (rack + resp.length) >>> 0;
  c2s('FA', cseq, rsEnd, [], undefined, 'fin');
  s2c('FA', rsEnd, (cseq + 1) >>> 0, []);
  c2s('A', (cseq + 1) >>> 0, (rsEnd + 1) >>> 0, [], undefined, 'last');
}

function serviceConf(a) {
  const h = (ip, port) => (is6(ip) ? `[${ip}]:${port}` : `${ip}:${port}`);
  return `-A -t ${h(a.vip, 80)} -s rr\n-a -t ${h(a.vip, 80)} -r ${h(a.rip, 8080)} -b -w 1\n-P -t ${h(a.vip, 80)} -z ${a.lip}\n`;
}

function writeSet(name, meta, build) {
  const dir = path.join(outRoot, name);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const caps = { client: new Capture(), director: new Capture(), rs: new Capture() };
  const clock = { t: 100 };
  build(caps, clock);
  writeFileSync(path.join(dir, 'client.pcap'), caps.client.w.toBuffer());
  writeFileSync(path.join(dir, 'director.pcap'), caps.director.w.toBuffer());
  writeFileSync(path.join(dir, 'rs1.pcap'), caps.rs.w.toBuffer());
  writeFileSync(path.join(dir, 'service.conf'), serviceConf(meta.addresses));
  const { addresses, ...rest } = meta;
  writeFileSync(path.join(dir, 'expected.json'), JSON.stringify({ ...rest, addresses }, null, 2) + '\n');
}

const base = (a, profile, extra = {}) => ({ a, profile, cport: 40001, lport: 5000, isn: 1000000, rsIsn: 3000000000, delta: 123456789, ipId0: 0x1000, rsIpId0: 0x2000, ...extra });

/** Four SACK blocks (34 bytes + 2 NOPs = 36 of 40): RS segments 1, 3, 5, 7 lost, so the client's dup ACKs keep ack = RS ISN+1. */
function sackStorm({ c2s, s2c, cseq, rack }) {
  const seg = 100;
  const blocks = [];
  for (let i = 1; i <= 7; i += 2) {
    const l = (rack + i * seg) >>> 0;
    s2c('A', l, cseq, [], Buffer.alloc(seg, 0x61 + i));
    blocks.push([l, (l + seg) >>> 0]);
    c2s('A', cseq, rack, [{ kind: 'nop' }, { kind: 'nop' }, { kind: 'sack', blocks: blocks.slice() }], undefined, 'dupack');
  }
}

const sets = [
  {
    name: 'alibaba-ipv6',
    meta: { profile: 'alibaba', verdict: 'pass', rules: [], description: 'IPv6 FullNAT, alibaba: TOA kind 253 len 20 in the SYN and the 3rd ACK, SYN-ACK MSS -20' },
    a: V6,
    conn: base(V6, 'alibaba'),
  },
  {
    name: 'dpvs-ipv6',
    meta: { profile: 'dpvs', verdict: 'pass', rules: [], description: 'IPv6 FullNAT, dpvs: TOA kind 254 len 20 from the 3rd ACK on, none in the SYN, MSS -20' },
    a: V6,
    conn: base(V6, 'dpvs'),
  },
  {
    name: 'dpvs-nat64',
    meta: { profile: 'dpvs', verdict: 'pass', rules: [], description: 'NAT64 FullNAT, dpvs: IPv6 client, IPv4 RS, 20-byte TOA (kind 254) inside IPv4 TCP, MSS -20 (client family)' },
    a: NAT64,
    conn: base(NAT64, 'dpvs'),
  },
  {
    name: 'alibaba-toa-missing-3rd-ack',
    meta: { profile: 'alibaba', verdict: 'fail', rules: ['fnat.toa-missing'], description: 'TOA present in the SYN and the request, missing only on the handshake-completing ACK (the one the RS module reads)' },
    a: V4,
    conn: base(V4, 'alibaba', { fault: { dropToa: (p) => p.tag === 'ack3' } }),
  },
  {
    name: 'alibaba-toa-other-conn',
    meta: { profile: 'alibaba', verdict: 'fail', rules: ['fnat.toa-mismatch'], description: 'two connections of two clients; the second carries the first client address:port in its TOA' },
    a: V4,
    two: true,
  },
  {
    name: 'alibaba-toa-kind-200',
    meta: { profile: 'alibaba', verdict: 'fail', rules: ['fnat.toa-format'], description: 'TOA of kind 200 (JD Jupiter) under the alibaba profile: the ALI RS module reads only kind 254' },
    a: V4,
    conn: base(V4, 'alibaba', { fault: { toaKind: 200 } }),
  },
  {
    name: 'alibaba-toa-over-mtu',
    meta: { profile: 'alibaba', verdict: 'fail', rules: ['fnat.mtu'], description: 'the client sends a full 1460-byte segment (1500 bytes) with ack RS ISN+1; the director inserts TOA anyway: 1508 bytes on a 1500 MTU path' },
    a: V4,
    conn: base(V4, 'alibaba', { request: 'P'.repeat(1460), fault: { forceToa: true } }),
  },
  {
    name: 'alibaba-options-full',
    meta: { profile: 'alibaba', verdict: 'pass', rules: ['fnat.toa-no-room'], description: 'dup ACKs with 4 SACK blocks (36 option bytes) and ack RS ISN+1: alibaba correctly forwards them without TOA' },
    a: V4,
    conn: base(V4, 'alibaba', { middle: sackStorm }),
  },
  {
    name: 'dpvs-options-pruned',
    meta: { profile: 'dpvs', verdict: 'pass', rules: [], description: 'same dup ACKs under dpvs: NOPs then SACK pruned to make room, TOA inserted (lvs-behavior.md §3.1)' },
    a: V4,
    conn: base(V4, 'dpvs', { middle: sackStorm }),
  },
  {
    name: 'dpvs-sack-pruned-needlessly',
    meta: { profile: 'dpvs', verdict: 'fail', rules: ['rewrite.tcp-fields'], description: 'dpvs-style director that strips SACK blocks from every dup ACK it adds TOA to, also where TOA fitted beside them' },
    a: V4,
    conn: base(V4, 'dpvs', { middle: sackStorm, fault: { pruneAlways: true } }),
  },
];

/** Deterministic 32-bit hash of (i, salt): ISNs and IP IDs that look like a real stack's. */
function mix(i, salt) {
  let h = Math.imul(i ^ Math.imul(salt, 0x9e3779b9), 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

if (bulk > 0) {
  const a = V4;
  writeSet('bulk', { profile: 'alibaba', verdict: 'pass', rules: [], description: `${bulk} conformant alibaba connections`, addresses: a }, (caps, clock) => {
    for (let i = 0; i < bulk; i++) {
      connection(caps, clock, base(a, 'alibaba', { cport: 10000 + (i % 50000), lport: 5000 + (i % 60000), isn: mix(i, 1), rsIsn: mix(i, 2), delta: mix(i, 3), ipId0: mix(i, 4) & 0xffff, rsIpId0: mix(i, 5) & 0xffff }));
      clock.t += 50;
    }
  });
  console.log(`wrote ${bulk} connections to ${path.join(outRoot, 'bulk')}`);
  process.exit(0);
}

for (const s of sets) {
  writeSet(s.name, { ...s.meta, addresses: s.a }, (caps, clock) => {
    if (!s.two) {
      connection(caps, clock, s.conn);
      return;
    }
    // Second client 198.51.100.8 (its own lport): its TOA carries the first client's address and port.
    const first = base(V4, 'alibaba');
    const second = base({ ...V4, cip: '198.51.100.8' }, 'alibaba', {
      cport: 40002,
      lport: 5001,
      isn: 2000000,
      rsIsn: 3100000000,
      delta: 987654321,
      ipId0: 0x3000,
      rsIpId0: 0x4000,
      fault: { toaOf: () => ({ kind: 'toa', addr: V4.cip, port: 40001, optKind: 254 }) },
    });
    connection(caps, clock, first);
    clock.t += 1000;
    connection(caps, clock, second);
  });
}
console.log(`wrote ${sets.length} sets to ${outRoot}`);
