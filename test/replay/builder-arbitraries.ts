/**
 * fast-check arbitraries for valid packet specs (test support for the builder tests).
 * Every generated builder is a packet a real stack could send: options fit in 40 bytes,
 * sizes fit the length fields, tunnels carry IP.
 */
import fc from 'fast-check';
import { PacketBuilder, type TcpOption, type Ipv4Spec, type Ipv6Spec, type TcpSpec, type UdpSpec, type IcmpSpec, type VlanSpec, encodeTcpOptions } from '../../src/replay/builder/index.js';
import { ipv4ToString, ipv6ToString, macToString } from '../../src/decode/addr.js';

export const arbMac = fc.uint8Array({ minLength: 6, maxLength: 6 }).map((b) => macToString(b, 0));
export const arbIpv4 = fc.integer({ min: 0, max: 0xffffffff }).map(ipv4ToString);
export const arbIpv6 = fc.uint8Array({ minLength: 16, maxLength: 16 }).map((b) => ipv6ToString(b, 0));
const u16 = fc.integer({ min: 0, max: 0xffff });
const u32 = fc.integer({ min: 0, max: 0xffffffff });

export const arbTcpOption: fc.Arbitrary<TcpOption> = fc.oneof(
  u16.map((value) => ({ kind: 'mss', value }) as const),
  fc.integer({ min: 0, max: 14 }).map((shift) => ({ kind: 'ws', shift }) as const),
  fc.constant({ kind: 'sackPermitted' } as const),
  fc.array(fc.tuple(u32, u32), { minLength: 1, maxLength: 3 }).map((blocks) => ({ kind: 'sack', blocks }) as const),
  fc.record({ val: u32, ecr: u32 }).map(({ val, ecr }) => ({ kind: 'ts', val, ecr }) as const),
  fc.constant({ kind: 'nop' } as const),
  fc.record({ addr: arbIpv4, port: u16 }).map(({ addr, port }) => ({ kind: 'toa', addr, port }) as const),
  fc.record({ addr: arbIpv6, port: u16 }).map(({ addr, port }) => ({ kind: 'toa', addr, port }) as const),
  fc.record({ addr: arbIpv4, port: u16, optKind: fc.constantFrom(200, 252, 254) }).map((o) => ({ kind: 'toa', ...o }) as const),
);

export const arbTcpOptions = fc
  .array(arbTcpOption, { maxLength: 6 })
  .filter((opts) => encodeTcpOptions(opts, 'eol').length <= 40);

export const arbTcp: fc.Arbitrary<TcpSpec> = fc.record({
  sport: u16,
  dport: u16,
  seq: u32,
  ack: u32,
  flags: fc.integer({ min: 0, max: 0x1ff }),
  window: u16,
  urgent: u16,
  options: arbTcpOptions,
});

export const arbUdp: fc.Arbitrary<UdpSpec> = fc.record({ sport: u16, dport: u16 });
export const arbEcho = (v6: boolean): fc.Arbitrary<IcmpSpec> =>
  fc.record({ type: fc.constantFrom(...(v6 ? [128, 129] : [0, 8])), code: fc.constant(0), id: u16, seq: u16 });

export const arbIpv4Spec = (): fc.Arbitrary<Ipv4Spec> =>
  fc.record({
    src: arbIpv4,
    dst: arbIpv4,
    ttl: fc.integer({ min: 1, max: 255 }),
    id: u16,
    df: fc.boolean(),
    tos: fc.integer({ min: 0, max: 255 }),
  });

export const arbIpv6Spec = (): fc.Arbitrary<Ipv6Spec> =>
  fc.record({
    src: arbIpv6,
    dst: arbIpv6,
    hlim: fc.integer({ min: 1, max: 255 }),
    flowLabel: fc.integer({ min: 0, max: 0xfffff }),
    tc: fc.integer({ min: 0, max: 255 }),
  });

export type L4Choice = { t: 'tcp'; s: TcpSpec } | { t: 'udp'; s: UdpSpec } | { t: 'icmp'; s: IcmpSpec };
export type IpChoice = { t: 'ipv4'; s: Ipv4Spec } | { t: 'ipv6'; s: Ipv6Spec };

export interface PacketPlan {
  link: 'eth' | 'raw' | 'sll';
  mac: { src: string; dst: string };
  vlans: VlanSpec[];
  outer: IpChoice;
  tunnel: null | 'ip' | 'gre';
  inner: IpChoice;
  l4: L4Choice;
  payload: Uint8Array;
}

const arbIp: fc.Arbitrary<IpChoice> = fc.oneof(
  arbIpv4Spec().map((s) => ({ t: 'ipv4', s }) as const),
  arbIpv6Spec().map((s) => ({ t: 'ipv6', s }) as const),
);

export const arbPlan: fc.Arbitrary<PacketPlan> = fc
  .record({
    link: fc.constantFrom('eth', 'raw', 'sll'),
    mac: fc.record({ src: arbMac, dst: arbMac }),
    vlans: fc.array(fc.record({ id: fc.integer({ min: 0, max: 4095 }), pcp: fc.integer({ min: 0, max: 7 }), dei: fc.boolean() }), { maxLength: 2 }),
    outer: arbIp,
    tunnel: fc.constantFrom(null, 'ip', 'gre'),
    inner: arbIp,
    l4kind: fc.constantFrom('tcp', 'udp', 'icmp'),
    tcp: arbTcp,
    udp: arbUdp,
    echo4: arbEcho(false),
    echo6: arbEcho(true),
    payload: fc.uint8Array({ maxLength: 300 }),
  })
  .map((r) => {
    const last = r.tunnel ? r.inner : r.outer;
    const l4: L4Choice =
      r.l4kind === 'tcp' ? { t: 'tcp', s: r.tcp } : r.l4kind === 'udp' ? { t: 'udp', s: r.udp } : { t: 'icmp', s: last.t === 'ipv4' ? r.echo4 : r.echo6 };
    return { link: r.link, mac: r.mac, vlans: r.link === 'eth' ? r.vlans : [], outer: r.outer, tunnel: r.tunnel, inner: r.inner, l4, payload: r.payload };
  });

export function planToBuilder(p: PacketPlan): PacketBuilder {
  let b = p.link === 'eth' ? PacketBuilder.eth(p.mac) : p.link === 'sll' ? PacketBuilder.sll({ addr: p.mac.src }) : PacketBuilder.raw();
  for (const v of p.vlans) b = b.vlan(v);
  const addIp = (ip: IpChoice): void => {
    if (ip.t === 'ipv4') b.ipv4(ip.s);
    else b.ipv6(ip.s);
  };
  addIp(p.outer);
  if (p.tunnel === 'gre') b.gre({});
  if (p.tunnel) addIp(p.inner);
  const last = p.tunnel ? p.inner : p.outer;
  if (p.l4.t === 'tcp') b.tcp(p.l4.s);
  else if (p.l4.t === 'udp') b.udp(p.l4.s);
  else if (last.t === 'ipv4') b.icmp(p.l4.s);
  else b.icmpv6(p.l4.s);
  return b.payload(p.payload);
}

export const arbPacket: fc.Arbitrary<PacketBuilder> = arbPlan.map(planToBuilder);
