/**
 * IP fragment reassembly for display (`decode --reassemble`): IPv4 (RFC 791) and IPv6 (RFC 8200
 * §4.5 fragment header). Fed every decoded frame of one capture in order, it returns the
 * reassembled datagram, decoded, on the frame whose arrival completes it — the frame tshark
 * shows the datagram's transport on.
 *
 * It accepts and refuses fragments as Linux does (net/ipv4/ip_fragment.c, net/ipv6/reassembly.c,
 * inet_frag_queue_insert), so what it shows is what the receiving kernel would have delivered:
 * - a queue per (src, dst, id, and for IPv4 the protocol);
 * - the last fragment (MF clear) fixes the length: a later fragment beyond it, or a second last
 *   fragment with another end, drops the datagram; an IPv4 non-last fragment's length is cut
 *   down to a multiple of 8, an IPv6 one that is not a multiple of 8 is dropped alone (the kernel
 *   answers it with a parameter problem); a fragment with no data drops the datagram;
 * - a fragment inside a run of fragments already held is a duplicate and is ignored; any other
 *   overlap drops the whole datagram (RFC 5722, which Linux applies to IPv4 too);
 * - a datagram not complete `timeoutSec` (the kernel's ipfrag_time by default) of capture time after its first
 *   fragment is dropped;
 * - memory is bounded: past `maxDatagrams` queues or `maxBytes` of held fragment data a fragment
 *   is refused (as the kernel refuses fragments above ipfrag_high_thresh, whose default `maxBytes` takes).
 * Everything dropped, and every datagram still incomplete at the end of the capture, is
 * reported (`DatagramReport`).
 *
 * A fragment's captured bytes are copied when it is held (the frame's buffer belongs to the
 * reader and is refilled) and once more into the datagram when it completes; held memory is the
 * fragments' bytes, whatever offsets they claim. Frames that are not fragments cost one test.
 */
import { ipv6ToString } from '../addr.js';
import { Decoder } from '../decoder.js';
import type { Frame } from '../frame.js';
import { LinkType } from '../frame.js';
import type { DecodeOptions, Packet } from '../packet.js';

export interface ReassemblyLimits {
  /** Datagrams held at once. */
  maxDatagrams: number;
  /** Fragment data bytes held at once (over every datagram). */
  maxBytes: number;
  /** Seconds of capture time a datagram may take to complete (the kernel's ipfrag_time). */
  timeoutSec: number;
  /** Reports kept for the end of the capture; past it only counted (`omitted`). */
  maxReports: number;
}

export const DEFAULT_REASSEMBLY_LIMITS: ReassemblyLimits = {
  maxDatagrams: 4096,
  maxBytes: 4 << 20,
  timeoutSec: 30,
  maxReports: 10_000,
};

/** Why a datagram was not reassembled. */
export type DropReason =
  | 'overlap' // fragments overlap (RFC 5722): the whole datagram dropped
  | 'length' // fragments disagree on where the datagram ends, or a fragment carries no data
  | 'oversize' // the datagram would exceed 65 535 bytes
  | 'timeout' // not complete within the timeout
  | 'cap' // a fragment refused: too many datagrams or bytes held
  | 'incomplete'; // still missing pieces at the end of the capture

export interface DatagramReport {
  capture: string;
  version: 4 | 6;
  src: string;
  dst: string;
  id: number;
  /** IPv4 protocol; for IPv6 the first fragment's next header, or -1 when it never came. */
  proto: number;
  /** Frames whose fragments the datagram held (accepted ones, in arrival order). */
  frames: number[];
  /** The frame that made the datagram dropped (overlap, length, oversize, cap); -1 otherwise. */
  at: number;
  /** Data bytes held. */
  have: number;
  /** The datagram's data length once its last fragment came, else -1. */
  length: number;
  reason: DropReason;
}

