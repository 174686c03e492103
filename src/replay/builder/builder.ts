/**
 * PacketBuilder: stack typed layer specs, then `build()` serialises them with every length and
 * checksum computed (unless a spec forces a value), and `describe()` prints a tcpdump-like line.
 *
 *   PacketBuilder.eth({ src, dst }).vlan({ id: 10 }).ipv4({ src: CIP, dst: VIP })
 *     .tcp({ sport: 40000, dport: 80, flags: 'S', options: [{ kind: 'mss', value: 1460 }] }).build()
 *
 * Layers after `icmp()/icmpv6()` form the quoted packet of an ICMP error; layers after `ipv4/ipv6`,
 * `gre()` or `gue()` form a tunnelled packet. Used for fixtures, replay traffic and by the reference
 * director, so it favours plainness over speed (it allocates freely).
 */
import type {
  ArpSpec,
  EthSpec,
  GreSpec,
  GueSpec,
  IcmpSpec,
  Ipv4Spec,
  Ipv6Spec,
  Layer,
  LayerType,
  SllSpec,
  TcpSpec,
  UdpSpec,
  VlanSpec,
} from './types.js';
import {
  encodeArp,
  encodeEth,
  encodeGre,
  encodeGue,
  encodeIcmp,
  encodeIcmpv6,
  encodeIpv4,
  encodeIpv6,
  encodeSll,
  encodeTcp,
  encodeUdp,
  encodeVlan,
  etherTypeOf,
  type IpContext,
} from './encode.js';
import { LinkType } from './defaults.js';
import { describeLayers, type LayerSize } from './describe.js';

type Start = 'eth' | 'sll' | 'raw';

/** Which layers may directly follow which ('start' = first layer of a raw-IP packet). */
const FOLLOWS: Record<LayerType, readonly (LayerType | 'start')[]> = {
  eth: ['gre'], // transparent Ethernet bridging over GRE
  sll: [],
  vlan: ['eth', 'vlan'],
  arp: ['eth', 'vlan', 'sll'],
  ipv4: ['start', 'eth', 'vlan', 'sll', 'ipv4', 'ipv6', 'gre', 'gue', 'icmp', 'icmpv6'],
  ipv6: ['start', 'eth', 'vlan', 'sll', 'ipv4', 'ipv6', 'gre', 'gue', 'icmp', 'icmpv6'],
  tcp: ['ipv4', 'ipv6'],
  udp: ['ipv4', 'ipv6'],
  icmp: ['ipv4', 'ipv6'],
  icmpv6: ['ipv4', 'ipv6'],
  gre: ['ipv4', 'ipv6'],
  gue: ['ipv4', 'ipv6'],
};

export interface BuildResult {
  bytes: Buffer;
  /** Per layer: header bytes and bytes from the layer's start to the end of the packet. */
  sizes: LayerSize[];
}

export class PacketBuilder {
  private readonly stack: Layer[] = [];
  private body: Buffer = Buffer.alloc(0);

  private constructor(private readonly start: Start) {}

  /** Starts with an Ethernet header (LINKTYPE_ETHERNET). */
  static eth(s: EthSpec): PacketBuilder {
    const b = new PacketBuilder('eth');
    b.stack.push({ t: 'eth', s });
    return b;
  }

  /** Starts with a Linux cooked header (LINKTYPE_LINUX_SLL / SLL2 by `version`). */
  static sll(s: SllSpec = {}): PacketBuilder {
    const b = new PacketBuilder('sll');
    b.stack.push({ t: 'sll', s });
    return b;
  }

  /** Starts at the IP header (LINKTYPE_RAW). */
  static raw(): PacketBuilder {
    return new PacketBuilder('raw');
  }

  /** pcap link type of what build() returns. */
  get linkType(): number {
    if (this.start === 'eth') return LinkType.ETHERNET;
    if (this.start === 'raw') return LinkType.RAW;
    const first = this.stack[0];
    return first?.t === 'sll' && first.s.version === 2 ? LinkType.LINUX_SLL2 : LinkType.LINUX_SLL;
  }

  /** The layer specs in order (read-only view, for printers and tests). */
  get layers(): readonly Layer[] {
    return this.stack;
  }

