/**
 * NDJSON object per packet (cli.md "decode --json"). Built by string concatenation straight
 * from the view: no intermediate objects, so `decode --json` stays an order of magnitude
 * faster than tshark's field output. Keys:
 *   capture frame ts caplen len linktype interface direction
 *   eth{src dst type} sll{version ifindex pkttype hatype addr protocol} vlan[{id pcp dei tpid}]
 *   arp{htype ptype hlen plen op sha spa tha tpa gratuitous probe}
 *   ipv4{src dst ttl id df mf fragOffset tos proto len hdrLen optionsLen checksum checksumOk}
 *   ipv6{src dst hlim next flow tc len hdrLen [fragment{id offset mf}]}
 *   tcp{sport dport seq ack hdrLen flags flagsText window urgent checksum checksumOk payloadLen
 *       capturedPayloadLen options[{kind name …}] [toa{kind addr port}]}
 *   udp{sport dport len checksum checksumOk payloadLen}
 *   icmp / icmpv6{type code checksum checksumOk [id seq] [mtu] [inner{…quoted stack…}]}
 *   mpls[{label tc s ttl}] (labels after the link layer)
 *   per encapsulation level, in the object of the stack that carries it: tunnel ("ipip"|"gre"|
 *   "vxlan"|…), its header (gre{…} erspan{…} vxlan{…} geneve{…} gue{…}) and inner{eth vlan mpls
 *   arp ipv4|ipv6 tcp|udp|icmp… and the next level's members}: one nested object per level
 *   reassembled{frames [duplicates] length captured proto checksumOk} on the frame completing a datagram
 *   truncated (layer name or null) malformed (null or {layer offset reason}; offset from frame start)
 *   A TCP header cut to 8 bytes (ICMP quotes) prints only {sport dport seq hdrLen:0}.
 */
import type { Packet } from '../packet.js';
import type { Reassembled } from '../reassembly/reassembler.js';
import { arpJson } from './arp.js';
import { linkJson } from './link.js';
import { ByteSink, lit, litw } from './sink.js';
import { reassembledJson } from './reassembly.js';
import { netJson } from './stack.js';

/** Constant output fragments, encoded once (ByteSink.lit copies bytes, no per-char work). */
const L0 = litw('{"capture":');
const L1 = litw(',"frame":');
const L2 = litw('Z","caplen":');
const L3 = litw(',"len":');
const L4 = litw(',"linktype":');
const L5 = litw(',"interface":');
const L6 = litw('"arp":');
const L7 = litw('"truncated":');
const L8 = litw('null');
const L9 = litw(',"malformed":{"layer":"');
const L10 = litw('","offset":');
const L11 = litw(',"reason":');
const L12 = litw('}}\n');
const L13 = litw(',"malformed":null}\n');
const DIR_NULL = lit(',"direction":null,');
const DIR_IN = lit(',"direction":"in",');
const DIR_OUT = lit(',"direction":"out",');

/** Upper bound of one packet's JSON apart from its capture name and malformed reason. */
const PACKET_MAX = 16384;

export class JsonPrinter {
  private sec = NaN;
  /** `,"ts":"2026-11-26T13:13:38.` for the cached second, pre-encoded (ByteSink.lit). */
  private isoPrefix: Uint8Array = new Uint8Array(0);
  private readonly own = new ByteSink(null, 1 << 16);
  /** `"capture":"…"` member bytes of the last capture name seen (one capture at a time). */
  private capture: string | null = null;
  private captureBytes: Uint8Array = new Uint8Array(0);

  /** Appends the JSON object for one packet and a newline to `o`; `datagram`: the IP datagram
   *  this frame's fragment completed (`decode --reassemble`). */
  write(p: Packet, o: ByteSink, datagram: Reassembled | null = null): void {
    o.reserve(PACKET_MAX);
    if (p.capture !== this.capture) this.loadCapture(p.capture);
    o.lit(this.captureBytes);
    o.pos = L1(o.buf, o.pos);
    o.uint(p.frame);
    if (p.tsSec !== this.sec) this.loadSecond(p.tsSec);
    o.lit(this.isoPrefix);
    o.nano9(p.tsNsec);
    o.pos = L2(o.buf, o.pos);
    o.uint(p.caplen);
    o.pos = L3(o.buf, o.pos);
    o.uint(p.len);
    o.pos = L4(o.buf, o.pos);
    o.uint(p.linkType);
    o.pos = L5(o.buf, o.pos);
    o.uint(p.interfaceId);
    o.lit(p.direction === null ? DIR_NULL : p.direction === 'in' ? DIR_IN : DIR_OUT);
    linkJson(o, p);
    if (p.arp.present) {
      o.pos = L6(o.buf, o.pos);
      arpJson(o, p);
      o.byte(44);
    }
    if (p.net.present) {
      netJson(o, p);
      o.byte(44);
      if (datagram !== null) reassembledJson(o, p, datagram);
    }
    o.pos = L7(o.buf, o.pos);
    if (p.truncated === null) o.pos = L8(o.buf, o.pos);
    else {
      o.byte(34);
      o.ascii(p.truncated);
      o.byte(34);
    }
    if (p.malformed.present) {
      o.pos = L9(o.buf, o.pos);
      o.ascii(p.malformed.layer);
      o.pos = L10(o.buf, o.pos);
      o.uint(p.malformed.offset);
      o.pos = L11(o.buf, o.pos);
      o.jsonString(p.malformed.reason);
      o.pos = L12(o.buf, o.pos);
    } else o.pos = L13(o.buf, o.pos);
  }

  /** The JSON object for one packet as a string, without a newline (tests, one-off use). */
  format(p: Packet): string {
    this.write(p, this.own);
    const s = this.own.take();
    return s.slice(0, -1);
  }

  private loadCapture(name: string): void {
    const tmp = new ByteSink(null, 256);
    tmp.pos = L0(tmp.buf, tmp.pos);
    tmp.jsonString(name);
    this.capture = name;
    // A plain Uint8Array like every other lit() constant keeps ByteSink.lit monomorphic.
    this.captureBytes = Uint8Array.from(tmp.buf.subarray(0, tmp.pos));
  }

  private loadSecond(sec: number): void {
    this.sec = sec;
    const d = new Date(sec * 1000);
    const iso = Number.isFinite(d.getTime()) ? d.toISOString() : '1970-01-01T00:00:00.000Z';
    this.isoPrefix = lit(',"ts":"' + iso.slice(0, 20));
  }
}
