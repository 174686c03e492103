/**
 * Transformations that make a pristine capture look like a production one, as the kernel and
 * tcpdump shape it (../shared/spec/capture-artifacts.md): frames the capture missed, a capture
 * that started late or stopped early, a snaplen cut, TX checksum offload (the partial
 * pseudo-header sum in the L4 checksum field), GRO/TSO super-segments (consecutive TCP segments
 * of one flow merged into one packet) and segmentation (one segment cut into MSS-size pieces),
 * a port mirror's duplicates, multi-queue reordering, 802.1Q tags added or taken off, `-i any`
 * cooked headers, a ring buffer's files, and pcapng with its statistics block.
 *
 * Independent of the project's reader and decoder on purpose: the metamorphic tests transform a
 * capture with this code and check that `verify`, which reads it with its own, keeps its verdict.
 * Reads classic pcap (every committed capture set is classic pcap); link types Ethernet (with
 * 802.1Q tags), Linux SLL and SLL2. Writes classic pcap, or pcapng (`asPcapng`).
 */

export interface PcapPacket {
  tsSec: number;
  /** Microseconds or nanoseconds, as the file's magic says. */
  tsFrac: number;
  origLen: number;
  data: Buffer;
}

export interface PcapFile {
  /** The 24-byte file header, kept as read (magic, version, snaplen, link type). */
  header: Buffer;
  le: boolean;
  linkType: number;
  packets: PcapPacket[];
}

export function readPcap(bytes: Buffer): PcapFile {
  const magicLe = bytes.readUInt32LE(0);
  const le = magicLe === 0xa1b2c3d4 || magicLe === 0xa1b23c4d;
  if (!le && bytes.readUInt32BE(0) !== 0xa1b2c3d4 && bytes.readUInt32BE(0) !== 0xa1b23c4d) throw new Error('not a classic pcap file');
  const u32 = (o: number): number => (le ? bytes.readUInt32LE(o) : bytes.readUInt32BE(o));
  const packets: PcapPacket[] = [];
  let o = 24;
  while (o + 16 <= bytes.length) {
    const caplen = u32(o + 8);
    if (o + 16 + caplen > bytes.length) break;
    packets.push({ tsSec: u32(o), tsFrac: u32(o + 4), origLen: u32(o + 12), data: Buffer.from(bytes.subarray(o + 16, o + 16 + caplen)) });
    o += 16 + caplen;
  }
  return { header: Buffer.from(bytes.subarray(0, 24)), le, linkType: u32(20) & 0x0fffffff, packets };
}

export function writePcap(f: PcapFile): Buffer {
  const parts: Buffer[] = [f.header];
  for (const p of f.packets) {
    const h = Buffer.alloc(16);
    const w = (v: number, o: number): number => (f.le ? h.writeUInt32LE(v >>> 0, o) : h.writeUInt32BE(v >>> 0, o));
    w(p.tsSec, 0);
    w(p.tsFrac, 4);
    w(p.data.length, 8);
    w(Math.max(p.origLen, p.data.length), 12);
    parts.push(h, p.data);
  }
  return Buffer.concat(parts);
}

/** Offset of the IP header in a frame of this link type, or -1 (ARP, other EtherTypes). */
export function ipOffset(linkType: number, d: Buffer): number {
  let o: number;
  let type: number;
  if (linkType === 1) {
    if (d.length < 14) return -1;
    o = 14;
    type = d.readUInt16BE(12);
    while ((type === 0x8100 || type === 0x88a8) && d.length >= o + 4) {
      type = d.readUInt16BE(o + 2);
      o += 4;
    }
  } else if (linkType === 113) {
    if (d.length < 16) return -1;
    o = 16;
    type = d.readUInt16BE(14);
  } else if (linkType === 276) {
    if (d.length < 20) return -1;
    o = 20;
    type = d.readUInt16BE(0);
  } else {
    return -1;
  }
  return type === 0x0800 || type === 0x86dd ? o : -1;
}

/** A TCP or UDP segment inside a frame: where its headers are and what identifies it. */
export interface Segment {
  v: 4 | 6;
  ip: number;
  l4: number;
  proto: 6 | 17;
  /** End of the L4 payload inside the frame's bytes (IP total length, not the captured end). */
  end: number;
  src: string;
  dst: string;
  sport: number;
  dport: number;
}

