/** UDP: `UDP, length N` (tcpdump -nn) and its JSON object. */
import type { UdpView } from '../packet.js';
import { hex16 } from './fmt.js';
import { litw, type ByteSink } from './sink.js';

/** Constant output fragments, encoded once (ByteSink.lit copies bytes, no per-char work). */
const L0 = litw('{"sport":');
const L1 = litw(',"dport":');
const L2 = litw(',"len":');
const L3 = litw(',"checksum":');
const L4 = litw(',"checksumOk":');
/** Only when set: a TX-offload checksum (the pseudo-header sum alone). */
const PARTIAL = litw(',"checksumPartial":true');
const L5 = litw(',"payloadLen":');

export function udpText(udp: UdpView): string {
  const bad = udp.checksumOk === false ? (udp.checksumPartial ? '[partial udp cksum ' : '[bad udp cksum ') + hex16(udp.checksum) + '] ' : '';
  // Payload length from the UDP header, as tcpdump prints it.
  return bad + 'UDP, length ' + Math.max(0, udp.length - 8);
}

export function udpJson(o: ByteSink, udp: UdpView): void {
  o.pos = L0(o.buf, o.pos);
  o.uint(udp.sport);
  o.pos = L1(o.buf, o.pos);
  o.uint(udp.dport);
  o.pos = L2(o.buf, o.pos);
  o.uint(udp.length);
  o.pos = L3(o.buf, o.pos);
  o.uint(udp.checksum);
  o.pos = L4(o.buf, o.pos);
  o.bool(udp.checksumOk);
  if (udp.checksumPartial) o.pos = PARTIAL(o.buf, o.pos);
  o.pos = L5(o.buf, o.pos);
  o.uint(udp.payloadLen);
  o.byte(125);
}
