/**
 * Frame → Packet. One Decoder owns one reusable Packet view and refills it per frame
 * without allocating: every protocol function reads `buf[i]` within [off, end) and writes
 * numbers and offsets into the view. No input makes it throw; problems end up in
 * `packet.malformed` (first structural error) and `packet.truncated` (first layer the
 * capture cut: the outermost layer whose header or claimed length is not all there, in a
 * frame whose caplen < len; in a frame captured whole the same shortage is malformed).
 * `malformed.offset` is relative to the frame's first byte.
 */
import type { Frame } from './frame.js';
import { LinkType } from './frame.js';
import { MAX_LEVELS, Packet, type DecodeOptions } from './packet.js';
import { DecodeCtx } from './proto/context.js';
import { decodeEthernet, decodeNullLoop, decodeRawIp } from './proto/link.js';
import { decodeIpv4 } from './proto/ipv4.js';
import { decodeIpv6 } from './proto/ipv6.js';
import { decodeSll, decodeSll2 } from './proto/sll.js';
import { MODE_OUTER } from './proto/context.js';
import { Unwrapper } from './decap.js';

export class Decoder {
  readonly packet: Packet;
  private readonly ctx: DecodeCtx;
  /** Null unless mirror/overlay transports are to be looked through (DecodeOptions.decap). */
  private readonly unwrapper: Unwrapper | null;
  constructor(opts?: Partial<DecodeOptions>) {
    this.packet = new Packet();
    this.ctx = new DecodeCtx(this.packet, opts);
    const decap = opts?.decap ?? null;
    this.unwrapper = decap === null ? null : new Unwrapper(decap);
    this.ctx.deferCarried = this.unwrapper !== null;
  }

  /** Resets the view and fills it from `frame`. Never throws on any bytes. */
  decode(frame: Frame): Packet {
    const p = this.packet;
    const ctx = this.ctx;
    this.resetView();
    p.capture = frame.capture;
    p.frame = frame.frame;
    p.tsSec = frame.tsSec;
    p.tsNsec = frame.tsNsec;
    p.caplen = frame.caplen;
    p.len = frame.len;
    p.linkType = frame.linkType;
    p.interfaceId = frame.interfaceId;
    p.direction = frame.direction;
    const buf = frame.buf;
    p.buf = buf;
    ctx.buf = buf;
    let off = frame.off | 0;
    if (off < 0) off = 0;
    if (off > buf.length) off = buf.length;
    let end = off + (frame.caplen | 0);
    if (end > buf.length) end = buf.length;
    if (end < off) end = off;
    p.off = off;
    p.end = end;
    ctx.frameCut = frame.caplen < frame.len;
    ctx.deferred = false;
    try {
      decodeLink(ctx, frame.linkType, off, end);
    } catch {
      // Defence in depth only: every read is bounded, so this is not expected to run.
      p.malformed.set('link', 0, 'decoder error');
    }
    // One test for a frame that opened no level.
    if (p.depth !== 0 && this.unwrapper !== null) this.unwrap(this.unwrapper, frame.linkType, off, end);
    return p;
  }

  /**
   * Removes the mirror transports around the frame, outermost first: each removal decodes
   * again from the carried Ethernet header (whose contents the pass before deferred). A level
   * kept with its carried frame deferred is decoded once more, whole.
   */
  private unwrap(u: Unwrapper, linkType: number, frameOff: number, end: number): void {
    const p = this.packet;
    const ctx = this.ctx;
    let count = 0;
    let from = -1;
    while (count < MAX_LEVELS && p.depth !== 0) {
      const type = u.removes(p);
      if (type === null) break;
      u.note(p, type, count);
      count++;
      from = p.levels[0]!.eth.off;
      this.redecode(linkType, from < 0 ? frameOff : from, end, from >= 0, true);
    }
    if (ctx.deferred) this.redecode(linkType, from < 0 ? frameOff : from, end, from >= 0, false);
    p.mirror.count = count;
  }

  /** Same as p.reset(), but the ICMP-quote and tunnel stacks are reset only after a packet
   *  that used them: resetting them for every frame would cost as much as decoding a plain one. */
  private resetView(): void {
    const p = this.packet;
    const ctx = this.ctx;
    p.resetOuter();
    if (ctx.nestedUsed) {
      p.inner.reset();
      p.quoted.reset();
      ctx.nestedUsed = false;
    }
  }

  /** Decodes the frame again: from an Ethernet header at `off` (`carried`), else the frame's
   *  link layer; `defer` as DecodeCtx.deferCarried. Frame metadata is kept. */
  private redecode(linkType: number, off: number, end: number, carried: boolean, defer: boolean): void {
    const p = this.packet;
    const ctx = this.ctx;
    const direction = p.direction;
    this.resetView();
    p.direction = direction;
    ctx.deferCarried = defer;
    ctx.deferred = false;
    try {
      if (carried) decodeEthernet(ctx, off, end);
      else decodeLink(ctx, linkType, off, end);
    } catch {
      p.malformed.set(carried ? 'ethernet' : 'link', off - p.off, 'decoder error');
    }
    ctx.deferCarried = true;
  }
}

function decodeLink(ctx: DecodeCtx, linkType: number, off: number, end: number): void {
  switch (linkType) {
    case LinkType.ETHERNET:
      decodeEthernet(ctx, off, end);
      return;
    case LinkType.LINUX_SLL:
      decodeSll(ctx, off, end);
      return;
    case LinkType.LINUX_SLL2:
      decodeSll2(ctx, off, end);
      return;
    case LinkType.RAW:
      decodeRawIp(ctx, off, end);
      return;
    case LinkType.IPV4:
      decodeIpv4(ctx, ctx.p.net, off, end, MODE_OUTER);
      return;
    case LinkType.IPV6:
      decodeIpv6(ctx, ctx.p.net, off, end, MODE_OUTER);
      return;
    case LinkType.NULL:
    case LinkType.LOOP:
      decodeNullLoop(ctx, off, end);
      return;
    default:
      return; // unsupported link type: nothing decoded, nothing wrong with the bytes
  }
}

/** Convenience for tests and one-off use: decodes `bytes` as one frame (allocates).
 *  `wireLen` is the frame's original length (default: all of it was captured). */
export function decodeBytes(bytes: Buffer, linkType: number, opts?: Partial<DecodeOptions>, wireLen = bytes.length): Packet {
  const d = new Decoder(opts);
  return d.decode({
    capture: '-',
    frame: 1,
    buf: bytes,
    off: 0,
    caplen: bytes.length,
    len: wireLen,
    tsSec: 0,
    tsNsec: 0,
    linkType,
    interfaceId: 0,
    direction: null,
    comment: null,
    fileOffset: 0,
  });
}
