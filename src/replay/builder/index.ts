/** Packet builder: typed layer specs → wire bytes with computed lengths and checksums. */
export * from './types.js';
export { PacketBuilder, type BuildResult } from './builder.js';
export { LinkType, DEFAULT_TTL, DEFAULT_TCP_WINDOW } from './defaults.js';
export { fragmentIpv4, fragmentIpv6, type FragmentOptions, type Fragment6Options } from './fragment.js';
export { recomputeIpv4Checksum, recomputeL4Checksum, recomputeChecksums, updateChecksumIncremental, locateL4, type L4Location, type L4FixOptions } from './checksum-fix.js';
export { parseTcpFlags, encodeTcpOption, encodeTcpOptions, describeTcpOption, defaultToaKind } from './tcp-options.js';
export { pseudoHeaderSum } from './encode.js';
export { insertTcpOption, nopTcpOption, type InsertResult } from './rewrite.js';