/** The outermost TCP/UDP segment of a frame (not a fragment), fully captured; else null. */
export function segmentOf(linkType: number, d: Buffer): Segment | null {
  const ip = ipOffset(linkType, d);
  if (ip < 0 || d.length < ip + 20) return null;
  const v = d[ip]! >> 4;
  let l4: number;
  let proto: number;
  let end: number;
  let src: string;
  let dst: string;
  if (v === 4) {
    const ihl = (d[ip]! & 15) * 4;
    if ((d.readUInt16BE(ip + 6) & 0x3fff) !== 0) return null;
    proto = d[ip + 9]!;
    l4 = ip + ihl;
    end = ip + d.readUInt16BE(ip + 2);
    src = [...d.subarray(ip + 12, ip + 16)].join('.');
    dst = [...d.subarray(ip + 16, ip + 20)].join('.');
  } else if (v === 6) {
    if (d.length < ip + 40) return null;
    proto = d[ip + 6]!;
    l4 = ip + 40;
    end = l4 + d.readUInt16BE(ip + 4);
    src = d.subarray(ip + 8, ip + 24).toString('hex');
    dst = d.subarray(ip + 24, ip + 40).toString('hex');
  } else {
    return null;
  }
  if ((proto !== 6 && proto !== 17) || end > d.length || end < l4 + (proto === 6 ? 20 : 8)) return null;
  return { v: v as 4 | 6, ip, l4, proto: proto as 6 | 17, end, src, dst, sport: d.readUInt16BE(l4), dport: d.readUInt16BE(l4 + 2) };
}

function sumWords(d: Buffer, from: number, to: number, initial = 0): number {
  let s = initial;
  for (let i = from; i + 1 < to; i += 2) s += d.readUInt16BE(i);
  if ((to - from) & 1) s += d[to - 1]! << 8;
  return s;
}

function fold(s: number): number {
  let x = s;
  while (x > 0xffff) x = (x & 0xffff) + Math.floor(x / 0x10000);
  return x;
}

function pseudoSum(d: Buffer, s: Segment): number {
  const len = s.end - s.l4;
  if (s.v === 4) return sumWords(d, s.ip + 12, s.ip + 20) + s.proto + len;
  return sumWords(d, s.ip + 8, s.ip + 40) + s.proto + (len & 0xffff) + Math.floor(len / 0x10000);
}

const l4ChecksumAt = (s: Segment): number => s.l4 + (s.proto === 6 ? 16 : 6);

/** Writes a correct L4 checksum (UDP: 0xffff for a computed 0, RFC 768). */
export function fixL4Checksum(d: Buffer, s: Segment): void {
  const at = l4ChecksumAt(s);
  d.writeUInt16BE(0, at);
  let c = ~fold(sumWords(d, s.l4, s.end, pseudoSum(d, s))) & 0xffff;
  if (c === 0 && s.proto === 17) c = 0xffff;
  d.writeUInt16BE(c, at);
}

/** Writes the partial sum TX checksum offload leaves in the field: the folded pseudo-header sum,
 *  not complemented (__tcp_v4_send_check, udp4_hwcsum). A UDP datagram without a checksum (0
 *  over IPv4) keeps none. */
export function partialL4Checksum(d: Buffer, s: Segment): void {
  const at = l4ChecksumAt(s);
  if (s.proto === 17 && s.v === 4 && d.readUInt16BE(at) === 0) return;
  d.writeUInt16BE(fold(pseudoSum(d, s)), at);
}

export function fixIpv4Checksum(d: Buffer, ip: number): void {
  const ihl = (d[ip]! & 15) * 4;
  d.writeUInt16BE(0, ip + 10);
  d.writeUInt16BE(~fold(sumWords(d, ip, ip + ihl)) & 0xffff, ip + 10);
}

export const copy = (f: PcapFile): PcapFile => ({ ...f, header: Buffer.from(f.header), packets: f.packets.map((p) => ({ ...p, data: Buffer.from(p.data) })) });

