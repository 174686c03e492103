/**
 * Small text helpers shared by the printers. They are tuned for the output hot path
 * (`decode --json` on millions of packets): lookup tables instead of toString(16),
 * a one-entry cache for the per-second part of timestamps, no intermediate arrays.
 */

const HEX = '0123456789abcdef';
/** "00".."ff" for every byte value. */
const HEX2: string[] = [];
/** "0".."255" for every byte value. */
const DEC: string[] = [];
for (let i = 0; i < 256; i++) {
  HEX2.push(HEX[i >> 4]! + HEX[i & 15]!);
  DEC.push(String(i));
}

/** aa:bb:cc:dd:ee:ff from 6 bytes at `off`. */
export function mac(buf: Uint8Array, off: number): string {
  return (
    HEX2[buf[off]!]! + ':' + HEX2[buf[off + 1]!]! + ':' + HEX2[buf[off + 2]!]! + ':' +
    HEX2[buf[off + 3]!]! + ':' + HEX2[buf[off + 4]!]! + ':' + HEX2[buf[off + 5]!]!
  );
}

/** Colon-separated hex of `len` bytes (hardware addresses of any length). */
export function hexColon(buf: Uint8Array, off: number, len: number): string {
  let s = '';
  for (let i = 0; i < len; i++) s += (i > 0 ? ':' : '') + HEX2[buf[off + i]!]!;
  return s;
}

/** Plain hex of `len` bytes. */
export function hex(buf: Uint8Array, off: number, len: number): string {
  let s = '';
  for (let i = 0; i < len; i++) s += HEX2[buf[off + i]!]!;
  return s;
}

/** Dotted quad from a uint32. */
export function ip4(a: number): string {
  return DEC[a >>> 24]! + '.' + DEC[(a >>> 16) & 255]! + '.' + DEC[(a >>> 8) & 255]! + '.' + DEC[a & 255]!;
}

/** Dotted quad from 4 bytes at `off`. */
export function ip4At(buf: Uint8Array, off: number): string {
  return DEC[buf[off]!]! + '.' + DEC[buf[off + 1]!]! + '.' + DEC[buf[off + 2]!]! + '.' + DEC[buf[off + 3]!]!;
}

/** 0x-prefixed hex of a 16-bit value, 4 digits (checksums). */
export function hex16(v: number): string {
  return '0x' + HEX2[(v >>> 8) & 255]! + HEX2[v & 255]!;
}

/** TCP flag letters in tcpdump's order (F S R P . U E W, then N for the NS bit); "none" when 0. */
export function tcpFlagsText(flags: number): string {
  if (flags === 0) return 'none';
  let s = '';
  if (flags & 0x001) s += 'F';
  if (flags & 0x002) s += 'S';
  if (flags & 0x004) s += 'R';
  if (flags & 0x008) s += 'P';
  if (flags & 0x010) s += '.';
  if (flags & 0x020) s += 'U';
  if (flags & 0x040) s += 'E';
  if (flags & 0x080) s += 'W';
  if (flags & 0x100) s += 'N';
  return s;
}

/** JSON string literal; plain ASCII without quotes/backslashes skips JSON.stringify. */
export function jsonString(s: string): string {
  // Capture names and malformed reasons are short; the regex test is cheaper than escaping.
  return /^[\x20-\x21\x23-\x5b\x5d-\x7e]*$/.test(s) ? '"' + s + '"' : JSON.stringify(s);
}

const NANO_PAD = ['', '0', '00', '000', '0000', '00000', '000000', '0000000', '00000000', '000000000'];

/** Nanoseconds as exactly 9 digits. */
export function nano9(ns: number): string {
  const s = String(ns);
  return s.length >= 9 ? s : NANO_PAD[9 - s.length]! + s;
}

/**
 * Timestamp formatter with a cache of the last second: consecutive packets mostly share
 * their second, so the Date work happens about once per second of capture.
 */
export class TimeFormatter {
  private sec = NaN;
  /** "2026-11-26T13:13:38." */
  private isoPrefix = '';
  /** "13:13:38." */
  private clockPrefix = '';

  private load(sec: number): void {
    this.sec = sec;
    const d = new Date(sec * 1000);
    const iso = Number.isFinite(d.getTime()) ? d.toISOString() : '1970-01-01T00:00:00.000Z';
    this.isoPrefix = iso.slice(0, 20);
    this.clockPrefix = iso.slice(11, 20);
  }

  /** ISO-8601 UTC with nanoseconds: 2026-11-26T13:13:38.345225123Z. */
  iso(sec: number, nsec: number): string {
    if (sec !== this.sec) this.load(sec);
    return this.isoPrefix + nano9(nsec) + 'Z';
  }

  /** UTC wall clock with nanoseconds: 13:13:38.345225123. */
  clock(sec: number, nsec: number): string {
    if (sec !== this.sec) this.load(sec);
    return this.clockPrefix + nano9(nsec);
  }
}
