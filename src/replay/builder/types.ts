/**
 * Layer descriptions for the packet builder: plain typed objects, one per protocol layer.
 * Anything left out gets the value a Linux host would normally send (see `defaults.ts`);
 * fields named `checksum`, `totalLength`, `length`, `dataOffset` … override what the builder
 * would compute, so a fixture can carry a deliberately wrong value.
 */

/** Ethernet II. `type` overrides the EtherType otherwise taken from the next layer. */
export interface EthSpec {
  src: string;
  dst: string;
  type?: number;
  /** Pad the frame with zeros to at least this many bytes (60 = minimum frame without FCS). */
  minLength?: number;
}

/** Linux cooked capture header, v1 (LINKTYPE_LINUX_SLL, 16 bytes) or v2 (LINKTYPE_LINUX_SLL2, 20 bytes). */
export interface SllSpec {
  version?: 1 | 2;
  /** 0 host, 1 broadcast, 2 multicast, 3 otherhost, 4 outgoing. */
  pktType?: number;
  /** Link-layer source address (a MAC), default 00:00:00:00:00:00. */
  addr?: string;
  /** ARPHRD_ type; default 1 (Ethernet). */
  hatype?: number;
  /** Interface index (v2 only). */
  ifIndex?: number;
  /** Protocol (EtherType); default from the next layer. */
  protocol?: number;
}

/** One 802.1Q / 802.1ad tag. `tpid` is the TPID that announces this tag (written before its TCI);
 *  default 0x8100, or 0x88a8 for an outer tag directly followed by another tag (QinQ). */
export interface VlanSpec {
  id: number;
  pcp?: number;
  dei?: boolean;
  tpid?: number;
  /** EtherType after the tag; default from the next layer. */
  type?: number;
}

/** Ethernet/IPv4 ARP. */
export interface ArpSpec {
  op: 1 | 2;
  sha: string;
  spa: string;
  tha: string;
  tpa: string;
}

export interface Ipv4Spec {
  src: string;
  dst: string;
  /** Default 64. */
  ttl?: number;
  /** Identification; default 0. */
  id?: number;
  df?: boolean;
  mf?: boolean;
  /** Fragment offset in bytes; must be a multiple of 8. */
  fragOffset?: number;
  tos?: number;
  /** Raw option bytes; padded with EOL (zero) bytes to a multiple of 4. */
  options?: Buffer;
  /** Protocol; default from the next layer (or 253, "experimental", when nothing follows). */
  proto?: number;
  /** Force this header checksum (e.g. a bad one). */
  checksum?: number;
  /** Force tot_len. */
  totalLength?: number;
  /** Force the IHL nibble (in 32-bit words). */
  ihl?: number;
}

/** IPv6 extension headers, in the order given. */
export type Ipv6Ext =
  /** Hop-by-hop options; `options` are raw TLVs, padded with Pad1/PadN to a multiple of 8. */
  | { kind: 'hop'; options?: Buffer }
  /** Destination options; as for 'hop'. */
  | { kind: 'dest'; options?: Buffer }
  /** Routing header; type 0 layout (reserved word + addresses). */
  | { kind: 'routing'; routingType?: number; segmentsLeft?: number; addresses?: string[] }
  /** Fragment header; `offset` in bytes (multiple of 8). */
  | { kind: 'fragment'; offset: number; mf: boolean; id: number };

export interface Ipv6Spec {
  src: string;
  dst: string;
  /** Hop limit, default 64. */
  hlim?: number;
  flowLabel?: number;
  /** Traffic class. */
  tc?: number;
  /** Upper-layer protocol (the last header's next field); default from the next layer, else 59 (no next header). */
  next?: number;
  ext?: Ipv6Ext[];
  /** Force payload_len. */
  payloadLength?: number;
}