/** A datagram completed by the frame just offered. Valid until the next `offer`. */
export interface Reassembled {
  /** Frames of its fragments in arrival order (the last one is the completing frame). */
  frames: number[];
  /** Frames whose fragment repeated one already held (ignored, as the kernel does). */
  duplicates: number[];
  /** Data bytes reassembled (after the IP header: tshark's ip.reassembled.length). */
  length: number;
  /** Data bytes of it the capture holds (less than `length` when a fragment was cut by snaplen). */
  captured: number;
  /** The reassembled packet decoded as a raw IP packet (its own buffer). */
  packet: Packet;
}

const MAX_DATA = 65535;
const NONE: number[] = [];

/** One datagram being put together. */
class Queue {
  /** Runs of contiguous fragments as [start, end) pairs, sorted by start (the kernel's
   *  frag runs: a fragment that starts where the highest one ends joins its run). */
  runs: number[] = [];
  /** Bytes of data received (without duplicates). */
  meat = 0;
  /** Data length once the last fragment came (or the highest end seen so far). */
  len = 0;
  lastIn = false;
  firstIn = false;
  /** Where the first byte the capture does not hold is (snaplen-cut fragments). */
  cutAt = Infinity;
  /** Captured bytes of each fragment held, copied, at their data offsets: memory follows the
   *  bytes held, whatever offsets they claim. */
  readonly pieces: { offset: number; bytes: Buffer }[] = [];
  /** The first fragment's header, up to its fragment header for IPv6 (copied). */
  header: Buffer | null = null;
  /** IPv6: offset in `header` of the next-header byte that named the fragment header. */
  nextAt = 0;
  /** IPv6: the first fragment's fragment-header next header. */
  proto: number;
  readonly frames: number[] = [];
  /** Frames of duplicate fragments (allocated on the first one). */
  duplicates: number[] | null = null;

  constructor(
    readonly key: string,
    readonly version: 4 | 6,
    readonly src: string,
    readonly dst: string,
    readonly id: number,
    proto: number,
    readonly created: number,
  ) {
    this.proto = proto;
  }

  /** The kernel's inet_frag_queue_insert: 0 inserted, 1 duplicate, 2 overlap. */
  insert(offset: number, end: number): 0 | 1 | 2 {
    const runs = this.runs;
    const n = runs.length;
    if (n === 0) {
      runs.push(offset, end);
      return 0;
    }
    const tailEnd = runs[n - 1]!;
    if (tailEnd < end) {
      if (offset < tailEnd) return 2;
      if (offset === tailEnd) runs[n - 1] = end;
      else runs.push(offset, end);
      return 0;
    }
    let i = 0;
    for (; i < n; i += 2) {
      const s = runs[i]!;
      const e = runs[i + 1]!;
      if (end <= s) break;
      if (offset >= e) continue;
      return offset >= s && end <= e ? 1 : 2;
    }
    runs.splice(i, 0, offset, end);
    return 0;
  }

  /** Keeps a copy of `n` captured bytes of a fragment's data. */
  put(src: Buffer, from: number, offset: number, n: number): void {
    this.pieces.push({ offset, bytes: Buffer.from(src.subarray(from, from + n)) });
  }
}

const EXT_HOP = 0;
const EXT_ROUTING = 43;
const EXT_FRAGMENT = 44;
const EXT_DEST = 60;
const EXT_AH = 51;

export class Reassembler {
  private readonly queues = new Map<string, Queue>();
  private heldBytes = 0;
  /** Earliest time a held datagram times out (Infinity when none is held). */
  private nextExpiry = Infinity;
  private readonly decoder: Decoder;
  private readonly frame: Frame = {
    capture: '', frame: 0, buf: Buffer.alloc(0), off: 0, caplen: 0, len: 0, tsSec: 0, tsNsec: 0,
    linkType: LinkType.RAW, interfaceId: 0, direction: null, comment: null, fileOffset: 0,
  };
  private readonly done: Reassembled;
  private reportList: DatagramReport[] = [];
  /** Reports not kept past `maxReports`. */
  omitted = 0;
  /** Duplicate fragments ignored. */
  duplicates = 0;
  /** IPv6 fragments dropped alone (length not a multiple of 8, data beyond 65 535). */
  badFragments = 0;

