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
 *   tunnel ("ipip"|"gre"|…) and inner{ipv4|ipv6, tcp|udp|icmp…} for an encapsulated packet
 *   truncated (layer name or null) malformed (null or {layer offset reason}; offset from frame start)
 *   A TCP header cut to 8 bytes (ICMP quotes) prints only {sport dport seq hdrLen:0}.
 */
import type { Packet } from '../packet.js';
import { arpJson } from './arp.js';
import { linkJson } from './link.js';
import { ByteSink, lit } from './sink.js';
import { netJson } from './stack.js';

/** Constant output fragments, encoded once (ByteSink.lit copies bytes, no per-char work). */
const L0 = lit('{"capture":');
const L1 = lit(',"frame":');
const L2 = lit('Z","caplen":');
const L3 = lit(',"len":');
const L4 = lit(',"linktype":');
const L5 = lit(',"interface":');
const L6 = lit('"arp":');
const L7 = lit('"truncated":');
const L8 = lit('null');
const L9 = lit(',"malformed":{"layer":"');
const L10 = lit('","offset":');
const L11 = lit(',"reason":');
const L12 = lit('}}\n');
const L13 = lit(',"malformed":null}\n');
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

  /** Appends the JSON object for one packet and a newline to `o`. */
  write(p: Packet, o: ByteSink): void {
    o.reserve(PACKET_MAX);
    if (p.capture !== this.capture) this.loadCapture(p.capture);
    o.lit(this.captureBytes);
    o.lit(L1);
    o.uint(p.frame);
    if (p.tsSec !== this.sec) this.loadSecond(p.tsSec);
    o.lit(this.isoPrefix);
    o.nano9(p.tsNsec);
    o.lit(L2);
    o.uint(p.caplen);
    o.lit(L3);
    o.uint(p.len);
    o.lit(L4);
    o.uint(p.linkType);
    o.lit(L5);
    o.uint(p.interfaceId);
    o.lit(p.direction === null ? DIR_NULL : p.direction === 'in' ? DIR_IN : DIR_OUT);
    linkJson(o, p);
    if (p.arp.present) {
      o.lit(L6);
      arpJson(o, p);
      o.byte(44);
    }
    if (p.net.present) {
      netJson(o, p);
      o.byte(44);
    }
    o.lit(L7);
    if (p.truncated === null) o.lit(L8);
    else {
      o.byte(34);
      o.ascii(p.truncated);
      o.byte(34);
    }
    if (p.malformed.present) {
      o.lit(L9);
      o.ascii(p.malformed.layer);
      o.lit(L10);
      o.uint(p.malformed.offset);
      o.lit(L11);
      o.jsonString(p.malformed.reason);
      o.lit(L12);
    } else o.lit(L13);
  }

  /** The JSON object for one packet as a string, without a newline (tests, one-off use). */
  format(p: Packet): string {
    this.write(p, this.own);
    const s = this.own.take();
    return s.slice(0, -1);
  }

  private loadCapture(name: string): void {
    const tmp = new ByteSink(null, 256);
    tmp.lit(L0);
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
