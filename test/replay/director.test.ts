/**
 * Reference director, mainline methods: expectations written from lvs-behavior.md (§1.2–1.5,
 * §1.7, §1.8, §1.10, §1.11) by hand — addresses, TTLs, MACs, timeouts and scheduler orders — and
 * checksums checked by the harness's own oracle.
 */
import { describe, expect, it } from 'vitest';
import { PacketBuilder } from '../../src/replay/builder/index.js';
import { hash32, makeScheduler, TCP_TIMEOUTS, type SchedDest } from '../../src/replay/director/index.js';
import { CIP, DIP, MAC, RIP1, RIP2, VIP, dec, director, drConf, fromClient, fromRs, ipv4Valid, l4Expected, l4Valid, mac, natConf } from './director-harness.js';

const dests = (...weights: number[]): SchedDest[] => weights.map((weight, index) => ({ index, ip: `10.0.0.${index + 1}`, port: 80, weight, active: 0, inactive: 0 }));
const key = (ip: string) => ({ srcIp: ipNum(ip), dstIp: ipNum(VIP), srcPort: 1234 });
function ipNum(t: string): number {
  return t.split('.').reduce((a, x) => a * 256 + Number(x), 0);
}
const letters = (picks: (SchedDest | null)[]): string => picks.map((d) => (d ? 'ABCD'[d.index] : '-')).join('');

describe('schedulers (§1.10)', () => {
  it('rr rotates in list order and skips weight 0', () => {
    const s = makeScheduler('rr', dests(1, 1, 1));
    expect(letters(Array.from({ length: 6 }, () => s.pick(key(CIP))))).toBe('ABCABC');
    const q = makeScheduler('rr', dests(1, 0, 1));
    expect(letters(Array.from({ length: 4 }, () => q.pick(key(CIP))))).toBe('ACAC');
    expect(makeScheduler('rr', dests(0, 0)).pick(key(CIP))).toBeNull();
  });

  it('wrr interleaves: weights 4,3,2 → AABABCABC; 4,2 (gcd 2) → AAB repeated; weight 0 never', () => {
    const s = makeScheduler('wrr', dests(4, 3, 2));
    expect(letters(Array.from({ length: 18 }, () => s.pick(key(CIP))))).toBe('AABABCABC'.repeat(2));
    const g = makeScheduler('wrr', dests(4, 2));
    expect(letters(Array.from({ length: 6 }, () => g.pick(key(CIP))))).toBe('AABAAB');
    const z = makeScheduler('wrr', dests(0, 3));
    expect(letters(Array.from({ length: 3 }, () => z.pick(key(CIP))))).toBe('BBB');
  });

  it('lc: least active*256+inactive, first in list wins ties, weight ignored except 0', () => {
    const d = dests(1, 5, 1);
    d[0]!.active = 1; // 256
    d[1]!.inactive = 10; // 10
    d[2]!.inactive = 10; // 10
    expect(makeScheduler('lc', d).pick(key(CIP))!.index).toBe(1);
    d[1]!.weight = 0;
    expect(makeScheduler('lc', d).pick(key(CIP))!.index).toBe(2);
  });

  it('wlc: least overhead/weight by cross-multiplication, strict so the first keeps a tie', () => {
    const d = dests(1, 3);
    d[0]!.active = 1; // 256 / 1
    d[1]!.active = 2; // 512 / 3 → smaller
    expect(makeScheduler('wlc', d).pick(key(CIP))!.index).toBe(1);
    const t = dests(1, 2);
    t[0]!.active = 1; // 256/1
    t[1]!.active = 2; // 512/2 = tie
    expect(makeScheduler('wlc', t).pick(key(CIP))!.index).toBe(0);
  });

  it('sh: hash_32(src, 8) indexes a 256-bucket table filled by weight; weight-0 buckets give no destination', () => {
    // hash_32 values computed with Python: ((ip * 0x61C88647) mod 2^32) >> 24.
    expect(hash32(1, 8)).toBe(0x61);
    const expected: [string, number][] = [
      ['198.51.100.7', 171],
      ['198.51.100.8', 12],
      ['198.51.100.20', 162],
      ['10.1.2.3', 2],
    ];
    for (const [ip, b] of expected) expect(hash32(ipNum(ip), 8)).toBe(b);
    const eq = makeScheduler('sh', dests(1, 1)); // buckets A B A B …: even → A
    expect(letters(expected.map(([ip]) => eq.pick(key(ip))))).toBe('BAAA');
    const w21 = makeScheduler('sh', dests(2, 1)); // A A B A A B …: bucket % 3 < 2 → A
    expect(letters(expected.map(([ip]) => w21.pick(key(ip))))).toBe('AAAB');
    const w01 = makeScheduler('sh', dests(0, 1)); // weight 0 still takes one bucket: A B A B, A unavailable
    expect(letters(expected.map(([ip]) => w01.pick(key(ip))))).toBe('B---');
  });

  it('dh: keyed on the destination address, one bucket per destination per round', () => {
    const s = makeScheduler('dh', dests(1, 1));
    // hash_32(192.0.2.10) = 162 → even → A, whatever the source.
    expect(letters([s.pick(key('198.51.100.7')), s.pick(key('10.1.2.3'))])).toBe('AA');
  });
});

