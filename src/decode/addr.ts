/**
 * Address text forms. Decoders keep addresses as bytes (and IPv4 as uint32); these turn them
 * into text only where a human or JSON needs it, and back for configs and options.
 */

const HEX = '0123456789abcdef';

/** aa:bb:cc:dd:ee:ff from 6 bytes at `off`. */
export function macToString(buf: Uint8Array, off: number): string {
  let s = '';
  for (let i = 0; i < 6; i++) {
    const b = buf[off + i]!;
    if (i > 0) s += ':';
    s += HEX[b >> 4]! + HEX[b & 15]!;
  }
  return s;
}

/** Parses aa:bb:cc:dd:ee:ff (or with '-') into 6 bytes; null when not a MAC. */
export function parseMac(text: string): Buffer | null {
  const m = /^([0-9a-f]{1,2})[:-]([0-9a-f]{1,2})[:-]([0-9a-f]{1,2})[:-]([0-9a-f]{1,2})[:-]([0-9a-f]{1,2})[:-]([0-9a-f]{1,2})$/i.exec(
    text.trim(),
  );
  if (!m) return null;
  return Buffer.from(m.slice(1, 7).map((h) => parseInt(h, 16)));
}

/** IPv4 uint32 → dotted quad. */
export function ipv4ToString(a: number): string {
  return `${a >>> 24}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}`;
}

/** Reads 4 bytes as an unsigned IPv4 number. */
export function readIpv4(buf: Uint8Array, off: number): number {
  return ((buf[off]! << 24) | (buf[off + 1]! << 16) | (buf[off + 2]! << 8) | buf[off + 3]!) >>> 0;
}

/** Dotted quad → uint32; null when not a valid IPv4 address. */
export function parseIpv4(text: string): number | null {
  const parts = text.trim().split('.');
  if (parts.length !== 4) return null;
  let v = 0;
  for (const p of parts) {
    if (!/^\d{1,3}$/.test(p)) return null;
    const n = Number(p);
    if (n > 255) return null;
    v = v * 256 + n;
  }
  return v >>> 0;
}

/** RFC 5952 text form of 16 bytes at `off` (lower case, longest zero run compressed,
 *  IPv4-mapped addresses as ::ffff:a.b.c.d like tcpdump and tshark print them). */
export function ipv6ToString(buf: Uint8Array, off: number): string {
  const words: number[] = [];
  for (let i = 0; i < 8; i++) words.push((buf[off + 2 * i]! << 8) | buf[off + 2 * i + 1]!);
  if (words[0] === 0 && words[1] === 0 && words[2] === 0 && words[3] === 0 && words[4] === 0 && words[5] === 0xffff) {
    return `::ffff:${buf[off + 12]}.${buf[off + 13]}.${buf[off + 14]}.${buf[off + 15]}`;
  }
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (words[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (w: number): string => w.toString(16);
  if (bestStart < 0) return words.map(hex).join(':');
  const head = words.slice(0, bestStart).map(hex).join(':');
  const tail = words.slice(bestStart + bestLen).map(hex).join(':');
  return `${head}::${tail}`;
}

/** Parses an IPv6 address (with optional embedded IPv4 tail) into 16 bytes; null when invalid. */
export function parseIpv6(text: string): Buffer | null {
  let s = text.trim();
  if (s.startsWith('[') && s.endsWith(']')) s = s.slice(1, -1);
  if (!s.includes(':')) return null;
  let tail4: number[] = [];
  const lastColon = s.lastIndexOf(':');
  const last = s.slice(lastColon + 1);
  if (last.includes('.')) {
    const v4 = parseIpv4(last);
    if (v4 === null) return null;
    tail4 = [(v4 >>> 16) & 0xffff, v4 & 0xffff];
    s = s.slice(0, lastColon + 1) + '0';
  }
  const halves = s.split('::');
  if (halves.length > 2) return null;
  const parseGroup = (g: string): number[] | null => {
    if (g === '') return [];
    const out: number[] = [];
    for (const w of g.split(':')) {
      if (!/^[0-9a-f]{1,4}$/i.test(w)) return null;
      out.push(parseInt(w, 16));
    }
    return out;
  };
  const a = parseGroup(halves[0]!);
  const b = halves.length === 2 ? parseGroup(halves[1]!) : [];
  if (!a || !b) return null;
  let words: number[];
  if (halves.length === 2) {
    const fill = 8 - a.length - b.length - (tail4.length ? 1 : 0);
    if (fill < 1) return null;
    words = [...a, ...new Array<number>(Math.max(fill, 0)).fill(0), ...b];
  } else {
    words = a;
  }
  if (tail4.length) words = [...words.slice(0, words.length - 1), ...tail4];
  if (words.length !== 8) return null;
  const out = Buffer.alloc(16);
  words.forEach((w, i) => out.writeUInt16BE(w, 2 * i));
  return out;
}

/** Text form of an IP address of either family stored at `off` (len 4 or 16). */
export function ipToString(buf: Uint8Array, off: number, len: 4 | 16): string {
  return len === 4 ? ipv4ToString(readIpv4(buf, off)) : ipv6ToString(buf, off);
}
