/**
 * Named numbers of the pcap-filter language (`man 7 pcap-filter`): the byte offsets and flag
 * values usable in arithmetic, and the protocol names `proto`, `ip proto` and `ether proto` take.
 */

/** Constants usable wherever a number is: `tcp[tcpflags] & tcp-syn != 0`. */
export const NAMED_CONSTANTS: ReadonlyMap<string, number> = new Map<string, number>([
  ['tcpflags', 13],
  ['tcp-fin', 0x01],
  ['tcp-syn', 0x02],
  ['tcp-rst', 0x04],
  ['tcp-push', 0x08],
  ['tcp-ack', 0x10],
  ['tcp-urg', 0x20],
  ['tcp-ece', 0x40],
  ['tcp-cwr', 0x80],
  ['icmptype', 0],
  ['icmpcode', 1],
  ['icmp-echoreply', 0],
  ['icmp-unreach', 3],
  ['icmp-sourcequench', 4],
  ['icmp-redirect', 5],
  ['icmp-echo', 8],
  ['icmp-routeradvert', 9],
  ['icmp-routersolicit', 10],
  ['icmp-timxceed', 11],
  ['icmp-paramprob', 12],
  ['icmp-tstamp', 13],
  ['icmp-tstampreply', 14],
  ['icmp-ireq', 15],
  ['icmp-ireqreply', 16],
  ['icmp-maskreq', 17],
  ['icmp-maskreply', 18],
  ['icmp6type', 0],
  ['icmp6code', 1],
  ['icmp6-destinationunreach', 1],
  ['icmp6-packettoobig', 2],
  ['icmp6-timeexceeded', 3],
  ['icmp6-parameterproblem', 4],
  ['icmp6-echo', 128],
  ['icmp6-echoreply', 129],
  ['icmp6-multicastlistenerquery', 130],
  ['icmp6-multicastlistenerreportv1', 131],
  ['icmp6-multicastlistenerdone', 132],
  ['icmp6-routersolicit', 133],
  ['icmp6-routeradvert', 134],
  ['icmp6-neighborsolicit', 135],
  ['icmp6-neighboradvert', 136],
  ['icmp6-redirect', 137],
  ['icmp6-routerrenum', 138],
  ['icmp6-nodeinformationquery', 139],
  ['icmp6-nodeinformationresponse', 140],
  ['icmp6-ineighbordiscoverysolicit', 141],
  ['icmp6-ineighbordiscoveryadvert', 142],
  ['icmp6-multicastlistenerreportv2', 143],
  ['icmp6-homeagentdiscoveryrequest', 144],
  ['icmp6-homeagentdiscoveryreply', 145],
  ['icmp6-mobileprefixsolicit', 146],
  ['icmp6-mobileprefixadvert', 147],
  ['icmp6-certpathsolicit', 148],
  ['icmp6-certpathadvert', 149],
  ['icmp6-multicastrouteradvert', 151],
  ['icmp6-multicastroutersolicit', 152],
  ['icmp6-multicastrouterterm', 153],
]);

/** IP protocol names for `proto`, `ip proto`, `ip6 proto` (with or without tcpdump's backslash). */
export const IP_PROTO_NAMES: ReadonlyMap<string, number> = new Map<string, number>([
  ['icmp', 1],
  ['igmp', 2],
  ['igrp', 9],
  ['tcp', 6],
  ['udp', 17],
  ['icmp6', 58],
  ['pim', 103],
  ['ah', 51],
  ['esp', 50],
  ['vrrp', 112],
  ['sctp', 132],
]);

/** EtherType names for `ether proto`. */
export const ETHER_PROTO_NAMES: ReadonlyMap<string, number> = new Map<string, number>([
  ['ip', 0x0800],
  ['ip6', 0x86dd],
  ['arp', 0x0806],
  ['rarp', 0x8035],
  ['atalk', 0x809b],
  ['aarp', 0x80f3],
  ['decnet', 0x6003],
  ['lat', 0x6004],
  ['sca', 0x6007],
  ['moprc', 0x6002],
  ['mopdl', 0x6001],
  ['ipx', 0x8137],
]);

/**
 * Transport protocols usable as `proto[...]` and as a bare word: the IP protocol number, and
 * whether the bare word also matches IPv6 (tcpdump's `icmp` and `igmp` are IPv4 only).
 */
export const TRANSPORT_WORDS: ReadonlyMap<string, { proto: number; v6: boolean }> = new Map([
  ['tcp', { proto: 6, v6: true }],
  ['udp', { proto: 17, v6: true }],
  ['sctp', { proto: 132, v6: true }],
  ['icmp', { proto: 1, v6: false }],
  ['igmp', { proto: 2, v6: false }],
  ['igrp', { proto: 9, v6: false }],
  ['pim', { proto: 103, v6: true }],
  ['vrrp', { proto: 112, v6: false }],
  ['ah', { proto: 51, v6: true }],
  ['esp', { proto: 50, v6: true }],
]);

/** Network-layer words: the EtherType each one is. */
export const NETWORK_WORDS: ReadonlyMap<string, number> = new Map<string, number>([
  ['ip', 0x0800],
  ['ip6', 0x86dd],
  ['arp', 0x0806],
  ['rarp', 0x8035],
]);
