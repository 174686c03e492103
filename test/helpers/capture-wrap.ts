/**
 * Wrapping a capture as a switch or cloud mirror delivers it to a collector: every Ethernet frame
 * inside ERSPAN II or III (GRE with a sequence number, Cisco/Arista/Linux erspan devices),
 * VXLAN (AWS VPC traffic mirroring, a Linux VXLAN device) or Geneve (carrying Ethernet), in an
 * IPv4 packet from the mirroring device to the collector. One frame in, one frame out, with the
 * same timestamp, so frame numbers and times stay those of the unwrapped capture.
 *
 * The outer headers come from the project's packet builder; the mirror headers it has no layer
 * for are written here from their specifications (ERSPAN: draft-foschiano-erspan; VXLAN:
 * RFC 7348 §5; Geneve: RFC 8926 §3.4).
 */
import { PacketBuilder } from '../../src/replay/builder/index.js';
import { readPcap, writePcap } from './capture-transform.js';

export type WrapKind = 'erspan2' | 'erspan3' | 'vxlan' | 'geneve';
export const WRAP_KINDS: readonly WrapKind[] = ['erspan2', 'erspan3', 'vxlan', 'geneve'];

export interface WrapOptions {
  /** ERSPAN session ID (10 bits) or VXLAN/Geneve VNI (24 bits). */
  session: number;
  /** The mirroring device (outer source) and the collector (outer destination). */
  from: string;
  to: string;
  /** UDP destination port for VXLAN/Geneve; default the IANA one (4789, 6081). */
  port?: number;
}

const LINKTYPE_ETHERNET = 1;
const COLLECTOR_MAC = '02:c0:11:ec:70:01';
const MIRROR_MAC = '02:c0:11:ec:70:02';

/** ERSPAN type II header: version 1, VLAN 0, CoS 0, encapsulation type 0, session, index. */
function erspan2Header(session: number, index: number): Buffer {
  const h = Buffer.alloc(8);
  h.writeUInt16BE(0x1000, 0);
  h.writeUInt16BE(session & 0x3ff, 2);
  h.writeUInt32BE(index & 0xfffff, 4);
  return h;
}

/** ERSPAN type III header: version 2, session, a timestamp, SGT 0, frame type 0 (Ethernet),
 *  hardware ID 1, direction ingress, granularity 0 (100 µs units), no platform subheader. */
function erspan3Header(session: number, timestamp: number): Buffer {
  const h = Buffer.alloc(12);
  h.writeUInt16BE(0x2000, 0);
  h.writeUInt16BE(session & 0x3ff, 2);
  h.writeUInt32BE(timestamp >>> 0, 4);
  h.writeUInt16BE(0, 8);
  h.writeUInt16BE(1 << 4, 10);
  return h;
}

function vxlanHeader(vni: number): Buffer {
  const h = Buffer.alloc(8);
  h[0] = 0x08;
  h.writeUIntBE(vni & 0xffffff, 4, 3);
  return h;
}

function geneveHeader(vni: number): Buffer {
  const h = Buffer.alloc(8);
  h.writeUInt16BE(0x6558, 2);
  h.writeUIntBE(vni & 0xffffff, 4, 3);
  return h;
}

/** One Ethernet frame wrapped as mirror copy number `seq` (GRE sequence, outer IP ID). */
export function wrapFrame(frame: Buffer, kind: WrapKind, seq: number, o: WrapOptions): Buffer {
  const outer = PacketBuilder.eth({ src: MIRROR_MAC, dst: COLLECTOR_MAC }).ipv4({ src: o.from, dst: o.to, id: seq & 0xffff, ttl: 62 });
  switch (kind) {
    case 'erspan2':
      return outer.gre({ protocol: 0x88be, seq }).payload(Buffer.concat([erspan2Header(o.session, seq), frame])).build();
    case 'erspan3':
      return outer.gre({ protocol: 0x22eb, seq }).payload(Buffer.concat([erspan3Header(o.session, seq * 10), frame])).build();
    case 'vxlan':
      // The source port is a hash of the inner flow in practice; any fixed one is valid.
      return outer.udp({ sport: 49152 + (seq % 1000), dport: o.port ?? 4789 }).payload(Buffer.concat([vxlanHeader(o.session), frame])).build();
    case 'geneve':
      return outer.udp({ sport: 49152 + (seq % 1000), dport: o.port ?? 6081 }).payload(Buffer.concat([geneveHeader(o.session), frame])).build();
  }
}

/** Bytes `wrapFrame` puts before the mirrored frame. */
export function wrapOverhead(kind: WrapKind): number {
  const base = 14 + 20;
  return base + (kind === 'erspan2' ? 8 + 8 : kind === 'erspan3' ? 8 + 12 : 8 + 8);
}

/**
 * A classic pcap of Ethernet frames, every frame wrapped (`wrapFrame`): the collector's capture
 * of that point. A frame the capture cut keeps its cut (the wrapped frame's original length is
 * the wrapped original). Throws for other link types: a mirror copies Ethernet frames.
 */
export function wrapPcap(bytes: Buffer, kind: WrapKind, o: WrapOptions): Buffer {
  const f = readPcap(bytes);
  if (f.linkType !== LINKTYPE_ETHERNET) throw new Error(`wrapPcap: link type ${f.linkType} is not Ethernet`);
  const extra = wrapOverhead(kind);
  const header = Buffer.from(f.header);
  // The snaplen must let the wrapped frames through whole when the originals were.
  const snapAt = 16;
  const snap = f.le ? header.readUInt32LE(snapAt) : header.readUInt32BE(snapAt);
  const bigger = Math.min(0xffffffff, snap + extra);
  if (f.le) header.writeUInt32LE(bigger, snapAt);
  else header.writeUInt32BE(bigger, snapAt);
  const packets = f.packets.map((p, i) => {
    const data = wrapFrame(p.data, kind, i + 1, o);
    if (p.origLen > p.data.length) claimWhole(data, p.origLen + extra);
    return { ...p, data, origLen: p.origLen + extra };
  });
  return writePcap({ ...f, header, packets });
}

/** A cut frame's outer lengths say what was on the wire (the collector's snaplen cut it, not
 *  the mirror): IPv4 total length with its checksum, and the UDP length. */
function claimWhole(data: Buffer, wireLen: number): void {
  const ip = 14;
  data.writeUInt16BE(wireLen - ip, ip + 2);
  data.writeUInt16BE(0, ip + 10);
  let sum = 0;
  for (let i = ip; i < ip + 20; i += 2) sum += data.readUInt16BE(i);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  data.writeUInt16BE(~sum & 0xffff, ip + 10);
  if (data[ip + 9] === 17) data.writeUInt16BE(wireLen - ip - 20, ip + 20 + 4);
}

/** Whether every frame of a classic pcap is Ethernet (what `wrapPcap` takes). */
export function isEthernetPcap(bytes: Buffer): boolean {
  return readPcap(bytes).linkType === LINKTYPE_ETHERNET;
}
