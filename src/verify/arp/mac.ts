/**
 * MACs as 48-bit numbers: the ARP engine keys maps by them so that looking at an IPv4 frame
 * (the hot path: every frame to a VIP) allocates nothing. Text is made only for output.
 */
import { macToString, parseMac } from '../../decode/addr.js';

/** Reads 6 bytes at `off` as a number (exact: 48 bits fit in a double). */
export function macNum(buf: Uint8Array, off: number): number {
  const hi = (buf[off]! << 8) | buf[off + 1]!;
  const lo = ((buf[off + 2]! << 24) | (buf[off + 3]! << 16) | (buf[off + 4]! << 8) | buf[off + 5]!) >>> 0;
  return hi * 0x1_0000_0000 + lo;
}

const scratch = Buffer.alloc(6);

/** aa:bb:cc:dd:ee:ff of a MAC number. */
export function macText(n: number): string {
  scratch.writeUInt16BE(Math.floor(n / 0x1_0000_0000), 0);
  scratch.writeUInt32BE(n % 0x1_0000_0000, 2);
  return macToString(scratch, 0);
}

/** MAC text → number, null when not a MAC. */
export function parseMacNum(text: string): number | null {
  const b = parseMac(text);
  return b ? macNum(b, 0) : null;
}

export const BROADCAST_MAC = 0xffff_ffff_ffff;
export const ZERO_MAC = 0;

/** Group bit of the first octet: broadcast and multicast destinations. */
export function isGroupMac(n: number): boolean {
  return Math.floor(n / 0x100_0000_0000) % 2 === 1;
}

const CACHE_SLOTS = 256;

/**
 * Interns MACs read from frames into small integer ids (0, 1, 2, …) so per-frame bookkeeping can
 * index arrays: a direct-mapped cache answers repeated MACs without touching a Map or
 * allocating; misses fall back to a Map keyed by the MAC number.
 */
export class MacIds {
  private readonly cacheHi = new Int32Array(CACHE_SLOTS).fill(-1);
  private readonly cacheLo = new Int32Array(CACHE_SLOTS);
  private readonly cacheId = new Int32Array(CACHE_SLOTS);
  private readonly ids = new Map<number, number>();
  /** id → MAC number. */
  readonly macs: number[] = [];

  id(buf: Uint8Array, off: number): number {
    const hi = (buf[off]! << 8) | buf[off + 1]!;
    const lo = (buf[off + 2]! << 24) | (buf[off + 3]! << 16) | (buf[off + 4]! << 8) | buf[off + 5]!;
    const slot = (lo ^ (lo >>> 8) ^ (lo >>> 16) ^ hi) & (CACHE_SLOTS - 1);
    if (this.cacheHi[slot] === hi && this.cacheLo[slot] === lo) return this.cacheId[slot]!;
    const mac = hi * 0x1_0000_0000 + (lo >>> 0);
    let id = this.ids.get(mac);
    if (id === undefined) {
      id = this.macs.length;
      this.macs.push(mac);
      this.ids.set(mac, id);
    }
    this.cacheHi[slot] = hi;
    this.cacheLo[slot] = lo;
    this.cacheId[slot] = id;
    return id;
  }
}
