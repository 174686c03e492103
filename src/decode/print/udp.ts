/** UDP: `UDP, length N` (tcpdump -nn) and its JSON object. */
import type { UdpView } from '../packet.js';
import { hex16 } from './fmt.js';

export function udpText(udp: UdpView): string {
  const bad = udp.checksumOk === false ? '[bad udp cksum ' + hex16(udp.checksum) + '] ' : '';
  // Payload length from the UDP header, as tcpdump prints it.
  return bad + 'UDP, length ' + Math.max(0, udp.length - 8);
}

export function udpJson(udp: UdpView): string {
  return (
    '{"sport":' + udp.sport + ',"dport":' + udp.dport + ',"len":' + udp.length + ',"checksum":' + udp.checksum +
    ',"checksumOk":' + udp.checksumOk + ',"payloadLen":' + udp.payloadLen + '}'
  );
}
