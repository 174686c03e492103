/**
 * Addresses as numbers, one space for both families, so the engine keeps keying its maps by
 * numbers whatever the family: an IPv4 address is its uint32 value; an IPv6 address is interned
 * and gets 2^32 + its index. The unspecified address of either family is 0 (it claims nothing:
 * ARP probes and DAD solicitations use it). Interning reads the 16 bytes in place and allocates
 * only for an address never seen before.
 */
import { ipv4ToString, ipv6ToString, parseIpv4, parseIpv6 } from '../../decode/addr.js';

const V6_BASE = 0x1_0000_0000;
const SLOTS = 1 << 16;

export const isV6Key = (key: number): boolean => key >= V6_BASE;

export class AddressBook {
  /** Open addressing over the four 32-bit words of each address; −1 = empty slot. */
  private readonly slotIndex = new Int32Array(SLOTS).fill(-1);
  private readonly words: number[] = [];
  private readonly texts: string[] = [];

  /** Addresses interned so far; past `capacity` new ones are not interned (`key6` answers −1). */
  constructor(readonly capacity = SLOTS >> 1) {}

  get size(): number {
    return this.texts.length;
  }

  /** The key of the IPv6 address at `off`, interning it when `add`; −1 when unknown (or full). */
  key6(buf: Uint8Array, off: number, add = true): number {
    const w0 = (buf[off]! << 24) | (buf[off + 1]! << 16) | (buf[off + 2]! << 8) | buf[off + 3]!;
    const w1 = (buf[off + 4]! << 24) | (buf[off + 5]! << 16) | (buf[off + 6]! << 8) | buf[off + 7]!;
    const w2 = (buf[off + 8]! << 24) | (buf[off + 9]! << 16) | (buf[off + 10]! << 8) | buf[off + 11]!;
    const w3 = (buf[off + 12]! << 24) | (buf[off + 13]! << 16) | (buf[off + 14]! << 8) | buf[off + 15]!;
    if ((w0 | w1 | w2 | w3) === 0) return 0;
    let slot = (Math.imul(w0 ^ Math.imul(w1, 0x9e3779b1) ^ Math.imul(w2, 0x85ebca6b) ^ Math.imul(w3, 0xc2b2ae35), 0x27d4eb2f) >>> 16) & (SLOTS - 1);
    const words = this.words;
    for (;;) {
      const i = this.slotIndex[slot]!;
      if (i < 0) break;
      if (words[i * 4] === w0 && words[i * 4 + 1] === w1 && words[i * 4 + 2] === w2 && words[i * 4 + 3] === w3) return V6_BASE + i;
      slot = (slot + 1) & (SLOTS - 1);
    }
    if (!add || this.texts.length >= this.capacity) return -1;
    const i = this.texts.length;
    words.push(w0, w1, w2, w3);
    this.texts.push(ipv6ToString(buf, off));
    this.slotIndex[slot] = i;
    return V6_BASE + i;
  }

  /** The key of an address given as text (either family), interned; null when it is no address. */
  parse(text: string): number | null {
    const v4 = parseIpv4(text);
    if (v4 !== null) return v4;
    const v6 = parseIpv6(text);
    if (v6 === null) return null;
    const key = this.key6(v6, 0);
    return key < 0 ? null : key;
  }

  text(key: number): string {
    return key >= V6_BASE ? this.texts[key - V6_BASE]! : ipv4ToString(key);
  }
}
