/**
 * The decoded view of one frame: offsets into the frame's bytes plus the handful of parsed
 * numbers that rules and printers read. One `Packet` is allocated per decoder and refilled
 * for every frame (`reset()`), in the spirit of gopacket's DecodingLayerParser: the hot path
 * allocates nothing. Addresses stay bytes (IPv4 also as a uint32 for cheap flow keys);
 * text forms are made only by printers (`src/decode/print`) or for evidence.
 *
 * A view is valid only while the frame's buffer is: consumers copy what they keep.
 */
import type { Direction } from './frame.js';

export type LayerName =
  | 'link'
  | 'vlan'
  | 'arp'
  | 'ipv4'
  | 'ipv4-options'
  | 'ipv6'
  | 'ipv6-ext'
  | 'tcp'
  | 'tcp-options'
  | 'udp'
  | 'icmp'
  | 'icmpv6'
  | 'gre'
  | 'gue'
  | 'ppp'
  | 'erspan'
  | 'vxlan'
  | 'geneve'
  | 'mpls'
  | 'uoa'
  | 'ethernet'
  | 'tunnel';

export type L4Kind = 'tcp' | 'udp' | 'icmp' | 'icmpv6' | 'other' | null;

/** The IPVS TUN encapsulations (lvs-behavior.md §1.5): what `Packet.tunnel` names. */
export type TunnelKind = 'ipip' | 'ip6ip' | 'sit' | 'ip6ip6' | 'gre' | 'gue' | null;

/** Every encapsulation a level of `Packet.levels` can be: the TUN kinds plus overlays. */
export type EncapKind =
  | 'ipip'
  | 'ip6ip'
  | 'sit'
  | 'ip6ip6'
  | 'gre'
  | 'gue'
  | 'gre-udp'
  | 'erspan2'
  | 'erspan3'
  | 'vxlan'
  | 'geneve'
  | 'mpls'
  | 'mpls-udp';

/** Encapsulation levels kept per packet (a fixed pool); a deeper one is malformed. */
export const MAX_LEVELS = 8;
/** MPLS label stack entries kept; a deeper stack is malformed. */
export const MAX_MPLS = 8;

/** Maximum VLAN tags kept (802.1ad + 802.1Q stacks; deeper stacks are malformed for us). */
export const MAX_VLAN = 4;
/** Maximum TCP options kept (40 bytes of option space: at most 40 one-byte options). */
export const MAX_TCP_OPTIONS = 40;
/** Maximum SACK blocks in one option (40-byte option space allows 4). */
export const MAX_SACK_BLOCKS = 4;

export class EthernetView {
  present = false;
  off = 0;
  dstOff = 0;
  srcOff = 0;
  /** EtherType (or 802.3 length) after the VLAN tags. */
  etherType = 0;
  reset(): void {
    this.present = false;
    this.etherType = 0;
  }
}

/** LINUX_SLL (v1) and LINUX_SLL2 cooked headers (`tcpdump -i any`). */
export class SllView {
  present = false;
  version: 1 | 2 = 1;
  off = 0;
  /** Packet type: 0 host, 1 broadcast, 2 multicast, 3 otherhost, 4 outgoing. */
  pktType = 0;
  hatype = 0;
  /** Interface index; only SLL2 carries it, -1 for SLL v1. */
  ifIndex = -1;
  addrOff = 0;
  addrLen = 0;
  protocol = 0;
  reset(): void {
    this.present = false;
    this.ifIndex = -1;
    this.addrLen = 0;
  }
}

export class VlanView {
  count = 0;
  readonly tpid = new Uint16Array(MAX_VLAN);
  readonly id = new Uint16Array(MAX_VLAN);
  readonly pcp = new Uint8Array(MAX_VLAN);
  readonly dei = new Uint8Array(MAX_VLAN);
  reset(): void {
    this.count = 0;
  }
}