/** Frames the capture missed ("packets dropped by kernel"): the frames at these indexes go. */
export function dropFrames(f: PcapFile, drop: (index: number) => boolean): PcapFile {
  return { ...f, packets: f.packets.filter((_, i) => !drop(i)) };
}

/** A capture started late (`from`) or stopped early (`to`, exclusive): only frames in between. */
export function cutSpan(f: PcapFile, from: number, to: number): PcapFile {
  return { ...f, packets: f.packets.slice(from, to) };
}

/** `tcpdump -s SNAPLEN`: every frame cut to at most `snaplen` bytes, its original length kept. */
export function snaplen(f: PcapFile, snap: number): PcapFile {
  const header = Buffer.from(f.header);
  if (f.le) header.writeUInt32LE(snap, 16);
  else header.writeUInt32BE(snap, 16);
  return { ...f, header, packets: f.packets.map((p) => ({ ...p, origLen: Math.max(p.origLen, p.data.length), data: p.data.subarray(0, Math.min(p.data.length, snap)) })) };
}

/** TX checksum offload on the capturing host: the TCP/UDP segments `sentHere` selects carry the
 *  partial pseudo-header sum instead of their checksum. */
export function partialChecksums(f: PcapFile, sentHere: (s: Segment) => boolean): PcapFile {
  const out = copy(f);
  for (const p of out.packets) {
    const s = segmentOf(f.linkType, p.data);
    if (s && sentHere(s)) partialL4Checksum(p.data, s);
  }
  return out;
}

const flowKey = (s: Segment): string => `${s.src}|${s.sport}|${s.dst}|${s.dport}`;
const reverseKey = (s: Segment): string => `${s.dst}|${s.dport}|${s.src}|${s.sport}`;

interface TcpData {
  index: number;
  seg: Segment;
  seq: number;
  flags: number;
  dataOff: number;
  payload: number;
}

function tcpData(linkType: number, p: PcapPacket, index: number): TcpData | null {
  const s = segmentOf(linkType, p.data);
  if (!s || s.proto !== 6) return null;
  const hl = (p.data[s.l4 + 12]! >> 4) * 4;
  const flags = p.data[s.l4 + 13]!;
  const payload = s.end - s.l4 - hl;
  // Only plain data segments are merged or cut: SYN, FIN and RST stay as they are.
  if (payload <= 0 || (flags & 0x07) !== 0 || p.data.length < s.end) return null;
  return { index, seg: s, seq: p.data.readUInt32BE(s.l4 + 4), flags, dataOff: s.l4 + hl, payload };
}

/**
 * GRO on the receiving host, or TSO/GSO seen at the sending host: runs of consecutive TCP data
 * segments of one flow (in sequence, with no packet of the reverse direction between them, at
 * most `max` segments and 64 KB) become one packet with the first segment's headers (IP ID, TCP
 * checksum: no longer valid for the merged payload), ACK and window of the last, PSH if any had
 * it, the IPv4 header checksum recomputed (inet_gro_complete). It takes the place and time of
 * the run's last segment. `which(seg)` selects the flows to merge.
 */
