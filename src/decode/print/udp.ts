/** UDP: `UDP, length N` (tcpdump -nn) and its JSON object. */
import type { UdpView } from '../packet.js';
import { hex16 } from './fmt.js';
import type { ByteSink } from './sink.js';

export function udpText(udp: UdpView): string {
  const bad = udp.checksumOk === false ? '[bad udp cksum ' + hex16(udp.checksum) + '] ' : '';
  // Payload length from the UDP header, as tcpdump prints it.
  return bad + 'UDP, length ' + Math.max(0, udp.length - 8);
}

export function udpJson(o: ByteSink, udp: UdpView): void {
  o.ascii('{"sport":');
  o.uint(udp.sport);
  o.ascii(',"dport":');
  o.uint(udp.dport);
  o.ascii(',"len":');
  o.uint(udp.length);
  o.ascii(',"checksum":');
  o.uint(udp.checksum);
  o.ascii(',"checksumOk":');
  o.bool(udp.checksumOk);
  o.ascii(',"payloadLen":');
  o.uint(udp.payloadLen);
  o.byte(125);
}