export class ArpView {
  present = false;
  off = 0;
  htype = 0;
  ptype = 0;
  hlen = 0;
  plen = 0;
  op = 0;
  /** Offsets of the four addresses; IPv4 ones also as uint32 when plen is 4. */
  shaOff = 0;
  spaOff = 0;
  thaOff = 0;
  tpaOff = 0;
  spa = 0;
  tpa = 0;
  /** Ethernet/IPv4 ARP (htype 1, ptype 0x0800, hlen 6, plen 4) carried as ARP, not RARP: the
   *  only kind the ARP rules read. */
  isEthIpv4 = false;
  /** Carried in a RARP frame (EtherType 0x8035), decoded as ARP is. */
  reverse = false;
  /** spa == tpa (and spa != 0): gratuitous ARP, request or reply form. */
  gratuitous = false;
  /** Request with spa 0.0.0.0: RFC 5227 probe. */
  probe = false;
  reset(): void {
    this.present = false;
    this.isEthIpv4 = false;
    this.reverse = false;
    this.gratuitous = false;
    this.probe = false;
  }
}

export class IpView {
  version: 0 | 4 | 6 = 0;
  off = 0;
  /** Header length including IPv4 options / IPv6 extension headers. */
  hdrLen = 0;
  /** Total length the header claims (IPv4 tot_len; IPv6 40 + payload_len). */
  totalLen = 0;
  /** Upper-layer protocol after the IPv6 extension chain. */
  proto = 0;
  /** TTL / hop limit. */
  ttl = 0;
  tos = 0;
  /** IPv4 identification; IPv6 fragment-header identification when fragmented, else 0. */
  id = 0;
  df = false;
  mf = false;
  /** Fragment offset in bytes. */
  fragOffset = 0;
  /** True when this is a fragment (MF set or offset non-zero, or an IPv6 fragment header). */
  isFragment = false;
  flowLabel = 0;
  srcOff = 0;
  dstOff = 0;
  /** IPv4 addresses as uint32 (network order numbers); 0 for IPv6. */
  src4 = 0;
  dst4 = 0;
  /** IPv4 header checksum as on the wire. */
  checksum = 0;
  /** IPv4 header checksum verdict; null for IPv6 or when the header is cut. */
  checksumOk: boolean | null = null;
  /** Length of IPv4 options. */
  optionsLen = 0;
  /** Start and length of the L4 bytes present in the capture (bounded by totalLen and caplen). */
  payloadOff = 0;
  payloadLen = 0;
  /** L4 bytes the header says exist (may exceed payloadLen in a snaplen-cut frame). */
  payloadWireLen = 0;
  reset(): void {
    this.version = 0;
    this.checksumOk = null;
    this.isFragment = false;
    this.optionsLen = 0;
    this.id = 0;
    this.flowLabel = 0;
    this.src4 = 0;
    this.dst4 = 0;
  }
}

export class TcpView {
  present = false;
  off = 0;
  sport = 0;
  dport = 0;
  seq = 0;
  ack = 0;
  /** Header length in bytes (data offset × 4). */
  hdrLen = 0;
  /** The 9 flag bits (NS CWR ECE URG ACK PSH RST SYN FIN → 0x100 … 0x001). */
  flags = 0;
  window = 0;
  urgent = 0;
  checksum = 0;
  /** null when not verifiable (segment cut by snaplen, or a fragment). */
  checksumOk: boolean | null = null;
  /** The checksum is wrong and equals the pseudo-header sum alone: what TX checksum offload
   *  leaves for the NIC to finish (capture-artifacts.md §1), not a corruption. */
  checksumPartial = false;
  payloadOff = 0;
  /** Payload bytes present in the capture. */
  payloadLen = 0;
  /** Payload bytes on the wire (from the IP length). */
  payloadWireLen = 0;

  /** Options as kind/offset/length triples, in wire order (NOP and EOL included). */
  optCount = 0;
  readonly optKind = new Uint8Array(MAX_TCP_OPTIONS);
  readonly optOff = new Uint32Array(MAX_TCP_OPTIONS);
  readonly optLen = new Uint8Array(MAX_TCP_OPTIONS);

  /** Parsed values of the options the rules read; -1 / false when absent. */
  mss = -1;
  wscale = -1;
  sackPermitted = false;
  tsPresent = false;
  tsVal = 0;
  tsEcr = 0;
  sackCount = 0;
  readonly sackLeft = new Uint32Array(MAX_SACK_BLOCKS);
  readonly sackRight = new Uint32Array(MAX_SACK_BLOCKS);