export function mergeSegments(f: PcapFile, max: number, which: (s: Segment) => boolean = () => true): PcapFile {
  const runs = new Map<string, TcpData[]>();
  const merged: Array<{ at: number; packet: PcapPacket; drop: number[] }> = [];
  const close = (key: string): void => {
    const run = runs.get(key);
    runs.delete(key);
    if (!run || run.length < 2) return;
    const first = f.packets[run[0]!.index]!;
    const last = f.packets[run[run.length - 1]!.index]!;
    const head = first.data.subarray(0, run[0]!.dataOff);
    const data = Buffer.concat([Buffer.from(head), ...run.map((r) => f.packets[r.index]!.data.subarray(r.dataOff, r.seg.end))]);
    const s = run[0]!.seg;
    const lastSeg = run[run.length - 1]!;
    const lastData = last.data;
    data.writeUInt32BE(lastData.readUInt32BE(lastSeg.seg.l4 + 8), s.l4 + 8);
    data.writeUInt16BE(lastData.readUInt16BE(lastSeg.seg.l4 + 14), s.l4 + 14);
    data[s.l4 + 13] = run.reduce((fl, r) => fl | (r.flags & 0x08), data[s.l4 + 13]! & ~0x08);
    if (s.v === 4) {
      data.writeUInt16BE(data.length - s.ip, s.ip + 2);
      fixIpv4Checksum(data, s.ip);
    } else {
      data.writeUInt16BE(data.length - s.ip - 40, s.ip + 4);
    }
    merged.push({ at: lastSeg.index, packet: { tsSec: last.tsSec, tsFrac: last.tsFrac, origLen: data.length, data }, drop: run.map((r) => r.index) });
  };
  f.packets.forEach((p, i) => {
    const s = segmentOf(f.linkType, p.data);
    if (!s || s.proto !== 6) return;
    // A packet of the reverse direction (an ACK) ends the run it answers.
    if (runs.has(reverseKey(s))) close(reverseKey(s));
    const key = flowKey(s);
    const d = which(s) ? tcpData(f.linkType, p, i) : null;
    const run = runs.get(key);
    if (!d) {
      close(key);
      return;
    }
    const prev = run?.[run.length - 1];
    const bytes = run ? run.reduce((n, r) => n + r.payload, 0) : 0;
    if (run && prev && ((prev.seq + prev.payload) >>> 0) === d.seq && run.length < max && bytes + d.payload <= 65000) {
      run.push(d);
      return;
    }
    close(key);
    runs.set(key, [d]);
  });
  for (const key of [...runs.keys()]) close(key);
  const dropped = new Set(merged.flatMap((m) => m.drop));
  const byAt = new Map(merged.map((m) => [m.at, m.packet]));
  const packets: PcapPacket[] = [];
  f.packets.forEach((p, i) => {
    const m = byAt.get(i);
    if (m) packets.push(m);
    else if (!dropped.has(i)) packets.push(p);
  });
  return { ...f, packets };
}

/**
 * TSO/GSO seen downstream of the sender: every TCP data segment `which` selects with more than
 * `mss` bytes of payload is cut into `mss`-size segments, as the NIC or the GSO path does: the
 * next IPv4 ID for each, PSH only on the last, lengths and both checksums recomputed, the same
 * timestamp.
 *
 * `wireMss` (a divisor of `mss`; default `mss`) is the size the sender's segmentation cut on the
 * wire when this capture shows them merged again by GRO `mss / wireMss` at a time: a piece then
 * carries the IP ID of the first wire segment it took in (inet_gro_receive merges only segments
 * whose IDs follow each other, and keeps the first one's header). Captures of one connection at
 * several points cut at different sizes agree on the ID at each byte only this way, as on a real
 * path, where every point sees the same wire segments or merges of them.
 */
export function splitSegments(f: PcapFile, mss: number, which: (s: Segment) => boolean = () => true, wireMss = mss): PcapFile {
  if (mss % wireMss !== 0) throw new Error(`splitSegments: ${mss} is not a multiple of the wire MSS ${wireMss}`);
  const packets: PcapPacket[] = [];
  f.packets.forEach((p, i) => {
    const d = tcpData(f.linkType, p, i);
    if (!d || d.payload <= mss || !which(d.seg)) {
      packets.push(p);
      return;
    }
    const s = d.seg;
    for (let off = 0; off < d.payload; off += mss) {
      const len = Math.min(mss, d.payload - off);
      const data = Buffer.concat([Buffer.from(p.data.subarray(0, d.dataOff)), p.data.subarray(d.dataOff + off, d.dataOff + off + len)]);
      data.writeUInt32BE((d.seq + off) >>> 0, s.l4 + 4);
      if (off + len < d.payload) data[s.l4 + 13] = data[s.l4 + 13]! & ~0x08;
      if (s.v === 4) {
        data.writeUInt16BE(data.length - s.ip, s.ip + 2);
        data.writeUInt16BE((p.data.readUInt16BE(s.ip + 4) + off / wireMss) & 0xffff, s.ip + 4);
        fixIpv4Checksum(data, s.ip);
      } else {
        data.writeUInt16BE(data.length - s.ip - 40, s.ip + 4);
      }
      fixL4Checksum(data, { ...s, end: data.length });
      packets.push({ tsSec: p.tsSec, tsFrac: p.tsFrac, origLen: data.length, data });
    }
  });
  return { ...f, packets };
}

