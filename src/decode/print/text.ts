/**
 * One text line per packet, tcpdump -nn style:
 *
 *   FILE:FRAME HH:MM:SS.NNNNNNNNN LINK NETWORK [MARKS]
 *
 * LINK     Ethernet `src > dst, ` (+ `vlan ID[ p PCP], ` per tag) or SLL `In|Out|B|M|P [ifindex N] [addr], `;
 *          nothing for raw/null link types.
 * NETWORK  `ARP, Request who-has A tell B` | `ARP, Reply A is-at MAC` |
 *          `IP src.sport > dst.dport: <transport>, ttl T, id I[, flags [DF+]][, offset O]` (IP6: `hlim H`) |
 *          tunnels `IP a > b (ttl …): [GRE, |GUE, ]IP c.p > d.q: …` | `ethertype 0xXXXX` for anything else.
 * MARKS    `[|layer]` when the capture cut the packet (snaplen), `[malformed LAYER at OFFSET: REASON]`.
 * Bad checksums are flagged in place: `[bad ip|tcp|udp|icmp cksum 0x1234]`.
 * Times are UTC (the capture's clock), nanoseconds always printed.
 */
import type { Packet } from '../packet.js';
import { arpText } from './arp.js';
import { TimeFormatter } from './fmt.js';
import { linkText } from './link.js';
import { netText } from './stack.js';

export class TextPrinter {
  private readonly time = new TimeFormatter();

  /** The line for one packet, without a newline. */
  format(p: Packet): string {
    let s = p.capture + ':' + p.frame + ' ' + this.time.clock(p.tsSec, p.tsNsec) + ' ' + linkText(p);
    if (p.arp.present) s += arpText(p);
    else if (p.net.present) s += netText(p);
    else if (p.eth.present || p.sll.present) {
      const type = p.eth.present ? p.eth.etherType : p.sll.protocol;
      s += 'ethertype 0x' + type.toString(16).padStart(4, '0') + ', length ' + p.len;
    } else s += 'linktype ' + p.linkType + ', length ' + p.len;
    if (p.truncated !== null) s += ' [|' + p.truncated + ']';
    if (p.malformed.present) {
      s += ' [malformed ' + p.malformed.layer + ' at ' + p.malformed.offset + ': ' + p.malformed.reason + ']';
    }
    return s;
  }
}