  /** TOA (client address option of FullNAT directors); toaKind 0 = none found. */
  toaKind = 0;
  toaLen = 0;
  toaPort = 0;
  toaAddrOff = 0;
  /** 4 or 6 — family of the carried address (len 8 → 4, len 20 → 6). */
  toaFamily: 0 | 4 | 6 = 0;
  /** Index of the TOA option among all options (0 = first option after the base header). */
  toaIndex = -1;
  /** IPv4 TOA address as uint32. */
  toaAddr4 = 0;

  reset(): void {
    this.present = false;
    this.checksumOk = null;
    this.checksumPartial = false;
    this.optCount = 0;
    this.mss = -1;
    this.wscale = -1;
    this.sackPermitted = false;
    this.tsPresent = false;
    this.sackCount = 0;
    this.toaKind = 0;
    this.toaLen = 0;
    this.toaFamily = 0;
    this.toaIndex = -1;
    this.toaAddr4 = 0;
    this.payloadLen = 0;
    this.payloadWireLen = 0;
  }
}

export class UdpView {
  present = false;
  off = 0;
  sport = 0;
  dport = 0;
  length = 0;
  checksum = 0;
  /** null when not verifiable; true for an IPv4 zero checksum ("none"). */
  checksumOk: boolean | null = null;
  /** Wrong and equal to the pseudo-header sum alone: TX checksum offload (see TcpView). */
  checksumPartial = false;
  payloadOff = 0;
  payloadLen = 0;
  reset(): void {
    this.present = false;
    this.checksumOk = null;
    this.checksumPartial = false;
    this.payloadLen = 0;
  }
}

export class IcmpView {
  present = false;
  /** 4 for ICMP, 6 for ICMPv6. */
  version: 4 | 6 = 4;
  off = 0;
  type = 0;
  code = 0;
  checksum = 0;
  checksumOk: boolean | null = null;
  /** Echo identifier / sequence (echo request/reply only). */
  echoId = 0;
  echoSeq = 0;
  /** Next-hop MTU of frag-needed (v4 3/4) or packet-too-big (v6 2); -1 otherwise. */
  mtu = -1;
  /** Error messages quote the offending packet: decoded into `Packet.quoted`. */
  hasQuoted = false;
  /** Neighbor solicitation / advertisement (ICMPv6 135/136, RFC 4861 §4.3, §4.4): offset of the
   *  target address, −1 otherwise or when cut before it. */
  ndTargetOff = -1;
  /** Offset of the MAC in its Ethernet link-layer address option (source in an NS, target in an
   *  NA), −1 when there is none. */
  ndLinkAddrOff = -1;
  /** The NA flags byte (R 0x80, S 0x40, O 0x20). */
  ndFlags = 0;
  reset(): void {
    this.present = false;
    this.checksumOk = null;
    this.mtu = -1;
    this.hasQuoted = false;
    this.ndTargetOff = -1;
    this.ndLinkAddrOff = -1;
    this.echoId = 0;
    this.echoSeq = 0;
  }
}

/** An MPLS label stack (RFC 3032): label, traffic class, bottom-of-stack bit, TTL per entry. */
export class MplsView {
  count = 0;
  off = 0;
  readonly label = new Uint32Array(MAX_MPLS);
  readonly tc = new Uint8Array(MAX_MPLS);
  readonly s = new Uint8Array(MAX_MPLS);
  readonly ttl = new Uint8Array(MAX_MPLS);
  reset(): void {
    this.count = 0;
  }
}

/** Where a packet carries DPVS's UOA (lvs-behavior.md §3.3): `UoaView.mode`. */
export const UoaMode = {
  NONE: 0,
  /** An IPv4 option in the IP header (DPVS `uoa_mode ipo`). */
  IPO: 1,
  /** The IP protocol 248 shim between the IP header and UDP (DPVS `uoa_mode opp`). */
  OPP: 2,
} as const;

/**
 * DPVS's UDP Option of Address: the client address and port a FullNAT director puts in the
 * first datagrams of a UDP connection, as an IPv4 option (code 31) or inside its private
 * protocol-248 shim. Offsets and numbers only, as the other views.
 */
