/**
 * The station table: one entry per (VLAN, IP) seen as an ARP sender, bounded. A Map keeps
 * insertion order, and an entry is moved to the end when it is seen, so the first entry is
 * always the one quiet the longest: at the bound it is dropped (and counted) in O(1).
 */
import type { Station, StationRole } from './types.js';

export type StationKey = number | string;

const TWO32 = 0x1_0000_0000;

/** Untagged and single-tagged stations get a number key (no string built per packet). */
export function stationKey(vlan: string, ip: number): StationKey {
  if (vlan === '') return ip;
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
    role,
  };
}

export class StationTable {
  private readonly byKey = new Map<StationKey, Station>();
  /** Stations dropped at the bound since the table was made (or restored). */
  dropped = 0;

  constructor(readonly max: number) {
    if (!Number.isInteger(max) || max < 1) throw new RangeError(`station table bound must be a positive integer (got ${max})`);
  }

  get size(): number {
    return this.byKey.size;
  }

  /** The station, moved to the young end; undefined when unknown. */
  touch(key: StationKey): Station | undefined {
    const s = this.byKey.get(key);
    if (s !== undefined) {
      this.byKey.delete(key);
      this.byKey.set(key, s);
    }
    return s;
  }

  get(key: StationKey): Station | undefined {
    return this.byKey.get(key);
  }

  /** Adds a station; at the bound the one quiet the longest goes first. */
  add(key: StationKey, s: Station): void {
    if (this.byKey.size >= this.max) {
      const oldest = this.byKey.keys().next();
      if (!oldest.done) {
        this.byKey.delete(oldest.value);
        this.dropped++;
      }
    }
    this.byKey.set(key, s);
  }

  /** Oldest-seen first. */
  values(): IterableIterator<Station> {
    return this.byKey.values();
  }
}