  constructor(
    private readonly limits: ReassemblyLimits = DEFAULT_REASSEMBLY_LIMITS,
    decode: Partial<DecodeOptions> = {},
  ) {
    this.decoder = new Decoder(decode);
    this.done = { frames: [], duplicates: [], length: 0, captured: 0, packet: this.decoder.packet };
  }

  /** Datagrams held now (for tests and the memory bound). */
  get held(): { datagrams: number; bytes: number } {
    return { datagrams: this.queues.size, bytes: this.heldBytes };
  }

  /**
   * Takes a decoded frame. Returns the datagram its fragment completes, or null. Only the
   * outer IP packet is reassembled (not a tunnelled or ICMP-quoted one).
   */
  offer(p: Packet): Reassembled | null {
    const ip = p.net.ip;
    // Most frames are not fragments and arrive while nothing is held: two tests.
    if (!ip.isFragment && this.nextExpiry === Infinity) return null;
    const now = p.tsSec + p.tsNsec * 1e-9;
    if (now >= this.nextExpiry) this.expire(now);
    if (!ip.isFragment || ip.version === 0) return null;
    return ip.version === 4 ? this.offer4(p, now) : this.offer6(p, now);
  }

  private offer4(p: Packet, now: number): Reassembled | null {
    const ip = p.net.ip;
    const buf = p.buf;
    // A header the capture cut, or a length below the header: nothing to place.
    if (ip.hdrLen < 20 || ip.off + ip.hdrLen > p.end || ip.totalLen < ip.hdrLen) return null;
    const key = '4 ' + ip.src4 + ' ' + ip.dst4 + ' ' + ip.id + ' ' + ip.proto;
    const offset = ip.fragOffset;
    let end = offset + ip.totalLen - ip.hdrLen;
    const q = this.queueFor(p, key, 4, ip.proto, now);
    if (q === null) return null;
    if (!ip.mf) {
      if (end < q.len || (q.lastIn && end !== q.len)) return this.drop(q, p.frame, 'length');
      q.lastIn = true;
      q.len = end;
    } else {
      end &= ~7;
      if (end > q.len) {
        if (q.lastIn) return this.drop(q, p.frame, 'length');
        q.len = end;
      }
    }
    if (end === offset) return this.drop(q, p.frame, 'length');
    if (ip.hdrLen + end > MAX_DATA) return this.drop(q, p.frame, 'oversize');
    if (!this.place(q, p, offset, end, ip.payloadOff, ip.payloadLen)) return null;
    if (offset === 0) {
      q.firstIn = true;
      q.header = Buffer.from(buf.subarray(ip.off, ip.off + ip.hdrLen));
    }
    return this.complete(q, p);
  }