export class UoaView {
  /** A UoaMode. */
  mode = 0;
  /** Offset of the UOA option's code byte; −1 when none was found (a shim without one). */
  optOff = -1;
  /** The option's code and length bytes as on the wire. */
  code = 0;
  len = 0;
  /** Client port and address (len 8 → IPv4, len 20 → IPv6, else family 0 and no address). */
  port = 0;
  addrOff = 0;
  family: 0 | 4 | 6 = 0;
  /** IPv4 address as uint32. */
  addr4 = 0;
  /** The opp shim: its offset, version nibble (1 IPv4, 2 IPv6), reserved nibble, the protocol
   *  it carries and its length field (shim header plus options). */
  shimOff = 0;
  shimVersion = 0;
  shimRsvd = 0;
  shimProto = 0;
  shimLen = 0;
  reset(): void {
    this.mode = 0;
    this.optOff = -1;
    this.family = 0;
    this.addr4 = 0;
  }
}

/** One network stack: an IP header and what it carries. A packet has up to three (see Packet). */
export class NetLayers {
  readonly ip = new IpView();
  readonly tcp = new TcpView();
  readonly udp = new UdpView();
  readonly icmp = new IcmpView();
  /** DPVS's UOA when the packet carries one (`uoa.mode` ≠ 0); the transport is the UDP after it. */
  readonly uoa = new UoaView();
  l4: L4Kind = null;
  reset(): void {
    this.ip.reset();
    this.tcp.reset();
    this.udp.reset();
    this.icmp.reset();
    this.uoa.reset();
    this.l4 = null;
  }
  get present(): boolean {
    return this.ip.version !== 0;
  }
}

/**
 * One encapsulation level: the header that opened it (GRE, GUE, VXLAN…, or nothing beyond the
 * carried IP header for IPIP/SIT/6in6), the Ethernet frame it carries if any (TEB, ERSPAN,
 * VXLAN, Geneve), an MPLS label stack if any, and the IP stack inside. Level i is carried by
 * level i−1's stack (level 0 by `Packet.net`). Numbers only: one pool per Packet, reused.
 */
export class EncapLevel {
  kind: EncapKind = 'ipip';
  /** Offset of the encapsulation header (for IPIP/SIT/6in6: of the carried IP header). */
  hdrOff = 0;
  /** Length of the encapsulation header (options and subheaders included); 0 for IPIP/SIT. */
  hdrLen = 0;
  /** GRE: the flags/version word, protocol type and the optional fields (RFC 2784/2890, 2637). */
  greFlags = 0;
  greVersion = 0;
  greProto = 0;
  greChecksum = -1;
  /** GRE checksum verdict over header and payload; null when absent, not verifiable or cut. */
  greChecksumOk: boolean | null = null;
  /** v0 key or, for v1, payload length (high 16 bits) and call ID (low 16); -1 when absent. */
  greKey = -1;
  greSeq = -1;
  /** v1 acknowledgment number; -1 when absent. */
  greAck = -1;
  /** PPP protocol field carried by GRE v1; -1 when none was read. */
  pppProto = -1;
  /** VXLAN/Geneve: VNI; ERSPAN: session ID. */
  vni = -1;
  /** VXLAN flags byte; Geneve O/C bits byte; ERSPAN: the ver/vlan word. */
  flags = 0;
  /** Geneve: protocol type and options length in bytes; GUE: proto/ctype. */
  proto = 0;
  optLen = 0;
  /** ERSPAN: VLAN, CoS, encapsulation type/BSO, truncated bit; index (II) or timestamp (III). */
  spanVlan = 0;
  spanCos = 0;
  spanEn = 0;
  spanT = 0;
  spanIndex = 0;
  /** ERSPAN III: SGT, hardware ID, direction, granularity, platform subheader present. */
  spanSgt = 0;
  spanHwId = 0;
  spanDir = 0;
  spanGra = 0;
  spanO = 0;
  /** ERSPAN III frame type: 0 Ethernet (the only one decoded further), 2 IP. */
  spanFt = 0;
  /** Carried Ethernet frame (TEB, ERSPAN, VXLAN, Geneve 0x6558), and ARP/RARP when it carries that. */
  readonly eth = new EthernetView();
  readonly vlan = new VlanView();
  readonly arp = new ArpView();
  readonly mpls = new MplsView();
  readonly net: NetLayers;

  constructor(net: NetLayers) {
    this.net = net;
  }