  vlan(s: VlanSpec): this {
    return this.push({ t: 'vlan', s });
  }
  arp(s: ArpSpec): this {
    return this.push({ t: 'arp', s });
  }
  ipv4(s: Ipv4Spec): this {
    return this.push({ t: 'ipv4', s });
  }
  ipv6(s: Ipv6Spec): this {
    return this.push({ t: 'ipv6', s });
  }
  tcp(s: TcpSpec): this {
    return this.push({ t: 'tcp', s });
  }
  udp(s: UdpSpec): this {
    return this.push({ t: 'udp', s });
  }
  icmp(s: IcmpSpec): this {
    return this.push({ t: 'icmp', s });
  }
  icmpv6(s: IcmpSpec): this {
    return this.push({ t: 'icmpv6', s });
  }
  gre(s: GreSpec = {}): this {
    return this.push({ t: 'gre', s });
  }
  gue(s: GueSpec): this {
    return this.push({ t: 'gue', s });
  }
  /** Ethernet frame inside GRE (TEB); only after gre(). */
  ethInner(s: EthSpec): this {
    return this.push({ t: 'eth', s });
  }

  /** Bytes after the last layer (a string is UTF-8). Replaces an earlier payload. */
  payload(b: Buffer | Uint8Array | string): this {
    this.body = typeof b === 'string' ? Buffer.from(b, 'utf8') : Buffer.from(b);
    return this;
  }

  /** A copy of this builder (specs are shared, they are plain data the builder never mutates). */
  clone(): PacketBuilder {
    const c = new PacketBuilder(this.start);
    c.stack.push(...this.stack);
    c.body = this.body;
    return c;
  }

  build(): Buffer {
    return this.buildWithSizes().bytes;
  }

  buildWithSizes(): BuildResult {
    const n = this.stack.length;
    const sizes: LayerSize[] = new Array<LayerSize>(n);
    let inner = this.body;
    for (let i = n - 1; i >= 0; i--) {
      const before = inner.length;
      inner = this.encodeAt(i, inner);
      // ICMP may cut its quote, so the header size is what was added over the (possibly cut) body.
      const layer = this.stack[i]!;
      const hdr = layer.t === 'icmp' || layer.t === 'icmpv6' ? 8 + (layer.s.nd ? 16 + (layer.s.nd.lladdr ? 8 : 0) : 0) : inner.length - before;
      sizes[i] = { hdr, total: inner.length };
    }
    return { bytes: inner, sizes };
  }

  /** tcpdump-like one-line text of the packet. */
  describe(): string {
    const { sizes } = this.buildWithSizes();
    return describeLayers(this.stack, sizes, this.body.length);
  }

  private push(l: Layer): this {
    const prev = this.stack[this.stack.length - 1];
    const prevT: LayerType | 'start' = prev ? prev.t : 'start';
    if (!FOLLOWS[l.t].includes(prevT)) throw new TypeError(`${l.t} cannot follow ${prevT === 'start' ? 'the start of a raw packet' : prevT}`);
    this.stack.push(l);
    return this;
  }

  /** The IP layer whose addresses go in the pseudo-header of the L4 layer at `i`. */
  private ipBefore(i: number): IpContext | undefined {
    for (let j = i - 1; j >= 0; j--) {
      const l = this.stack[j]!;
      if (l.t === 'ipv4' || l.t === 'ipv6') return l;
    }
    return undefined;
  }

  private encodeAt(i: number, inner: Buffer): Buffer {
    const l = this.stack[i]!;
    const next = this.stack[i + 1];
    switch (l.t) {
      case 'eth':
        return encodeEth(l.s, etherTypeOf(next, this.stack[i + 2]), inner);
      case 'sll':
        return encodeSll(l.s, etherTypeOf(next, this.stack[i + 2]), inner);
      case 'vlan':
        return encodeVlan(l.s, etherTypeOf(next, this.stack[i + 2]), inner);
      case 'arp':
        return encodeArp(l.s, inner);
      case 'ipv4':
        return encodeIpv4(l.s, next?.t, inner);
      case 'ipv6':
        return encodeIpv6(l.s, next?.t, inner);
      case 'tcp':
        return encodeTcp(l.s, this.ipBefore(i), inner);
      case 'udp':
        return encodeUdp(l.s, this.ipBefore(i), inner);
      case 'gue':
        return encodeGue(l.s, next?.t, this.ipBefore(i), inner);
      case 'gre':
        return encodeGre(l.s, next, inner);
      case 'icmp':
        return encodeIcmp(l.s, inner);
      case 'icmpv6':
        return encodeIcmpv6(l.s, this.ipBefore(i), inner);
    }
  }
}