/** True when the file's timestamps are in nanoseconds (magic 0xa1b23c4d). */
const nanoOf = (f: PcapFile): boolean => (f.le ? f.header.readUInt32LE(0) : f.header.readUInt32BE(0)) === 0xa1b23c4d;

/** Nanoseconds since the epoch of a packet's timestamp (a float: exact to well under 1 µs). */
export function packetNs(f: PcapFile, p: PcapPacket): number {
  return p.tsSec * 1e9 + (nanoOf(f) ? p.tsFrac : p.tsFrac * 1000);
}

/** The packet with its timestamp moved by `ns` (rounded to the file's resolution). */
function shifted(f: PcapFile, p: PcapPacket, ns: number): PcapPacket {
  const unit = nanoOf(f) ? 1 : 1000;
  const ticks = Math.round(p.tsFrac + ns / unit);
  const perSec = 1e9 / unit;
  const sec = p.tsSec + Math.floor(ticks / perSec);
  return { ...p, tsSec: sec, tsFrac: ticks - Math.floor(ticks / perSec) * perSec };
}

/**
 * A port mirror (SPAN/TAP, capture-artifacts.md §4) that copies both directions of two mirrored
 * ports shows each frame `which` selects twice: as it entered the switch and as it left, the
 * second copy `delayNs` later (the switch's forwarding time) and, where the mirror truncates,
 * cut to `truncateTo` bytes (its original length kept).
 */
export function mirrorDuplicates(f: PcapFile, which: (index: number) => boolean, delayNs: number, truncateTo = Infinity): PcapFile {
  const packets: PcapPacket[] = [];
  f.packets.forEach((p, i) => {
    packets.push(p);
    if (!which(i)) return;
    const again = shifted(f, p, delayNs);
    packets.push({ ...again, origLen: Math.max(p.origLen, p.data.length), data: Buffer.from(p.data.subarray(0, Math.min(p.data.length, truncateTo))) });
  });
  // The copies come out in the order they were taken.
  packets.sort((a, b) => packetNs(f, a) - packetNs(f, b));
  return { ...f, packets };
}

/** The endpoints (address and port) of a TCP/UDP frame, or null for any other frame. */
function endpointsOf(linkType: number, d: Buffer): [string, string] | null {
  const s = segmentOf(linkType, d);
  return s ? [`${s.src}|${s.sport}`, `${s.dst}|${s.dport}`] : null;
}

/**
 * A multi-queue NIC (capture-artifacts.md §4): flows are received on different queues (RSS
 * hashes addresses and ports), queues are served by different CPUs, and the tap writes their
 * packets in the order the CPUs get to it, not the order of their timestamps. The file then
 * shows timestamps stepping back by up to `withinNs` between packets that share no endpoint:
 * packets of one connection (either direction, or its copies in and out of a forwarding host)
 * are handled one after the other and stay in order, and every packet keeps its own timestamp.
 * `seed` decides which neighbouring packets swap places.
 */
export function queueReorder(f: PcapFile, withinNs: number, seed: number): PcapFile {
  const packets = [...f.packets];
  let x = seed >>> 0 || 1;
  const rand = (): number => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 0x1_0000_0000;
  };
  for (let i = 1; i < packets.length; i++) {
    const a = packets[i - 1]!;
    const b = packets[i]!;
    if (rand() < 0.5 || packetNs(f, b) - packetNs(f, a) > withinNs) continue;
    const ea = endpointsOf(f.linkType, a.data);
    const eb = endpointsOf(f.linkType, b.data);
    if (ea === null || eb === null || ea.some((e) => eb.includes(e))) continue;
    packets[i - 1] = b;
    packets[i] = a;
    i++;
  }
  return { ...f, packets };
}

/**
 * A trunk port's capture where the NIC strips the 802.1Q tag and libpcap puts it back from the
 * packet's auxiliary data (capture-artifacts.md §4): every Ethernet frame carries tag `vid`.
 * Captured on the VLAN sub-interface (`eth0.100`) instead, the same frames carry none: the
 * untagged committed captures are that case.
 */