describe('NAT (§1.3)', () => {
  it('client→RS: dst VIP→RIP, dport→8080, TTL −1, ID/DF/TOS/src/seq kept, checksums valid; L2 to the RS MAC', () => {
    const d = director(natConf());
    const inF = fromClient({ flags: 'S', ttl: 64, id: 0x1234, tos: 0x28, seq: 777 });
    const out = d.handle(inF, 0, 'client');
    expect(out).toHaveLength(1);
    expect(out[0]!.side).toBe('rs');
    const f = out[0]!.frame;
    expect(mac(f, 0)).toBe(MAC.rs1);
    expect(mac(f, 6)).toBe(MAC.dirRs);
    const p = dec(out[0]!);
    expect([p.net.ip.src4, p.net.ip.dst4].map((n) => n >>> 0)).toEqual([ipNum(CIP), ipNum(RIP1)]);
    expect(p.net.ip.ttl).toBe(63);
    expect(p.net.ip.id).toBe(0x1234);
    expect(p.net.ip.df).toBe(true);
    expect(p.net.ip.tos).toBe(0x28);
    expect([p.net.tcp.sport, p.net.tcp.dport, p.net.tcp.seq]).toEqual([40000, 8080, 777]);
    expect(ipv4Valid(f)).toBe(true);
    expect(l4Valid(f)).toBe(true);
  });

  it('RS→client: src RIP→VIP, sport 8080→80, TTL −1 (forwarding), to the client MAC', () => {
    const d = director(natConf());
    d.handle(fromClient({ flags: 'S' }), 0, 'client');
    const out = d.handle(fromRs({ src: RIP1, dst: CIP, flags: 'SA', ack: 1001, ttl: 64 }), 1, 'rs');
    expect(out).toHaveLength(1);
    expect(out[0]!.side).toBe('client');
    const p = dec(out[0]!);
    expect(p.net.ip.src4 >>> 0).toBe(ipNum(VIP));
    expect(p.net.ip.dst4 >>> 0).toBe(ipNum(CIP));
    expect([p.net.tcp.sport, p.net.tcp.dport]).toEqual([80, 40000]);
    expect(p.net.ip.ttl).toBe(63);
    expect(mac(out[0]!.frame, 0)).toBe(MAC.client);
    expect(l4Valid(out[0]!.frame)).toBe(true);
  });

  it('a bad TCP checksum stays bad by the same amount (incremental update, RFC 1624)', () => {
    const d = director(natConf());
    const good = fromClient({ flags: 'S' });
    const correct = good.readUInt16BE(14 + 20 + 16);
    const bad = fromClient({ flags: 'S', checksum: (correct + 0x0100) & 0xffff });
    const f = d.handle(bad, 0, 'client')[0]!.frame;
    const shouldBe = l4Expected(f);
    expect(f.readUInt16BE(14 + 20 + 16)).not.toBe(shouldBe);
    // One's complement: a checksum 0x0100 too big stays 0x0100 too big after the rewrite.
    expect((f.readUInt16BE(14 + 20 + 16) - shouldBe + 0xffff) % 0xffff).toBe(0x0100);
  });

  it('UDP with checksum 0 gets a real checksum after DNAT (§1.3)', () => {
    const conf = `-A -u ${VIP}:53 -s rr\n-a -u ${VIP}:53 -r ${RIP1}:5353 -m -w 1\n`;
    const d = director(conf);
    const inF = PacketBuilder.eth({ src: MAC.client, dst: MAC.dir }).ipv4({ src: CIP, dst: VIP, id: 5 }).udp({ sport: 3333, dport: 53, checksum: 'zero' }).payload('q').build();
    const f = d.handle(inF, 0, 'client')[0]!.frame;
    const csum = f.readUInt16BE(14 + 20 + 6);
    expect(csum).not.toBe(0);
    expect(csum).toBe(l4Expected(f));
    expect(f.readUInt16BE(14 + 20 + 2)).toBe(5353);
  });

  it('TTL 1 → ICMP 11/0 from the VIP quoting the packet, nothing forwarded (§1.2 step 3); linux-legacy forwards with TTL 1', () => {
    const d = director(natConf());
    const out = d.handle(fromClient({ flags: 'S', ttl: 1 }), 0, 'client');
    expect(out).toHaveLength(1);
    expect(out[0]!.side).toBe('client');
    const p = dec(out[0]!);
    expect([p.net.icmp.type, p.net.icmp.code]).toEqual([11, 0]);
    expect(p.net.ip.src4 >>> 0).toBe(ipNum(VIP));
    expect(p.net.ip.dst4 >>> 0).toBe(ipNum(CIP));
    expect(p.quoted.tcp.sport).toBe(40000);
    const legacy = director(natConf(), 'linux-legacy').handle(fromClient({ flags: 'S', ttl: 1 }), 0, 'client');
    expect(legacy[0]!.side).toBe('rs');
    expect(dec(legacy[0]!).net.ip.ttl).toBe(1);
  });

  it('a non-SYN without connection: the director stack answers RST (seq = the ACK’s ack); no RS traffic', () => {
    const d = director(natConf());
    const out = d.handle(fromClient({ flags: 'A', seq: 5, ack: 0xdeadbeef }), 0, 'client');
    expect(out).toHaveLength(1);
    const p = dec(out[0]!);
    expect(p.net.tcp.flags & 0x04).toBe(0x04);
    expect(p.net.tcp.seq).toBe(0xdeadbeef);
    expect(p.net.ip.src4 >>> 0).toBe(ipNum(VIP));
  });

  it('no destination available (all weight 0) → ICMP 3/3 port unreachable (§1.7)', () => {
    const d = director(natConf('rr', '', 0, 0));
    const p = dec(d.handle(fromClient({ flags: 'S' }), 0, 'client')[0]!);
    expect([p.net.icmp.type, p.net.icmp.code]).toEqual([3, 3]);
  });

  it('ARP who-has VIP on the client side is answered with the director MAC; who-has DIP on the RS side with the RS-side MAC', () => {
    const d = director(natConf());
    const req = PacketBuilder.eth({ src: MAC.client, dst: 'ff:ff:ff:ff:ff:ff' }).arp({ op: 1, sha: MAC.client, spa: CIP, tha: '00:00:00:00:00:00', tpa: VIP }).build();
    const out = d.handle(req, 0, 'client');
    expect(out).toHaveLength(1);
    const p = dec(out[0]!);
    expect(p.arp.op).toBe(2);
    expect(mac(out[0]!.frame, p.arp.shaOff)).toBe(MAC.dir);
    const rsReq = PacketBuilder.eth({ src: MAC.rs1, dst: 'ff:ff:ff:ff:ff:ff' }).arp({ op: 1, sha: MAC.rs1, spa: RIP1, tha: '00:00:00:00:00:00', tpa: DIP }).build();
    const o2 = d.handle(rsReq, 0, 'rs');
    expect(mac(o2[0]!.frame, dec(o2[0]!).arp.shaOff)).toBe(MAC.dirRs);
    expect(d.handle(PacketBuilder.eth({ src: MAC.client, dst: 'ff:ff:ff:ff:ff:ff' }).arp({ op: 1, sha: MAC.client, spa: CIP, tha: '00:00:00:00:00:00', tpa: '192.0.2.99' }).build(), 0, 'client')).toEqual([]);
  });
});

