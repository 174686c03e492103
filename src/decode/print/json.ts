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
import { TimeFormatter, jsonString } from './fmt.js';
import { linkJson } from './link.js';
import { netJson } from './stack.js';

export class JsonPrinter {
  private readonly time = new TimeFormatter();
  private lastCapture = '';
  private lastCaptureJson = '""';

  /** The JSON object for one packet, without a newline. */
  format(p: Packet): string {
    if (p.capture !== this.lastCapture) {
      this.lastCapture = p.capture;
      this.lastCaptureJson = jsonString(p.capture);
    }
    let s =
      '{"capture":' + this.lastCaptureJson + ',"frame":' + p.frame + ',"ts":"' + this.time.iso(p.tsSec, p.tsNsec) +
      '","caplen":' + p.caplen + ',"len":' + p.len + ',"linktype":' + p.linkType + ',"interface":' + p.interfaceId +
      ',"direction":' + (p.direction === null ? 'null,' : '"' + p.direction + '",') + linkJson(p);
    if (p.arp.present) s += '"arp":' + arpJson(p) + ',';
    if (p.net.present) s += netJson(p) + ',';
    s += '"truncated":' + (p.truncated === null ? 'null' : '"' + p.truncated + '"');
    if (p.malformed.present) {
      s +=
        ',"malformed":{"layer":"' + p.malformed.layer + '","offset":' + p.malformed.offset + ',"reason":' +
        jsonString(p.malformed.reason) + '}}';
    } else s += ',"malformed":null}';
    return s;
  }
}