  private offer6(p: Packet, now: number): Reassembled | null {
    const ip = p.net.ip;
    const buf = p.buf;
    const start = ip.off;
    // The fragment header: after the unfragmentable part (hop-by-hop, routing, destination options).
    const wireEnd = start + ip.totalLen;
    const limit = wireEnd < p.end ? wireEnd : p.end;
    let nextAt = start + 6;
    let nh = buf[nextAt]!;
    let o = start + 40;
    while (nh !== EXT_FRAGMENT) {
      if (nh !== EXT_HOP && nh !== EXT_ROUTING && nh !== EXT_DEST && nh !== EXT_AH) return null;
      if (o + 8 > limit) return null;
      const len = nh === EXT_AH ? (buf[o + 1]! + 2) * 4 : (buf[o + 1]! + 1) * 8;
      nextAt = o;
      nh = buf[o]!;
      o += len;
    }
    if (o + 8 > limit) return null;
    const fragNext = buf[o]!;
    const word = (buf[o + 2]! << 8) | buf[o + 3]!;
    const offset = word & 0xfff8;
    const mf = (word & 1) !== 0;
    // An atomic fragment (offset 0, last) is a whole packet (RFC 6946): nothing to hold.
    if (offset === 0 && !mf) return null;
    const dataOff = o + 8;
    const end = offset + (wireEnd - dataOff);
    if (end > MAX_DATA || (mf && (end & 7) !== 0) || wireEnd < dataOff) {
      this.badFragments++;
      return null;
    }
    const key = '6 ' + ipv6ToString(buf, start + 8) + ' ' + ipv6ToString(buf, start + 24) + ' ' + ip.id;
    const q = this.queueFor(p, key, 6, offset === 0 ? fragNext : -1, now);
    if (q === null) return null;
    if (!mf) {
      if (end < q.len || (q.lastIn && end !== q.len)) return this.drop(q, p.frame, 'length');
      q.lastIn = true;
      q.len = end;
    } else if (end > q.len) {
      if (q.lastIn) return this.drop(q, p.frame, 'length');
      q.len = end;
    }
    if (end === offset) return this.drop(q, p.frame, 'length');
    const captured = dataOff < p.end ? (limit > dataOff ? limit - dataOff : 0) : 0;
    if (!this.place(q, p, offset, end, dataOff, captured)) return null;
    if (offset === 0) {
      q.firstIn = true;
      q.proto = fragNext;
      q.header = Buffer.from(buf.subarray(start, o));
      q.nextAt = nextAt - start;
    }
    return this.complete(q, p);
  }

  /** The datagram's queue, created if new; null when the caps refuse a new one. */
  private queueFor(p: Packet, key: string, version: 4 | 6, proto: number, now: number): Queue | null {
    const found = this.queues.get(key);
    if (found !== undefined) return found;
    if (this.queues.size >= this.limits.maxDatagrams || this.heldBytes >= this.limits.maxBytes) {
      this.report(this.describe(p, version, proto, 'cap'));
      return null;
    }
    const ip = p.net.ip;
    const src = version === 4 ? ipv4Text(ip.src4) : ipv6ToString(p.buf, ip.srcOff);
    const dst = version === 4 ? ipv4Text(ip.dst4) : ipv6ToString(p.buf, ip.dstOff);
    const q = new Queue(key, version, src, dst, ip.id, proto, now);
    this.queues.set(key, q);
    const expiry = now + this.limits.timeoutSec;
    if (expiry < this.nextExpiry) this.nextExpiry = expiry;
    return q;
  }

  /** Inserts [offset, end) and copies the captured part of it; false when the fragment is not kept. */
  private place(q: Queue, p: Packet, offset: number, end: number, from: number, captured: number): boolean {
    const size = end - offset;
    if (this.heldBytes + size > this.limits.maxBytes) {
      // Refused as the kernel refuses fragments over its memory threshold: the datagram stays
      // and will time out unless the piece comes again.
      this.report({ ...this.reportOf(q, 'cap'), at: p.frame });
      if (q.frames.length === 0) this.forget(q);
      return false;
    }
    const r = q.insert(offset, end);
    if (r === 1) {
      this.duplicates++;
      (q.duplicates ??= []).push(p.frame);
      return false;
    }
    if (r === 2) {
      this.drop(q, p.frame, 'overlap');
      return false;
    }
    const n = captured < size ? captured : size;
    if (n > 0) q.put(p.buf, from, offset, n);
    if (n < size && offset + n < q.cutAt) q.cutAt = offset + n;
    q.meat += size;
    this.heldBytes += size;
    q.frames.push(p.frame);
    return true;
  }