describe('ICMP from the client (§1.6)', () => {
  const icmpAbout = (type: number, code: number) =>
    PacketBuilder.eth({ src: MAC.client, dst: MAC.dir })
      .ipv4({ src: CIP, dst: VIP, ttl: 64 })
      .icmp({ type, code, mtu: 1400 })
      .ipv4({ src: VIP, dst: CIP, ttl: 63, id: 9 })
      .tcp({ sport: 80, dport: 40000, seq: 5001, ack: 1001, flags: 'A' })
      .build();

  it('NAT: an error about a connection goes to its RS with outer dst, quoted src and quoted sport rewritten, checksums valid', () => {
    const d = director(natConf());
    d.handle(fromClient({ flags: 'S' }), 0, 'client');
    const out = d.handle(icmpAbout(3, 4), 1, 'client');
    expect(out).toHaveLength(1);
    const f = out[0]!.frame;
    expect(out[0]!.side).toBe('rs');
    expect(f.readUInt32BE(14 + 16)).toBe(ipNum(RIP1));
    expect(f[14 + 8]).toBe(63);
    const q = 14 + 20 + 8;
    expect(f.readUInt32BE(q + 12)).toBe(ipNum(RIP1));
    expect(f.readUInt16BE(q + 20)).toBe(8080);
    expect(f.readUInt16BE(q + 22)).toBe(40000);
    expect(ipv4Valid(f, 14)).toBe(true);
    expect(ipv4Valid(f, q)).toBe(true);
    // ICMP checksum over the whole message (own sum).
    let sum = 0;
    for (let i = 34; i < f.length; i += 2) sum += (f[i]! << 8) | (f[i + 1] ?? 0);
    while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
    expect(sum).toBe(0xffff);
  });

  it('DR: forwarded with only MAC/TTL/IP checksum changed; unknown connection: not forwarded; echo to the VIP answered', () => {
    const d = director(drConf('-g'));
    d.handle(fromClient({ flags: 'S' }), 0, 'client');
    const inF = icmpAbout(11, 0);
    const f = d.handle(inF, 1, 'client')[0]!.frame;
    expect(mac(f, 0)).toBe(MAC.rs1);
    const a = Buffer.from(inF.subarray(14));
    const b = Buffer.from(f.subarray(14));
    for (const x of [a, b]) {
      x[8] = 0;
      x.writeUInt16BE(0, 10);
    }
    expect(b.equals(a)).toBe(true);
    expect(director(drConf('-g')).handle(icmpAbout(3, 4), 0, 'client')).toEqual([]);
    const ping = PacketBuilder.eth({ src: MAC.client, dst: MAC.dir }).ipv4({ src: CIP, dst: VIP }).icmp({ type: 8, code: 0, id: 7, seq: 1 }).payload('abc').build();
    const pong = dec(d.handle(ping, 2, 'client')[0]!);
    expect([pong.net.icmp.type, pong.net.icmp.echoId, pong.net.ip.src4 >>> 0]).toEqual([0, 7, ipNum(VIP)]);
  });
});

