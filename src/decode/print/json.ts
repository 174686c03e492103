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
import { ByteSink } from './sink.js';
import { netJson } from './stack.js';

/** Upper bound of one packet's JSON apart from its capture name and malformed reason. */
const PACKET_MAX = 16384;

export class JsonPrinter {
  private sec = NaN;
  /** `"2026-11-26T13:13:38.` for the cached second. */
  private isoPrefix = '';
  private readonly own = new ByteSink(null, 1 << 16);

  /** Appends the JSON object for one packet and a newline to `o`. */
  write(p: Packet, o: ByteSink): void {
    o.reserve(PACKET_MAX);
    o.ascii('{"capture":');
    o.jsonString(p.capture);
    o.ascii(',"frame":');
    o.uint(p.frame);
    if (p.tsSec !== this.sec) this.loadSecond(p.tsSec);
    o.ascii(this.isoPrefix);
    o.nano9(p.tsNsec);
    o.ascii('Z","caplen":');
    o.uint(p.caplen);
    o.ascii(',"len":');
    o.uint(p.len);
    o.ascii(',"linktype":');
    o.uint(p.linkType);
    o.ascii(',"interface":');
    o.uint(p.interfaceId);
    o.ascii(p.direction === null ? ',"direction":null,' : p.direction === 'in' ? ',"direction":"in",' : ',"direction":"out",');
    linkJson(o, p);
    if (p.arp.present) {
      o.ascii('"arp":');
      arpJson(o, p);
      o.byte(44);
    }
    if (p.net.present) {
      netJson(o, p);
      o.byte(44);
    }
    o.ascii('"truncated":');
    if (p.truncated === null) o.ascii('null');
    else {
      o.byte(34);
      o.ascii(p.truncated);
      o.byte(34);
    }
    if (p.malformed.present) {
      o.ascii(',"malformed":{"layer":"');
      o.ascii(p.malformed.layer);
      o.ascii('","offset":');
      o.uint(p.malformed.offset);
      o.ascii(',"reason":');
      o.jsonString(p.malformed.reason);
      o.ascii('}}\n');
    } else o.ascii(',"malformed":null}\n');
  }

  /** The JSON object for one packet as a string, without a newline (tests, one-off use). */
  format(p: Packet): string {
    this.write(p, this.own);
    const s = this.own.take();
    return s.slice(0, -1);
  }

  private loadSecond(sec: number): void {
    this.sec = sec;
    const d = new Date(sec * 1000);
    const iso = Number.isFinite(d.getTime()) ? d.toISOString() : '1970-01-01T00:00:00.000Z';
    this.isoPrefix = ',"ts":"' + iso.slice(0, 20);
  }
}