  private complete(q: Queue, p: Packet): Reassembled | null {
    if (!q.firstIn || !q.lastIn || q.meat !== q.len || q.header === null) return null;
    this.forget(q);
    const hdr = q.header;
    const total = hdr.length + q.len;
    if (total > MAX_DATA + (q.version === 6 ? 40 : 0)) {
      this.report(this.reportOf(q, 'oversize'));
      return null;
    }
    // Bytes a cut fragment did not capture stay zero; the decoder is told where the cut is.
    const dg = Buffer.alloc(total);
    hdr.copy(dg, 0);
    for (const piece of q.pieces) piece.bytes.copy(dg, hdr.length + piece.offset);
    if (q.version === 4) {
      dg.writeUInt16BE(total, 2);
      dg.writeUInt16BE(dg.readUInt16BE(6) & 0x4000, 6);
      dg.writeUInt16BE(0, 10);
      dg.writeUInt16BE(headerChecksum(dg, hdr.length), 10);
    } else {
      dg[q.nextAt] = q.proto;
      dg.writeUInt16BE(total - 40, 4);
    }
    const captured = q.cutAt < q.len ? q.cutAt : q.len;
    const f = this.frame;
    f.capture = p.capture;
    f.frame = p.frame;
    f.tsSec = p.tsSec;
    f.tsNsec = p.tsNsec;
    f.buf = dg;
    f.caplen = hdr.length + captured;
    f.len = total;
    const d = this.done;
    d.frames = q.frames;
    d.duplicates = q.duplicates ?? NONE;
    d.length = q.len;
    d.captured = captured;
    this.decoder.decode(f);
    return d;
  }

  private drop(q: Queue, frame: number, reason: DropReason): null {
    this.forget(q);
    this.report({ ...this.reportOf(q, reason), at: frame });
    return null;
  }

  private forget(q: Queue): void {
    this.queues.delete(q.key);
    this.heldBytes -= q.meat;
    if (this.queues.size === 0) this.nextExpiry = Infinity;
  }

  /** Drops the datagrams whose time is up. Queues are in creation order, so the scan stops at
   *  the first that still has time (a capture whose clock steps back only delays expiry). */
  private expire(now: number): void {
    const timeout = this.limits.timeoutSec;
    this.nextExpiry = Infinity;
    for (const q of this.queues.values()) {
      if (now - q.created >= timeout) {
        this.forget(q);
        this.report(this.reportOf(q, 'timeout'));
      } else {
        this.nextExpiry = q.created + timeout;
        break;
      }
    }
    if (this.queues.size === 0) this.nextExpiry = Infinity;
  }

  /** Ends a capture: every datagram still held is reported incomplete. Returns, and clears,
   *  the reports gathered since the last call. */
  finish(): DatagramReport[] {
    for (const q of this.queues.values()) this.report(this.reportOf(q, 'incomplete'));
    this.queues.clear();
    this.heldBytes = 0;
    this.nextExpiry = Infinity;
    const out = this.reportList;
    this.reportList = [];
    return out;
  }

  private capture = '';

  private reportOf(q: Queue, reason: DropReason): DatagramReport {
    return {
      capture: this.capture, version: q.version, src: q.src, dst: q.dst, id: q.id, proto: q.proto,
      frames: q.frames, at: -1, have: q.meat, length: q.lastIn ? q.len : -1, reason,
    };
  }

  private describe(p: Packet, version: 4 | 6, proto: number, reason: DropReason): DatagramReport {
    const ip = p.net.ip;
    return {
      capture: p.capture, version,
      src: version === 4 ? ipv4Text(ip.src4) : ipv6ToString(p.buf, ip.srcOff),
      dst: version === 4 ? ipv4Text(ip.dst4) : ipv6ToString(p.buf, ip.dstOff),
      id: ip.id, proto, frames: [], at: p.frame, have: 0, length: -1, reason,
    };
  }

  private report(r: DatagramReport): void {
    if (r.capture === '') r.capture = this.capture;
    if (this.reportList.length < this.limits.maxReports) this.reportList.push(r);
    else this.omitted++;
  }

  /** Names the capture the next reports belong to (decode reads captures one after another). */
  startCapture(name: string): void {
    this.capture = name;
  }
}

function ipv4Text(a: number): string {
  return (a >>> 24) + '.' + ((a >>> 16) & 255) + '.' + ((a >>> 8) & 255) + '.' + (a & 255);
}

function headerChecksum(b: Buffer, len: number): number {
  let s = 0;
  for (let i = 0; i + 1 < len; i += 2) s += (b[i]! << 8) | b[i + 1]!;
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return ~s & 0xffff;
}
