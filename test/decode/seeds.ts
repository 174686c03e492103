/**
 * Frames of every kind the decoder knows, built from their RFC layouts (./build.ts): TCP with
 * TOA and other options, IPv6 with a fragment header, IPIP, 6in4, GRE, GUE, an ICMP error
 * quoting a packet (also tunnelled), ICMPv6, plain UDP, and raw IP (link type 101). Seeds of
 * tests that mutate and cut them.
 */
import { eth, icmp, ipv4, ipv6, pseudo4, pseudo6, tcp, u16, u32, udp } from './build.js';

const c4 = (l: number): Uint8Array => pseudo4('10.0.0.1', '10.0.0.2', 6, l);
const c6 = (l: number): Uint8Array => pseudo6('2001:db8::1', '2001:db8::2', 6, l);
const in4 = ipv4({ proto: 6, src: '10.0.0.1', dst: '10.0.0.2' }, tcp({ flags: 0x12, options: [254, 8, ...u16(1), 1, 2, 3, 4, 2, 4, 5, 0xb4, 3, 3, 7, 4, 2, 8, 10, ...u32(1), ...u32(2), 5, 10, ...u32(3), ...u32(4)], payload: [1, 2, 3] }, c4));
const in6 = ipv6({ nh: 44 }, [6, 0, 0, 1, ...u32(9), ...tcp({ options: [253, 20, ...u16(7), ...Array(16).fill(1)] }, c6)]);

export const SEEDS: Array<{ lt: number; bytes: number[] }> = [
  { lt: 1, bytes: eth(0x0800, in4) },
  { lt: 1, bytes: eth(0x86dd, in6) },
  { lt: 1, bytes: eth(0x0800, ipv4({ proto: 4 }, in4)) },
  { lt: 1, bytes: eth(0x0800, ipv4({ proto: 41 }, in6)) },
  { lt: 1, bytes: eth(0x0800, ipv4({ proto: 47 }, [0xb0, 0, 0x08, 0, 0, 0, 0, 0, ...u32(1), ...u32(2), ...in4])) },
  { lt: 1, bytes: eth(0x0800, ipv4({ proto: 17 }, udp(1, 6080, [0x00, 4, 0, 0, ...in4]))) },
  { lt: 1, bytes: eth(0x0800, ipv4({ proto: 1 }, icmp(3, 4, [0, 0, ...u16(1400)], in4.slice(0, 48)))) },
  { lt: 1, bytes: eth(0x0800, ipv4({ proto: 4 }, ipv4({ proto: 1 }, icmp(3, 4, [0, 0, ...u16(1400)], in4.slice(0, 48))))) },
  { lt: 1, bytes: eth(0x86dd, ipv6({ nh: 58 }, icmp(2, 0, u32(1280), in6.slice(0, 80)))) },
  { lt: 1, bytes: eth(0x0800, ipv4({ proto: 17 }, udp(53, 53, [1, 2, 3, 4]))) },
  { lt: 101, bytes: ipv6({ nh: 41 }, in6) },
];

