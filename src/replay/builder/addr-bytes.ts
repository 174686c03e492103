/** Address text → bytes for the builder. Bad text is a programming error in a fixture: it throws. */
import { parseIpv4, parseIpv6, parseMac } from '../../decode/addr.js';

export function macBytes(text: string): Buffer {
  const b = parseMac(text);
  if (!b) throw new TypeError(`not a MAC address: ${text}`);
  return b;
}

export function ipv4Bytes(text: string): Buffer {
  const v = parseIpv4(text);
  if (v === null) throw new TypeError(`not an IPv4 address: ${text}`);
  const b = Buffer.alloc(4);
  b.writeUInt32BE(v, 0);
  return b;
}

export function ipv6Bytes(text: string): Buffer {
  const b = parseIpv6(text);
  if (!b) throw new TypeError(`not an IPv6 address: ${text}`);
  return b;
}

/** 4 or 16 bytes, by the text's family. */
export function ipBytes(text: string): Buffer {
  return text.includes(':') ? ipv6Bytes(text) : ipv4Bytes(text);
}

export function isIpv6Text(text: string): boolean {
  return text.includes(':');
}