  reset(): void {
    this.hdrLen = 0;
    this.greFlags = 0;
    this.greVersion = 0;
    this.greProto = 0;
    this.greChecksum = -1;
    this.greChecksumOk = null;
    this.greKey = -1;
    this.greSeq = -1;
    this.greAck = -1;
    this.pppProto = -1;
    this.vni = -1;
    this.flags = 0;
    this.proto = 0;
    this.optLen = 0;
    this.eth.reset();
    this.vlan.reset();
    this.arp.reset();
    this.mpls.reset();
    this.net.reset();
  }
}

export class MalformedInfo {
  present = false;
  layer: LayerName = 'link';
  /** Byte offset of the problem relative to the frame's first byte (not absolute in `buf`). */
  offset = 0;
  reason = '';
  set(layer: LayerName, offset: number, reason: string): void {
    // Keep the first (outermost) problem: it is the one that stopped decoding.
    if (this.present) return;
    this.present = true;
    this.layer = layer;
    this.offset = offset;
    this.reason = reason;
  }
  reset(): void {
    this.present = false;
  }
}

export class Packet {
  /** Frame metadata copied from the reader (numbers and references only). */
  capture = '';
  frame = 0;
  tsSec = 0;
  tsNsec = 0;
  caplen = 0;
  len = 0;
  linkType = 0;
  interfaceId = 0;
  /** From pcapng epb_flags, or from the SLL packet type (4 = outgoing → 'out'). */
  direction: Direction = null;
  buf: Buffer = Buffer.alloc(0);
  /** Offset of the first byte of the frame in `buf`; all other offsets are absolute in `buf`. */
  off = 0;
  /** End of captured bytes (off + caplen). */
  end = 0;

  readonly eth = new EthernetView();
  readonly sll = new SllView();
  readonly vlan = new VlanView();
  readonly arp = new ArpView();
  /** MPLS labels between the link layer and `net` (EtherType 0x8847/0x8848). */
  readonly mpls = new MplsView();
  /** The outermost IP packet. */
  readonly net = new NetLayers();
  /** IPVS TUN encapsulation found in `net` (IPIP, 6in4, GRE over IP, GUE): level 0's kind when
   *  it is one of those, else null (overlays such as VXLAN are in `levels` only). */
  tunnel: TunnelKind = null;
  /** Offset of level 0's header (the carried IP header for IPIP/SIT, GRE or GUE header). */
  tunnelHdrOff = 0;
  /** Level 0's stack: the packet `net` carries (same object as `levels[0].net`). */
  readonly inner = new NetLayers();
  /** Encapsulation levels, outermost first; `depth` of them are filled for this frame. */
  readonly levels: readonly EncapLevel[];
  depth = 0;
  /** The packet quoted by an ICMP error (of `net` or of `inner`). */
  readonly quoted = new NetLayers();
  /** Mirror/overlay carriers the decoder removed (DecodeOptions.decap): every view above then
   *  describes the carried Ethernet frame, and `off`/`caplen`/`len` still the captured one. */
  readonly mirror = new MirrorView();

  /** Layer at which the capture ran out (snaplen), or null when every layer was complete. */
  truncated: LayerName | null = null;
  readonly malformed = new MalformedInfo();

  constructor() {
    const levels: EncapLevel[] = [new EncapLevel(this.inner)];
    for (let i = 1; i < MAX_LEVELS; i++) levels.push(new EncapLevel(new NetLayers()));
    this.levels = levels;
  }

  reset(): void {
    this.resetOuter();
    this.inner.reset();
    this.quoted.reset();
  }

  /** The stack of level `i` (−1 or below: `net`). */
  stackAt(i: number): NetLayers {
    return i < 0 ? this.net : this.levels[i]!.net;
  }

  /** reset() except `inner` and `quoted`: for a decoder that knows it left those two in
   *  their reset state (resetting them is half the cost of reset(), per packet). */
  resetOuter(): void {
    this.direction = null;
    this.eth.reset();
    this.sll.reset();
    this.vlan.reset();
    this.arp.reset();
    this.mpls.reset();
    this.net.reset();
    this.tunnel = null;
    // Levels are reset as they are opened (EncapLevel.reset); level 0's stack is `inner`.
    this.depth = 0;
    this.truncated = null;
    this.malformed.reset();
    this.mirror.count = 0;
  }