describe('DR (§1.4) and TUN (§1.5)', () => {
  it('DR: only dst/src MAC, TTL and IP checksum change', () => {
    const d = director(drConf('-g'));
    const inF = fromClient({ flags: 'S', ttl: 50, id: 77, options: [{ kind: 'mss', value: 1460 }] });
    const out = d.handle(inF, 0, 'client');
    const f = out[0]!.frame;
    expect(mac(f, 0)).toBe(MAC.rs1);
    const a = Buffer.from(inF.subarray(14));
    const b = Buffer.from(f.subarray(14));
    expect(b[8]).toBe(49);
    // Blank TTL and header checksum: the rest must be byte-identical.
    for (const x of [a, b]) {
      x[8] = 0;
      x.writeUInt16BE(0, 10);
    }
    expect(b.equals(a)).toBe(true);
    expect(ipv4Valid(f)).toBe(true);
  });

  it('TUN: IPIP outer DIP→RIP, TTL = inner TTL after −1, DF copied with ID 0, inner only TTL/checksum changed', () => {
    const d = director(drConf('-i'));
    const inF = fromClient({ flags: 'S', ttl: 64, id: 99, df: true, tos: 0x03 });
    const f = d.handle(inF, 0, 'client')[0]!.frame;
    const outer = f.subarray(14, 34);
    expect(outer[9]).toBe(4);
    expect(outer.readUInt32BE(12)).toBe(ipNum(DIP));
    expect(outer.readUInt32BE(16)).toBe(ipNum(RIP1));
    expect(outer[8]).toBe(63);
    expect(outer.readUInt16BE(6)).toBe(0x4000);
    expect(outer.readUInt16BE(4)).toBe(0);
    // Inner ECN CE (3) → outer ECT(0) (2), DSCP copied.
    expect(outer[1]).toBe(0x02);
    expect(ipv4Valid(f, 14)).toBe(true);
    const inner = Buffer.from(f.subarray(34));
    expect(inner[8]).toBe(63);
    expect(ipv4Valid(f, 34)).toBe(true);
    const orig = Buffer.from(inF.subarray(14));
    for (const x of [inner, orig]) {
      x[8] = 0;
      x.writeUInt16BE(0, 10);
    }
    expect(inner.equals(orig)).toBe(true);
  });

  it('TUN: a 1500-byte DF packet → ICMP 3/4 with MTU 1480 (1500 − 20); without DF it is forwarded in fragments', () => {
    const d = director(drConf('-i'));
    const big = { flags: 'PA', payload: Buffer.alloc(1460, 1) };
    d.handle(fromClient({ flags: 'S' }), 0, 'client');
    const out = d.handle(fromClient({ ...big, seq: 1001, ack: 1, df: true }), 1, 'client');
    expect(out).toHaveLength(1);
    const p = dec(out[0]!);
    expect([p.net.icmp.type, p.net.icmp.code, p.net.icmp.mtu]).toEqual([3, 4, 1480]);
    const frag = d.handle(fromClient({ ...big, seq: 1001, ack: 1, df: false }), 2, 'client');
    expect(frag.length).toBe(2);
    expect(frag.every((o) => o.side === 'rs' && o.frame.length - 14 <= 1500)).toBe(true);
    expect(dec(frag[0]!).net.ip.mf).toBe(true);
  });

  it('NAT/DR keep a 1500-byte DF packet when the route MTU is 1500, and answer 3/4 when it is smaller', () => {
    const big = { flags: 'PA', payload: Buffer.alloc(1460, 1), seq: 1001, ack: 1 };
    const d = director(natConf());
    d.handle(fromClient({ flags: 'S' }), 0, 'client');
    expect(d.handle(fromClient(big), 1, 'client')[0]!.side).toBe('rs');
    const small = director(natConf(), 'linux', [], 1400);
    small.handle(fromClient({ flags: 'S' }), 0, 'client');
    expect(dec(small.handle(fromClient(big), 1, 'client')[0]!).net.icmp.mtu).toBe(1400);
  });

  it('IP fragments of a request are reassembled and forwarded as one packet', () => {
    const d = director(natConf());
    d.handle(fromClient({ flags: 'S' }), 0, 'client');
    const whole = fromClient({ flags: 'PA', seq: 1001, ack: 1, df: false, payload: Buffer.alloc(1000, 7) });
    const ip = whole.subarray(14);
    // Hand-made fragments: 8-byte aligned split at 512 data bytes.
    const data = ip.subarray(20);
    const mk = (off: number, chunk: Buffer, mf: boolean): Buffer => {
      const h = Buffer.from(ip.subarray(0, 20));
      h.writeUInt16BE(20 + chunk.length, 2);
      h.writeUInt16BE((mf ? 0x2000 : 0) | (off / 8), 6);
      h.writeUInt16BE(0, 10);
      let s = 0;
      for (let i = 0; i < 20; i += 2) s += h.readUInt16BE(i);
      while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
      h.writeUInt16BE(~s & 0xffff, 10);
      return Buffer.concat([whole.subarray(0, 14), h, chunk]);
    };
    expect(d.handle(mk(512, data.subarray(512), false), 1, 'client')).toEqual([]);
    const out = d.handle(mk(0, data.subarray(0, 512), true), 2, 'client');
    expect(out).toHaveLength(1);
    const p = dec(out[0]!);
    expect(p.net.ip.isFragment).toBe(false);
    expect(p.net.tcp.payloadLen).toBe(1000);
    expect(l4Valid(out[0]!.frame)).toBe(true);
  });
});

