/**
 * The compact copy of one decoded packet that verify keeps (read/record.ts packs it straight
 * from the decoded packet and reads it back into this object): what correlation matches on and
 * what the rules compare across points.
 */
import type { Direction } from '../../decode/frame.js';

export interface IpFields {
  v: 4 | 6;
  src: string;
  dst: string;
  ttl: number;
  id: number;
  /** IPv6 flow label (0 for IPv4). A director that keeps it, as DPVS does, lets a client's
   *  IPv6 SYN be told on the real-server leg the way an IPv4 ID does. */
  flow: number;
  df: boolean;
  mf: boolean;
  tos: number;
  proto: number;
  totalLen: number;
  checksumOk: boolean | null;
}

/** Where a copy sits on the path: client, director ingress/egress, real server. */
export type Role = 'C' | 'Di' | 'De' | 'R';

export interface PacketRecord {
  /** Index into the run's point list. */
  point: number;
  capture: string;
  frame: number;
  /** Capture timestamp (ns, float) as recorded, and corrected by the point's clock offset. */
  ts: number;
  t: number;
  srcMac: string | null;
  dstMac: string | null;
  /** pcapng epb_flags / SLL packet type direction. */
  direction: Direction;
  ifIndex: number;
  interfaceId: number;
  /** The transport-carrying IP header (the inner one for a tunnelled packet). */
  ip: IpFields;
  /** The outer header of a tunnelled packet (IPIP, GRE, GUE), else null. */
  outer: IpFields | null;
  tunnel: string | null;
  proto: 'tcp' | 'udp';
  sport: number;
  dport: number;
  seq: number;
  ack: number;
  flags: number;
  window: number;
  payloadLen: number;
  /** FNV-1a over the captured payload bytes; -1 when the payload is cut by snaplen. */
  hash: number;
  /** FNV-1a of the TCP option bytes (0 = none), compared across points. */
  optSig: number;
  /** Raw TCP option bytes (null = none): FullNAT rules read TOA, MSS, TS and SACK from them
   *  (judge/fnat-options.ts). Only segments that carry options pay for the copy. */
  tcpOpts: Uint8Array | null;
  /** DPVS's UOA on a UDP datagram (lvs-behavior.md §3.3): 0 none, 1 IPv4 option (`ipo`), 2
   *  protocol-248 shim (`opp`); `uoa` its bytes as captured — the option for ipo, the shim with
   *  its options for opp (null for none). Only FullNAT records keep them, as `tcpOpts`. */
  uoaMode: 0 | 1 | 2;
  uoa: Uint8Array | null;
  l4ChecksumOk: boolean | null;
  /** The L4 checksum is the pseudo-header sum alone: TX checksum offload on the sending host
   *  (or IPVS rewriting such a packet), finished by a NIC after the capture tap. */
  l4ChecksumPartial: boolean;
  /** The MSS option of a SYN or SYN-ACK (0 when absent): the largest segment the sender of the
   *  SYN accepts, by which a larger one is known to be a GSO/TSO or GRO super-segment. */
  mss: number;
  /** Filled by classification. */
  role: Role | null;
  /** true: client → server direction. */
  c2s: boolean;
}

/** What evidence needs of a packet: kept per connection after its packets are dropped. */
/** A packet named as evidence; `note` says what it is where no role does (a packet that is no
 *  record: an ICMP error). */
export type PacketRef = Pick<PacketRecord, 'point' | 'capture' | 'frame' | 'role'> & { note?: string };
