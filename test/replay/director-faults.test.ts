/**
 * Every fault switch breaks the one rule it names and the director without it keeps that rule:
 * each case runs the same traffic with and without the switch and checks the differing field.
 */
import { describe, expect, it } from 'vitest';
import { FAULTS, parseFaults } from '../../src/replay/director/index.js';
import type { ReferenceDirector } from '../../src/replay/director/index.js';
import { PacketBuilder, type TcpOption } from '../../src/replay/builder/index.js';
import { CIP, LIP, MAC, RIP1, RIP2, dec, director, drConf, fnatConf, fromClient, fromRs, ipv4Valid, l4Valid, mac, natConf, tcpOptionBytes } from './director-harness.js';

const ipNum = (t: string): number => t.split('.').reduce((a, x) => a * 256 + Number(x), 0);
const SYN_TS: TcpOption[] = [{ kind: 'mss', value: 1460 }, { kind: 'sackPermitted' }, { kind: 'ts', val: 1, ecr: 0 }, { kind: 'nop' }, { kind: 'ws', shift: 7 }];

/** FullNAT handshake; returns the director and delta. */
function fnat(profile: 'alibaba' | 'dpvs', faults: string[]) {
  const d = director(fnatConf(), profile, faults);
  const syn = d.handle(fromClient({ flags: 'S', seq: 1000, options: SYN_TS }), 0, 'client')[0]!;
  const delta = (dec(syn).net.tcp.seq - 1000) >>> 0;
  const synAck = d.handle(fromRs({ src: RIP1, dst: LIP, dport: 5000, flags: 'SA', seq: 5000, ack: (1001 + delta) >>> 0, options: [{ kind: 'mss', value: 1460 }] }), 1, 'rs')[0]!;
  return { d, syn, synAck, delta };
}
const ackOut = (d: ReferenceDirector) => d.handle(fromClient({ flags: 'A', seq: 1001, ack: 5001 }), 2, 'client')[0]!;

/** Per fault: a probe returning a value, and what it must be without / with the fault. */
type Case = { method: 'nat' | 'dr' | 'tun' | 'fnat-alibaba' | 'fnat-dpvs'; probe: (faults: string[]) => unknown; ok: unknown; broken: unknown };

/** DPVS FullNAT UDP (§3.3): the frames toward the RS for `n` datagrams from one client port. */
function udpFnat(faults: string[], n = 1): Buffer[] {
  const conf = `-A -u 192.0.2.10:53 -s rr\n-a -u 192.0.2.10:53 -r ${RIP1}:5353 -b -w 1\n-P -u 192.0.2.10:53 -z ${LIP}\n`;
  const d = director(conf, 'dpvs', faults);
  const out: Buffer[] = [];
  for (let i = 0; i < n; i++) {
    const f = PacketBuilder.eth({ src: MAC.client, dst: MAC.dir }).ipv4({ src: CIP, dst: '192.0.2.10', df: true }).udp({ sport: 40000, dport: 53 }).payload('q').build();
    out.push(d.handle(f, i, 'client')[0]!.frame);
  }
  return out;
}

const natSyn = (faults: string[], over = {}) => dec(director(natConf(), 'linux', faults).handle(fromClient({ flags: 'S', ...over }), 0, 'client')[0]!);

