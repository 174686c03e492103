/**
 * State shared by the protocol printers-in-reverse (one function per protocol, as in
 * tcpdump's print-*.c): the packet being filled, the frame's bytes and the decoder options
 * pre-digested into lookup tables so that no per-packet work allocates.
 */
import type { EncapKind, EncapLevel, LayerName, NetLayers, Packet, TunnelKind } from '../packet.js';
import { defaultDecodeOptions, MAX_LEVELS, UdpPort, type DecodeOptions } from '../packet.js';

/** Mode bits passed down the stack; they say what a layer may do with what it carries. */
export const M_TUNNEL = 1; // may open an encapsulation level (not inside an ICMP quote)
export const M_QUOTE = 2; // may decode an ICMP error's quote into packet.quoted
export const M_QUIET = 4; // bytes are expected to be short (ICMP quote, IP fragment): no 'truncated'
export const M_FRAGMENT = 8; // inside an IP fragment: L4 checksums are not verifiable
export const M_OUTER = 16; // the outermost IP header (the one a TSO super-packet leaves tot_len 0 in)

export const MODE_OUTER = M_TUNNEL | M_QUOTE | M_OUTER;
export const MODE_INNER = M_TUNNEL | M_QUOTE;

/** What a UDP destination port carries (`DecodeCtx.udpEncap`). */
export const U_NONE = 0;
export const U_GUE = 1;
export const U_VXLAN = 2;
export const U_GENEVE = 3;
export const U_GRE = 4;
export const U_MPLS = 5;

/** Level kinds `Packet.tunnel` names when they are level 0 (IPVS TUN encapsulations). */
function tunKind(kind: EncapKind): TunnelKind {
  switch (kind) {
    case 'ipip':
    case 'ip6ip':
    case 'sit':
    case 'ip6ip6':
    case 'gre':
    case 'gue':
      return kind;
    default:
      return null;
  }
}
export const MODE_QUOTED = M_QUIET;

export class DecodeCtx {
  readonly p: Packet;
  buf: Buffer = Buffer.alloc(0);
  readonly checksums: boolean;
  /** toaKind[k] = 1 when option kind k is accepted as TOA. */
  readonly toaKind = new Uint8Array(256);
  /** udpEncap[port]: the U_* encapsulation a UDP destination port carries (GUE on the
   *  configured ports, VXLAN, Geneve, GRE-in-UDP, MPLS-in-UDP on their IANA ports). */
  readonly udpEncap = new Uint8Array(65536);
  /** Offset of the pseudo-header destination of the IPv6 header being decoded (RFC 8200 §8.1:
   *  the final destination when a routing header is present). Set by ipv6, read by L4. */
  v6PseudoDstOff = 0;
  /** True when the capture stored fewer bytes than were on the wire (snaplen). */
  frameCut = false;
  /** Set when an IP layer was decoded into packet.inner or packet.quoted (all writes to
   *  those go through decodeIpv4/decodeIpv6), so the decoder resets them only then. */
  nestedUsed = false;
  /** Set by a Decoder that removes mirror transports: an Ethernet frame carried by level 0 is
   *  not decoded beyond its header (the decoder decodes it again as the packet, or, when it
   *  keeps the level, decodes the frame again without deferring). */
  deferCarried = false;
  /** A level-0 carried frame was left undecoded this pass (deferCarried). */
  deferred = false;

  constructor(p: Packet, opts?: Partial<DecodeOptions>) {
    this.p = p;
    // Explicit `undefined` members fall back to the defaults too.
    this.checksums = opts?.checksums ?? defaultDecodeOptions.checksums;
    for (const k of opts?.toaKinds ?? defaultDecodeOptions.toaKinds) if (Number.isInteger(k) && k >= 0 && k < 256) this.toaKind[k] = 1;
    this.udpEncap[UdpPort.VXLAN] = U_VXLAN;
    this.udpEncap[UdpPort.GENEVE] = U_GENEVE;
    this.udpEncap[UdpPort.GRE_UDP] = U_GRE;
    this.udpEncap[UdpPort.MPLS_UDP] = U_MPLS;
    // A port the user names as GUE is GUE, even one IANA gives another overlay.
    for (const port of opts?.guePorts ?? defaultDecodeOptions.guePorts) if (Number.isInteger(port) && port >= 0 && port < 65536) this.udpEncap[port] = U_GUE;
    // Ports named for a mirror's transport say what the collector receives there.
    const decap = opts?.decap ?? null;
    if (decap !== null) {
      for (const port of decap.vxlanPorts) if (Number.isInteger(port) && port > 0 && port < 65536) this.udpEncap[port] = U_VXLAN;
      for (const port of decap.genevePorts) if (Number.isInteger(port) && port > 0 && port < 65536) this.udpEncap[port] = U_GENEVE;
    }
  }

  /**
   * The next encapsulation level, reset, for a header of `kind` at `hdrOff`; null (and the
   * packet malformed at that header) when MAX_LEVELS are already open.
   */
  openLevel(kind: EncapKind, hdrOff: number, layer: LayerName): EncapLevel | null {
    const p = this.p;
    if (p.depth >= MAX_LEVELS) {
      this.malformed(layer, hdrOff, 'encapsulations nested deeper than ' + MAX_LEVELS + ' levels');
      return null;
    }
    const lv = p.levels[p.depth]!;
    lv.reset();
    lv.kind = kind;
    lv.hdrOff = hdrOff;
    if (p.depth === 0) {
      p.tunnel = tunKind(kind);
      p.tunnelHdrOff = hdrOff;
    }
    p.depth++;
    this.nestedUsed = true;
    return lv;
  }

  /**
   * A layer needs more bytes than there are. In a snaplen-cut frame that is truncation (the
   * first such layer is recorded); in a frame captured whole it is a lying length field, so
   * malformed. Nothing is recorded where short bytes are expected (ICMP quotes, fragments).
   */
  truncate(layer: LayerName, mode: number): void {
    if ((mode & M_QUIET) !== 0) return;
    if (this.frameCut) {
      if (this.p.truncated === null) this.p.truncated = layer;
    } else {
      this.p.malformed.set(layer, this.p.end - this.p.off, 'length runs past the end of the frame');
    }
  }

  malformed(layer: LayerName, offset: number, reason: string): void {
    this.p.malformed.set(layer, offset - this.p.off, reason);
  }
}

export type { NetLayers };