  /** The stack whose transport rules care about: the tunnelled packet in TUN mode, else the outer one. */
  get transport(): NetLayers {
    return this.tunnel !== null && this.inner.present ? this.inner : this.net;
  }
}

/** TCP flag bits. */
export const TcpFlag = {
  FIN: 0x001,
  SYN: 0x002,
  RST: 0x004,
  PSH: 0x008,
  ACK: 0x010,
  URG: 0x020,
  ECE: 0x040,
  CWR: 0x080,
  NS: 0x100,
} as const;

/** IP protocol numbers used across the project. */
export const IpProto = {
  ICMP: 1,
  IPIP: 4,
  TCP: 6,
  UDP: 17,
  IPV6: 41,
  GRE: 47,
  ICMPV6: 58,
  /** DPVS's private "option protocol" carrying UOA before the UDP header (`IPPROTO_OPT`). */
  UOA_SHIM: 248,
} as const;

export const EtherType = {
  IPV4: 0x0800,
  ARP: 0x0806,
  RARP: 0x8035,
  VLAN: 0x8100,
  QINQ: 0x88a8,
  QINQ_OLD: 0x9100,
  IPV6: 0x86dd,
  MPLS: 0x8847,
  MPLS_MULTICAST: 0x8848,
  TEB: 0x6558,
  ERSPAN2: 0x88be,
  ERSPAN3: 0x22eb,
  PPP: 0x880b,
} as const;

/** UDP ports of the overlays decoded by port (IANA). */
export const UdpPort = {
  VXLAN: 4789,
  GENEVE: 6081,
  GRE_UDP: 4754,
  MPLS_UDP: 6635,
} as const;

/** TOA option kinds known in the field (lvs-behavior.md §2.3, §3.1). */
export const ToaKind = {
  ALIBABA_V4: 254,
  ALIBABA_V6: 253,
  DPVS: 254,
  JUPITER_V4: 200,
  JUPITER_V6: 201,
  UCLOUD: 252,
} as const;

/** Capture transports a mirror or overlay wraps frames in (`DecapOptions.kinds`): ERSPAN
 *  I/II/III, VXLAN, Geneve carrying Ethernet, GRE (or GRE-in-UDP) transparent bridging. */
export type MirrorKind = 'erspan' | 'vxlan' | 'geneve' | 'teb';

/**
 * Which outermost encapsulations the decoder removes, so that the Ethernet frame they carry is
 * the packet (`Packet.mirror` says what was removed). Plain data: it crosses to worker threads.
 */
export interface DecapOptions {
  /** 'auto': any level 0 that carries an Ethernet frame, unless its destination is in
   *  `keepTo`; a list: levels of those kinds, whatever their destination. */
  kinds: 'auto' | readonly MirrorKind[];
  /** auto: outer destinations (address text) whose overlay traffic is a service's own. */
  keepTo: readonly string[];
  /** UDP destination ports also read as VXLAN / Geneve (a Linux VXLAN device's 8472). */
  vxlanPorts: readonly number[];
  genevePorts: readonly number[];
}

/** What the decoder removed from the current frame (DecapOptions); `count` 0: nothing. */
export class MirrorView {
  /** Carriers removed, outermost first counted. */
  count = 0;
  /** The outermost one's level kind and mirror kind (ERSPAN I is a 'gre' level of kind
   *  'erspan'), and its session (ERSPAN session ID, VXLAN/Geneve VNI; −1 none). */
  kind: EncapKind = 'vxlan';
  type: MirrorKind = 'vxlan';
  session = -1;
  /** ERSPAN III timestamp (in its granularity's units), −1 for every other kind. */
  spanTimestamp = -1;
}

/** Decoder options. */
export interface DecodeOptions {
  /** TCP option kinds accepted as TOA; default [254, 253]. */
  toaKinds: readonly number[];
  /** Verify IP/L4 checksums (costs a pass over the bytes). Default true. */
  checksums: boolean;
  /** UDP destination ports decoded as GUE (default [6080]: the kernel's documented example). */
  guePorts: readonly number[];
  /** Mirror/overlay encapsulations to look through; null keeps every frame as captured. */
  decap: DecapOptions | null;
}

export const defaultDecodeOptions: DecodeOptions = {
  toaKinds: [254, 253],
  checksums: true,
  guePorts: [6080],
  decap: null,
};
