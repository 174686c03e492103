/**
 * The station table: one entry per (VLAN, IP) seen as an ARP sender, bounded: at the bound the
 * station quiet the longest is dropped (and counted) in O(1).
 */
import type { Station, StationRole } from './types.js';

export type StationKey = number | string;

const TWO32 = 0x1_0000_0000;

/** Untagged and single-tagged stations get a number key (no string built per packet). */
export function stationKey(vlan: string, ip: number): StationKey {
  // An IPv6 key (above 2^32) would clash with the numeric forms below.
  if (ip >= TWO32) return `6|${vlan}|${ip}`;
  // int32: a small integer, which a Map hashes without boxing a number.
  if (vlan === '') return ip | 0;
  if (vlan.indexOf('.') < 0) return (Number(vlan) + 1) * TWO32 + ip;
  return `${vlan}|${ip}`;
}

export function newStation(vlan: string, ip: number, mac: number, tNs: number, role: StationRole): Station {
  return {
    vlan,
    ip,
    mac,
    previousMac: -1,
    firstNs: tNs,
    lastNs: tNs,
    changedNs: tNs,
    packets: 0,
    macChanges: 0,
    flipsQuiet: 0,
    flipReportedNs: 0,
    garpStartNs: 0,
    garpLastNs: 0,
    garpCount: 0,
    mismatchReported: false,
    role,
  };
}

interface Node<K, V> {
  key: K;
  value: V;
  older: Node<K, V> | null;
  newer: Node<K, V> | null;
}

/**
 * A bounded map that drops the entry used the longest ago. Recency is a linked list through the
 * entries, not the Map's insertion order: moving a key to the end of a Map (delete + set) leaves
 * deleted slots at its front that every look for the oldest key walks over, which made each
 * drop cost as much as the table size once it was full.
 */
export class LruMap<K, V> {
  private readonly byKey = new Map<K, Node<K, V>>();
  private oldest: Node<K, V> | null = null;
  private newest: Node<K, V> | null = null;
  /** Entries dropped at the bound. */
  dropped = 0;

  constructor(readonly max: number) {
    if (!Number.isInteger(max) || max < 1) throw new RangeError(`bound must be a positive integer (got ${max})`);
  }

  get size(): number {
    return this.byKey.size;
  }

  get(key: K): V | undefined {
    return this.byKey.get(key)?.value;
  }

  /** The value, now the most recently used; undefined when absent. */
  touch(key: K): V | undefined {
    const n = this.byKey.get(key);
    if (n === undefined) return undefined;
    if (n !== this.newest) {
      this.unlink(n);
      this.append(n);
    }
    return n.value;
  }

  /** Sets the value as the most recently used; at the bound the least recently used goes. */
  set(key: K, value: V): void {
    const n = this.byKey.get(key);
    if (n !== undefined) {
      n.value = value;
      this.touch(key);
      return;
    }
    if (this.byKey.size >= this.max && this.oldest !== null) {
      const o = this.oldest;
      this.unlink(o);
      this.byKey.delete(o.key);
      this.dropped++;
    }
    const node: Node<K, V> = { key, value, older: null, newer: null };
    this.byKey.set(key, node);
    this.append(node);
  }

  /** Least recently used first. */
  *values(): IterableIterator<V> {
    for (let n = this.oldest; n !== null; n = n.newer) yield n.value;
  }

  private unlink(n: Node<K, V>): void {
    if (n.older !== null) n.older.newer = n.newer;
    else this.oldest = n.newer;
    if (n.newer !== null) n.newer.older = n.older;
    else this.newest = n.older;
    n.older = n.newer = null;
  }

  private append(n: Node<K, V>): void {
    n.older = this.newest;
    if (this.newest !== null) this.newest.newer = n;
    else this.oldest = n;
    this.newest = n;
  }
}

/** Stations by (VLAN, IP); the one quiet the longest is dropped (and counted) at the bound. */
export class StationTable extends LruMap<StationKey, Station> {
  /** Adds a station (a key not in the table). */
  add(key: StationKey, s: Station): void {
    this.set(key, s);
  }
}