export function vlanTagged(f: PcapFile, vid: number): PcapFile {
  if (f.linkType !== 1) return f;
  const tag = Buffer.from([0x81, 0x00, (vid >> 8) & 0x0f, vid & 0xff]);
  return {
    ...f,
    packets: f.packets.map((p) => {
      if (p.data.length < 14) return p;
      const data = Buffer.concat([p.data.subarray(0, 12), tag, p.data.subarray(12)]);
      return { ...p, origLen: p.origLen + 4, data };
    }),
  };
}

/** A capture on the VLAN sub-interface: the outer 802.1Q tag of every Ethernet frame removed. */
export function vlanStripped(f: PcapFile): PcapFile {
  if (f.linkType !== 1) return f;
  return {
    ...f,
    packets: f.packets.map((p) => {
      if (p.data.length < 18 || p.data.readUInt16BE(12) !== 0x8100) return p;
      return { ...p, origLen: p.origLen - 4, data: Buffer.concat([p.data.subarray(0, 12), p.data.subarray(16)]) };
    }),
  };
}

const macText = (d: Buffer, o: number): string => d.subarray(o, o + 6).toString('hex');

/**
 * The MACs of a capture's requests: frames of a TCP SYN without ACK, or of a UDP datagram from
 * a higher port to a lower one (a client's ephemeral port to a service's), their senders and
 * their receivers. From those of every capture of a set a test tells which MACs belong to the
 * host that took each capture (`cooked`).
 */
export function requestMacs(f: PcapFile): { src: Set<string>; dst: Set<string> } {
  const src = new Set<string>();
  const dst = new Set<string>();
  if (f.linkType !== 1) return { src, dst };
  for (const p of f.packets) {
    const s = segmentOf(f.linkType, p.data);
    if (!s) continue;
    const request = s.proto === 6 ? (p.data[s.l4 + 13]! & 0x12) === 0x02 : s.sport > s.dport;
    if (!request) continue;
    src.add(macText(p.data, 6));
    dst.add(macText(p.data, 0));
  }
  return { src, dst };
}

/**
 * `tcpdump -i any` (capture-artifacts.md §4): Linux cooked headers instead of Ethernet, SLL
 * (`version` 1, link type 113) or SLL2 (2, link type 276). They keep the packet type (to us,
 * broadcast, multicast, another host's, or "outgoing" for what the host sent), the sender's
 * link-layer address and, SLL2, the interface index; the peer's MAC is gone. VLAN tags are
 * taken off as the kernel hands untagged frames to `any` (the tag is not re-inserted there).
 * `ownMacs` are the capturing host's interfaces: what they sent is "outgoing", and frames
 * between other hosts are not captured (`any` does not put interfaces in promiscuous mode).
 * With none given (the capture is not one host's) the file stays as it is.
 */
export function cooked(f: PcapFile, version: 1 | 2, ownMacs: ReadonlySet<string>): PcapFile {
  if (f.linkType !== 1 || ownMacs.size === 0) return f;
  const own = [...ownMacs];
  const header = Buffer.from(f.header);
  const lt = version === 1 ? 113 : 276;
  if (f.le) header.writeUInt32LE(lt, 20);
  else header.writeUInt32BE(lt, 20);
  const packets = vlanStripped(f).packets.flatMap((p) => {
    if (p.data.length < 14) return [];
    const dst = macText(p.data, 0);
    const src = macText(p.data, 6);
    const sent = own.indexOf(src);
    const type = sent >= 0 ? 4 : (p.data[0]! & 1) !== 0 ? (dst === 'ffffffffffff' ? 1 : 2) : own.includes(dst) ? 0 : 3;
    // `any` cannot put interfaces in promiscuous mode: another host's frames are not seen.
    if (type === 3) return [];
    const ifindex = 2 + Math.max(sent, own.indexOf(dst), 0);
    const h = Buffer.alloc(version === 1 ? 16 : 20);
    if (version === 1) {
      h.writeUInt16BE(type, 0);
      h.writeUInt16BE(1, 2);
      h.writeUInt16BE(6, 4);
      p.data.copy(h, 6, 6, 12);
      h.writeUInt16BE(p.data.readUInt16BE(12), 14);
    } else {
      h.writeUInt16BE(p.data.readUInt16BE(12), 0);
      h.writeUInt32BE(ifindex, 4);
      h.writeUInt16BE(1, 8);
      h[10] = type;
      h[11] = 6;
      p.data.copy(h, 12, 6, 12);
    }
    const data = Buffer.concat([h, p.data.subarray(14)]);
    return [{ ...p, origLen: p.origLen - 14 + h.length, data }];
  });
  return { ...f, header, linkType: lt, packets };
}