export type TcpOption =
  | { kind: 'mss'; value: number }
  | { kind: 'ws'; shift: number }
  | { kind: 'sackPermitted' }
  | { kind: 'sack'; blocks: [number, number][] }
  | { kind: 'ts'; val: number; ecr: number }
  | { kind: 'nop' }
  | { kind: 'eol' }
  /** TOA (client address) option: kind, len (8 for IPv4, 20 for IPv6), port(2), addr(4|16) — lvs-behavior.md §2.3, §3.1.
   *  `optKind` defaults to 254 for an IPv4 address and 253 for IPv6 (Alibaba); DPVS uses 254 for both,
   *  JD Jupiter 200/201. `len` forces the length byte (malformed fixtures). */
  | { kind: 'toa'; addr: string; port: number; optKind?: number; len?: number }
  /** RFC 6994 experimental option: kind 253/254, 16-bit ExID, data. */
  | { kind: 'exp'; optKind: 253 | 254; exid: number; data?: Buffer }
  /** Any option, written as kind, len (= 2 + data length unless `len` forces it), data. */
  | { kind: 'raw'; optKind: number; data: Buffer; len?: number };

export interface TcpSpec {
  sport: number;
  dport: number;
  seq?: number;
  ack?: number;
  /** Letters as tcpdump/scapy use them (F S R P A U E C N, e.g. 'S', 'SA', 'PA', 'FA', 'RA') or the 9-bit number. */
  flags: string | number;
  /** Default 64240. */
  window?: number;
  urgent?: number;
  options?: TcpOption[];
  checksum?: number;
  /** How options are padded to a multiple of 4: trailing EOL+zeros (default), trailing NOPs, or not at all
   *  (then the data offset is rounded up and the header swallows the first payload bytes — malformed on purpose). */
  pad?: 'eol' | 'nop' | 'none';
  /** Force the data offset (32-bit words). */
  dataOffset?: number;
}

export interface UdpSpec {
  sport: number;
  dport: number;
  /** A number forces the value; 'zero' sends no checksum (0). */
  checksum?: number | 'zero';
  /** Force the length field. */
  length?: number;
}

/** ICMP (v4) or ICMPv6. The body is `quote`, else the layers that follow (the quoted packet of an error),
 *  else the payload. */
export interface IcmpSpec {
  type: number;
  code: number;
  /** Echo identifier / sequence (echo request/reply). */
  id?: number;
  seq?: number;
  /** Next-hop MTU: ICMP 3/4 (16 bits) or ICMPv6 2 (32 bits). */
  mtu?: number;
  /** Force the 32-bit word after the checksum (rest of header). */
  rest?: number;
  /** Embedded packet bytes, e.g. from another build() (IP header onwards). */
  quote?: Buffer;
  /** Cut the quote (given or built from the following layers) to this many bytes, as routers do. */
  quoteLen?: number;
  checksum?: number;
  /** ICMPv6 neighbour discovery (types 135/136). */
  nd?: NdSpec;
}

/** Neighbour solicitation (135) / advertisement (136) body. */
export interface NdSpec {
  target: string;
  /** NA flags: R (router), S (solicited), O (override). */
  router?: boolean;
  solicited?: boolean;
  override?: boolean;
  /** Link-layer address option: source (1) for NS, target (2) for NA by default. */
  lladdr?: string;
}

export interface GreSpec {
  /** Default from the next layer (0x0800 / 0x86dd). */
  protocol?: number;
  /** Carry a checksum (C bit); a number forces its value. */
  checksum?: boolean | number;
  key?: number;
  seq?: number;
}

/** UDP + GUE (variant 0) header, as IPVS tunnels with `--tun-type gue` send (lvs-behavior.md §1.5). */
export interface GueSpec {
  /** UDP source port; default 49152 (the kernel uses a flow hash). */
  sport?: number;
  dport: number;
  /** UDP checksum: the kernel sends 0 unless the tunnel has the csum flag. true computes it, a number forces it. */
  checksum?: boolean | number;
  /** GUE proto/ctype; default from the next layer (4 or 41). */
  proto?: number;
}

export type Layer =
  | { t: 'eth'; s: EthSpec }
  | { t: 'sll'; s: SllSpec }
  | { t: 'vlan'; s: VlanSpec }
  | { t: 'arp'; s: ArpSpec }
  | { t: 'ipv4'; s: Ipv4Spec }
  | { t: 'ipv6'; s: Ipv6Spec }
  | { t: 'tcp'; s: TcpSpec }
  | { t: 'udp'; s: UdpSpec }
  | { t: 'icmp'; s: IcmpSpec }
  | { t: 'icmpv6'; s: IcmpSpec }
  | { t: 'gre'; s: GreSpec }
  | { t: 'gue'; s: GueSpec };

export type LayerType = Layer['t'];