describe('connection table (§1.8) and persistence (§1.11)', () => {
  it('NAT states and timeouts: SYN → SYN_RECV 60 s, ACK → ESTABLISHED 900 s, client FIN → CLOSE_WAIT 60 s', () => {
    const d = director(natConf());
    d.handle(fromClient({ flags: 'S' }), 1000, 'client');
    const c = d.conns.entries()[0]!;
    expect([c.state, c.expiresMs]).toEqual(['SYN_RECV', 1000 + 60_000]);
    d.handle(fromClient({ flags: 'A', seq: 1001, ack: 1 }), 2000, 'client');
    expect([c.state, c.expiresMs]).toEqual(['ESTABLISHED', 2000 + 900_000]);
    d.handle(fromClient({ flags: 'FA', seq: 1001, ack: 1 }), 3000, 'client');
    expect([c.state, c.expiresMs]).toEqual(['CLOSE_WAIT', 3000 + 60_000]);
    expect(TCP_TIMEOUTS.TIME_WAIT).toBe(120);
  });

  it('DR sees only input: FIN on ESTABLISHED → FIN_WAIT 120 s; after expiry a non-SYN is not forwarded', () => {
    const d = director(drConf('-g'));
    d.handle(fromClient({ flags: 'S' }), 0, 'client');
    d.handle(fromClient({ flags: 'A', seq: 1001, ack: 1 }), 10, 'client');
    d.handle(fromClient({ flags: 'FA', seq: 1001, ack: 1 }), 20, 'client');
    const c = d.conns.entries()[0]!;
    expect([c.state, c.expiresMs]).toEqual(['FIN_WAIT', 20 + 120_000]);
    const late = d.handle(fromClient({ flags: 'A', seq: 1002, ack: 2 }), 20 + 120_000, 'client');
    expect(late.every((o) => o.side !== 'rs')).toBe(true);
    expect(d.conns.size).toBe(0);
  });

  it('active/inactive counters follow the state (ESTABLISHED active, CLOSE_WAIT inactive)', () => {
    const d = director(natConf());
    d.handle(fromClient({ flags: 'S' }), 0, 'client');
    d.handle(fromClient({ flags: 'A', seq: 1001, ack: 1 }), 1, 'client');
    expect(d.counters()[0]).toMatchObject({ rip: RIP1, active: 1, inactive: 0 });
    d.handle(fromClient({ flags: 'FA', seq: 1001, ack: 1 }), 2, 'client');
    expect(d.counters()[0]).toMatchObject({ active: 0, inactive: 1 });
  });

  it('persistence with netmask /24: same client net → same RS across connections; another net → next rr pick', () => {
    const d = director(natConf('rr', ' -p 300 -M 255.255.255.0'));
    const rs = (src: string, sport: number) => dec(d.handle(fromClient({ flags: 'S', src, sport }), 0, 'client')[0]!).net.ip.dst4 >>> 0;
    const first = rs('198.51.100.7', 1001);
    expect(rs('198.51.100.7', 1002)).toBe(first);
    expect(rs('198.51.100.200', 1003)).toBe(first);
    expect(rs('203.0.113.5', 1004)).not.toBe(first);
  });

  it('weight 0: new connections avoid the server, its existing connection and persistence template keep using it', () => {
    const d = director(natConf('rr', ' -p 300'));
    const dst = (o: ReturnType<typeof d.handle>) => dec(o[0]!).net.ip.dst4 >>> 0;
    expect(dst(d.handle(fromClient({ flags: 'S', sport: 1 }), 0, 'client'))).toBe(ipNum(RIP1));
    d.setWeight(VIP, 80, RIP1, 0);
    expect(dst(d.handle(fromClient({ flags: 'A', sport: 1, seq: 1001, ack: 1 }), 1, 'client'))).toBe(ipNum(RIP1));
    expect(dst(d.handle(fromClient({ flags: 'S', sport: 2 }), 2, 'client'))).toBe(ipNum(RIP1));
    expect(dst(d.handle(fromClient({ flags: 'S', src: '203.0.113.9', sport: 3 }), 3, 'client'))).toBe(ipNum(RIP2));
    expect(dst(d.handle(fromClient({ flags: 'S', src: '203.0.113.10', sport: 4 }), 4, 'client'))).toBe(ipNum(RIP2));
  });

  it('a SYN on a TIME_WAIT/CLOSE connection is rescheduled (conn_reuse_mode 1)', () => {
    const d = director(natConf());
    d.handle(fromClient({ flags: 'S', sport: 9 }), 0, 'client');
    d.handle(fromClient({ flags: 'A', sport: 9, seq: 1001, ack: 1 }), 1, 'client');
    // INPUT table: RST on ESTABLISHED → CLOSE (on SYN_RECV it would stay SYN_RECV).
    d.handle(fromClient({ flags: 'R', sport: 9, seq: 1001 }), 1, 'client');
    expect(d.conns.entries()[0]!.state).toBe('CLOSE');
    const again = d.handle(fromClient({ flags: 'S', sport: 9, seq: 5000 }), 2, 'client');
    expect(dec(again[0]!).net.ip.dst4 >>> 0).toBe(ipNum(RIP2));
  });

  it('a persistence template outlives its timeout while it controls a connection (re-armed 60 s), then expires', () => {
    const d = director(natConf('rr', ' -p 10'));
    const dst = (o: ReturnType<typeof d.handle>) => dec(o[0]!).net.ip.dst4 >>> 0;
    expect(dst(d.handle(fromClient({ flags: 'S', sport: 1 }), 0, 'client'))).toBe(ipNum(RIP1));
    // 20 s later the 10 s template has run out, but the SYN_RECV connection (60 s) still uses it.
    expect(dst(d.handle(fromClient({ flags: 'S', sport: 2 }), 20_000, 'client'))).toBe(ipNum(RIP1));
    // Long after every connection and the template expired: scheduled afresh (rr → next server).
    expect(d.conns.sweep(500_000)).toBe(2);
    expect(d.conns.templateCount()).toBe(0);
    expect(dst(d.handle(fromClient({ flags: 'S', sport: 3 }), 500_000, 'client'))).toBe(ipNum(RIP2));
  });
});