/**
 * A ring-buffer capture (`tcpdump -C SIZE -W N` or `-G SECONDS`, capture-artifacts.md §4): one
 * point's frames in `parts` consecutive files, each with the file header, cut where a file
 * reached its share of the frames.
 */
export function ringFiles(f: PcapFile, parts: number): PcapFile[] {
  const per = Math.max(1, Math.ceil(f.packets.length / parts));
  const out: PcapFile[] = [];
  for (let i = 0; i < f.packets.length || out.length === 0; i += per) out.push({ ...f, header: Buffer.from(f.header), packets: f.packets.slice(i, i + per) });
  return out;
}

/**
 * The capture as dumpcap writes it, pcapng (one interface, the file's link type and snap
 * length), with the Interface Statistics Block it writes at the end (capture-artifacts.md §3):
 * `isb_ifdrop` (option 5) and `isb_osdrop` (7) as given, `isb_ifrecv` (4) the frames received.
 */
export function asPcapng(f: PcapFile, drops: { ifdrop?: number; osdrop?: number } = {}): Buffer {
  const u16 = (v: number): Buffer => {
    const b = Buffer.alloc(2);
    b.writeUInt16LE(v);
    return b;
  };
  const u32 = (v: number): Buffer => {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(v >>> 0);
    return b;
  };
  const u64 = (v: number): Buffer => Buffer.concat([u32(v % 0x1_0000_0000), u32(Math.floor(v / 0x1_0000_0000))]);
  const opt = (code: number, value: Buffer): Buffer => Buffer.concat([u16(code), u16(value.length), value, Buffer.alloc((4 - (value.length % 4)) % 4)]);
  const block = (type: number, body: Buffer): Buffer => Buffer.concat([u32(type), u32(12 + body.length), body, u32(12 + body.length)]);
  const snap = f.le ? f.header.readUInt32LE(16) : f.header.readUInt32BE(16);
  const parts: Buffer[] = [
    block(0x0a0d0d0a, Buffer.concat([u32(0x1a2b3c4d), u16(1), u16(0), Buffer.alloc(8, 0xff)])),
    // if_tsresol 9: nanoseconds, whatever the classic file's resolution was.
    block(1, Buffer.concat([u16(f.linkType), u16(0), u32(snap), opt(9, Buffer.from([9])), u32(0)])),
  ];
  let last = 0;
  for (const p of f.packets) {
    const ns = BigInt(p.tsSec) * 1_000_000_000n + BigInt(nanoOf(f) ? p.tsFrac : p.tsFrac * 1000);
    last = Number(ns / 1000n);
    const pad = Buffer.alloc((4 - (p.data.length % 4)) % 4);
    parts.push(block(6, Buffer.concat([u32(0), u32(Number(ns >> 32n)), u32(Number(ns & 0xffffffffn)), u32(p.data.length), u32(Math.max(p.origLen, p.data.length)), p.data, pad])));
  }
  const opts = [opt(4, u64(f.packets.length + (drops.ifdrop ?? 0)))];
  if (drops.ifdrop !== undefined) opts.push(opt(5, u64(drops.ifdrop)));
  if (drops.osdrop !== undefined) opts.push(opt(7, u64(drops.osdrop)));
  const isbTs = BigInt(last) * 1000n;
  parts.push(block(5, Buffer.concat([u32(0), u32(Number(isbTs >> 32n)), u32(Number(isbTs & 0xffffffffn)), ...opts, u32(0)])));
  return Buffer.concat(parts);
}
