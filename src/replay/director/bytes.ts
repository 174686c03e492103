/** Small byte helpers of the reference director: IPv4 numbers, MACs, incremental checksum patches. */
import { parseIpv4, parseMac } from '../../decode/addr.js';
import { updateChecksumIncremental } from '../builder/index.js';
import { InputError } from '../../errors.js';

export function ip4(text: string): number {
  const v = parseIpv4(text);
  if (v === null) throw new InputError(`reference director: "${text}" is not an IPv4 address (IPv6 services are not implemented yet)`);
  return v >>> 0;
}

export function mac(text: string): Buffer {
  const m = parseMac(text);
  if (!m) throw new InputError(`reference director: "${text}" is not a MAC address`);
  return m;
}

export function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0, 0);
  return b;
}

export function u16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n & 0xffff, 0);
  return b;
}

/** Ethernet II header + IP packet. */
export function ethFrame(dst: Buffer, src: Buffer, etherType: number, payload: Buffer): Buffer {
  const f = Buffer.alloc(14 + payload.length);
  dst.copy(f, 0);
  src.copy(f, 6);
  f.writeUInt16BE(etherType, 12);
  payload.copy(f, 14);
  return f;
}

/**
 * Changes bytes [start, end) of an L4 segment through `mutate` and updates the checksum at
 * `csumOff` incrementally (RFC 1624), as IPVS does (`inet_proto_csum_replace*`): a checksum that
 * was wrong stays wrong. Words are aligned to the segment start `l4Off`.
 */
export function patchL4(buf: Buffer, l4Off: number, csumOff: number, start: number, end: number, mutate: () => void): void {
  const as = l4Off + Math.floor((start - l4Off) / 2) * 2;
  const ae = l4Off + Math.ceil((end - l4Off) / 2) * 2;
  const old = Buffer.from(buf.subarray(as, ae));
  mutate();
  updateChecksumIncremental(buf, csumOff, old, buf.subarray(as, ae));
}

/** Pseudo-header address change: only the checksum moves (the address itself is in the IP header). */
export function pseudoAddrChange(buf: Buffer, csumOff: number, oldAddr: number, newAddr: number): void {
  updateChecksumIncremental(buf, csumOff, u32(oldAddr), u32(newAddr));
}

/** Deterministic 32-bit mix (murmur3 finaliser) for ISNs and IDs a real director would randomise. */
export function mix32(...words: number[]): number {
  let h = 0x9e3779b9;
  for (const w of words) {
    let k = Math.imul(w >>> 0, 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, 0x1b873593);
    h ^= k;
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) >>> 0;
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
