/** UDP: `UDP, length N` (tcpdump -nn) and its JSON object. */
import type { UdpView } from '../packet.js';
import { hex16 } from './fmt.js';
import { lit, type ByteSink } from './sink.js';

/** Constant output fragments, encoded once (ByteSink.lit copies bytes, no per-char work). */
const L0 = lit('{"sport":');
const L1 = lit(',"dport":');
const L2 = lit(',"len":');
const L3 = lit(',"checksum":');
const L4 = lit(',"checksumOk":');
const L5 = lit(',"payloadLen":');

export function udpText(udp: UdpView): string {
  const bad = udp.checksumOk === false ? '[bad udp cksum ' + hex16(udp.checksum) + '] ' : '';
  // Payload length from the UDP header, as tcpdump prints it.
  return bad + 'UDP, length ' + Math.max(0, udp.length - 8);
}

export function udpJson(o: ByteSink, udp: UdpView): void {
  o.lit(L0);
  o.uint(udp.sport);
  o.lit(L1);
  o.uint(udp.dport);
  o.lit(L2);
  o.uint(udp.length);
  o.lit(L3);
  o.uint(udp.checksum);
  o.lit(L4);
  o.bool(udp.checksumOk);
  o.lit(L5);
  o.uint(udp.payloadLen);
  o.byte(125);
}
