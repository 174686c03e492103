/** Values the builder uses when a spec leaves a field out: what a Linux host normally sends. */

/** Linux default TTL / hop limit (net.ipv4.ip_default_ttl, net.ipv6.conf.*.hop_limit). */
export const DEFAULT_TTL = 64;
/** The window Linux advertises in a SYN with MSS 1460: 65535 rounded down to a multiple of the MSS. */
export const DEFAULT_TCP_WINDOW = 64240;
/** GUE UDP source port when none is given (the kernel uses a flow hash in the ephemeral range). */
export const DEFAULT_GUE_SPORT = 49152;
/** IPv4 protocol when nothing follows: 253, reserved for experimentation (RFC 3692). */
export const PROTO_NONE_V4 = 253;
/** IPv6 "No Next Header". */
export const PROTO_NONE_V6 = 59;

/** pcap LINKTYPE_* values (the project's table; the builder starts with ETHERNET, RAW, LINUX_SLL or LINUX_SLL2). */
export { LinkType } from '../../decode/frame.js';