const CASES: Record<string, Case> = {
  'no-ttl-decrement': { method: 'nat', probe: (f) => natSyn(f).net.ip.ttl, ok: 63, broken: 64 },
  'ttl-not-checked': { method: 'nat', probe: (f) => natSyn(f, { ttl: 1 }).net.l4, ok: 'icmp', broken: 'tcp' },
  'no-frag-needed': {
    method: 'tun',
    probe: (f) => {
      const d = director(drConf('-i'), 'linux', f);
      d.handle(fromClient({ flags: 'S' }), 0, 'client');
      return d.handle(fromClient({ flags: 'PA', seq: 1001, ack: 1, payload: Buffer.alloc(1460) }), 1, 'client')[0]!.side;
    },
    ok: 'client',
    broken: 'rs',
  },
  'ipid-rewrite': { method: 'nat', probe: (f) => natSyn(f, { id: 0x1234 }).net.ip.id, ok: 0x1234, broken: 0x1234 ^ 0x5a5a },
  'tos-rewrite': { method: 'nat', probe: (f) => natSyn(f, { tos: 0 }).net.ip.tos, ok: 0, broken: 0x10 },
  'bad-ip-checksum': { method: 'nat', probe: (f) => ipv4Valid(director(natConf(), 'linux', f).handle(fromClient({ flags: 'S' }), 0, 'client')[0]!.frame), ok: true, broken: false },
  'bad-l4-checksum': { method: 'nat', probe: (f) => l4Valid(director(natConf(), 'linux', f).handle(fromClient({ flags: 'S' }), 0, 'client')[0]!.frame), ok: true, broken: false },
  'nat-wrong-port': { method: 'nat', probe: (f) => natSyn(f).net.tcp.dport, ok: 8080, broken: 80 },
  'nat-reply-src': {
    method: 'nat',
    probe: (f) => {
      const d = director(natConf(), 'linux', f);
      d.handle(fromClient({ flags: 'S' }), 0, 'client');
      return dec(d.handle(fromRs({ src: RIP1, dst: CIP, flags: 'SA', ack: 1001 }), 1, 'rs')[0]!).net.ip.src4 >>> 0;
    },
    ok: ipNum('192.0.2.10'),
    broken: ipNum(RIP1),
  },
  'dr-wrong-mac': { method: 'dr', probe: (f) => mac(director(drConf('-g'), 'linux', f).handle(fromClient({ flags: 'S' }), 0, 'client')[0]!.frame, 0), ok: MAC.rs1, broken: MAC.rs2 },
  'tun-outer-ttl': { method: 'tun', probe: (f) => director(drConf('-i'), 'linux', f).handle(fromClient({ flags: 'S', ttl: 30 }), 0, 'client')[0]!.frame[14 + 8], ok: 29, broken: 64 },
  'tun-df-not-copied': { method: 'tun', probe: (f) => director(drConf('-i'), 'linux', f).handle(fromClient({ flags: 'S', df: true }), 0, 'client')[0]!.frame.readUInt16BE(14 + 6) & 0x4000, ok: 0x4000, broken: 0 },
  'schedule-weight0': { method: 'nat', probe: (f) => dec(director(natConf('rr', '', 0, 1), 'linux', f).handle(fromClient({ flags: 'S' }), 0, 'client')[0]!).net.ip.dst4 >>> 0, ok: ipNum(RIP2), broken: ipNum(RIP1) },
  'break-persistence': {
    method: 'nat',
    probe: (f) => {
      const d = director(natConf('rr', ' -p 300'), 'linux', f);
      return [1, 2].map((sport) => dec(d.handle(fromClient({ flags: 'S', sport }), 0, 'client')[0]!).net.ip.dst4 >>> 0);
    },
    ok: [ipNum(RIP1), ipNum(RIP1)],
    broken: [ipNum(RIP1), ipNum(RIP2)],
  },
  'drop-every-nth': {
    method: 'nat',
    probe: (f) => {
      const d = director(natConf(), 'linux', f.map((x) => (x === 'drop-every-nth' ? 'drop-every-nth=2' : x)));
      d.handle(fromClient({ flags: 'S' }), 0, 'client');
      return d.handle(fromClient({ flags: 'A', seq: 1001, ack: 1 }), 1, 'client').length;
    },
    ok: 1,
    broken: 0,
  },
  'toa-missing': { method: 'fnat-alibaba', probe: (f) => tcpOptionBytes(ackOut(fnat('alibaba', f).d).frame).length, ok: 8, broken: 0 },
  'toa-wrong-port': { method: 'fnat-alibaba', probe: (f) => tcpOptionBytes(ackOut(fnat('alibaba', f).d).frame).readUInt16BE(2), ok: 40000, broken: 40001 },
  'toa-wrong-addr': { method: 'fnat-alibaba', probe: (f) => tcpOptionBytes(ackOut(fnat('alibaba', f).d).frame).readUInt32BE(4), ok: ipNum(CIP), broken: ipNum(LIP) },
  'toa-in-syn': { method: 'fnat-dpvs', probe: (f) => tcpOptionBytes(fnat('dpvs', f).syn.frame)[0], ok: 2, broken: 254 },
  'toa-not-first': {
    method: 'fnat-alibaba',
    probe: (f) => {
      const { d } = fnat('alibaba', f);
      return tcpOptionBytes(d.handle(fromClient({ flags: 'A', seq: 1001, ack: 5001, options: [{ kind: 'nop' }, { kind: 'nop' }, { kind: 'sack', blocks: [[1, 2]] }] }), 2, 'client')[0]!.frame)[0];
    },
    ok: 254,
    broken: 1,
  },
  'toa-bad-len': { method: 'fnat-alibaba', probe: (f) => tcpOptionBytes(ackOut(fnat('alibaba', f).d).frame)[1], ok: 8, broken: 10 },
  'seq-drift': {
    method: 'fnat-alibaba',
    probe: (f) => {
      const { d, delta } = fnat('alibaba', f);
      return (dec(ackOut(d)).net.tcp.seq - 1001 - delta) >>> 0;
    },
    ok: 0,
    broken: 1,
  },
  'sack-not-shifted': {
    method: 'fnat-alibaba',
    probe: (f) => {
      const { d, delta } = fnat('alibaba', f);
      const o = d.handle(fromRs({ src: RIP1, dst: LIP, dport: 5000, flags: 'A', seq: 5001, ack: (1001 + delta) >>> 0, options: [{ kind: 'nop' }, { kind: 'nop' }, { kind: 'sack', blocks: [[(1101 + delta) >>> 0, (1201 + delta) >>> 0]] }] }), 2, 'rs')[0]!;
      return dec(o).net.tcp.sackLeft[0] === 1101;
    },
    ok: true,
    broken: false,
  },
  'ack-not-shifted': { method: 'fnat-alibaba', probe: (f) => dec(fnat('alibaba', f).synAck).net.tcp.ack === 1001, ok: true, broken: false },
  'mss-not-adjusted': { method: 'fnat-alibaba', probe: (f) => dec(fnat('alibaba', f).synAck).net.tcp.mss, ok: 1452, broken: 1460 },
  'ts-not-removed': { method: 'fnat-alibaba', probe: (f) => dec(fnat('alibaba', f).syn).net.tcp.tsPresent, ok: false, broken: true },
  'lport-reuse': {
    method: 'fnat-alibaba',
    probe: (f) => {
      const d = director(fnatConf(), 'alibaba', f);
      return [1, 2, 3].map((sport) => dec(d.handle(fromClient({ flags: 'S', sport }), 0, 'client')[0]!).net.tcp.sport);
    },
    ok: [5000, 5001, 5002],
    broken: [5000, 5000, 5000],
  },
  'uoa-missing': { method: 'fnat-dpvs', probe: (f) => dec(udpFnat(f)[0]!).net.uoa.mode, ok: 2, broken: 0 },
  'uoa-wrong-port': { method: 'fnat-dpvs', probe: (f) => dec(udpFnat(f)[0]!).net.uoa.port, ok: 40000, broken: 40001 },
  'uoa-wrong-addr': { method: 'fnat-dpvs', probe: (f) => dec(udpFnat(f)[0]!).net.uoa.addr4, ok: ipNum(CIP), broken: ipNum(LIP) },
  'uoa-every-datagram': { method: 'fnat-dpvs', probe: (f) => udpFnat(f, 5).map((b) => dec(b).net.uoa.mode), ok: [2, 2, 2, 0, 0], broken: [2, 2, 2, 2, 2] },
  'uoa-shim-version': { method: 'fnat-dpvs', probe: (f) => dec(udpFnat(f)[0]!).net.uoa.shimVersion, ok: 1, broken: 2 },
  'ttl-decrement-fullnat': { method: 'fnat-alibaba', probe: (f) => dec(fnat('alibaba', f).syn).net.ip.ttl, ok: 64, broken: 63 },
};

describe('fault switches', () => {
  it('every fault in the catalog has a case here', () => {
    expect(Object.keys(CASES).sort()).toEqual(Object.keys(FAULTS).sort());
  });

  for (const [name, c] of Object.entries(CASES)) {
    it(`${name} (${c.method}): conformant without it, broken with it`, () => {
      expect(c.probe([])).toEqual(c.ok);
      expect(c.probe([name])).toEqual(c.broken);
    });
  }

  it('unknown names and bad arguments are usage errors', () => {
    expect(() => parseFaults(['nope'])).toThrow(/unknown fault/);
    expect(() => parseFaults(['drop-every-nth=0'])).toThrow(/positive integer/);
    expect(parseFaults(['drop-every-nth=5,toa-missing']).arg('drop-every-nth', 3)).toBe(5);
  });
});
