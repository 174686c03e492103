/** Scheduler interface of the reference director (lvs-behavior.md §1.10). */

/** A real server as the scheduler sees it: list position, weight and connection counters. */
export interface SchedDest {
  /** Position in the service's destination list (IPVS keeps insertion order). */
  readonly index: number;
  readonly ip: string;
  readonly port: number;
  weight: number;
  /** Connections in ESTABLISHED / SYN_SENT / SYN_RECV / SYNACK (§1.8 "active"). */
  active: number;
  /** Connections in any other state. */
  inactive: number;
}

/** What hash schedulers key on. Addresses as uint32 (IPv4). */
export interface SchedKey {
  srcIp: number;
  dstIp: number;
  srcPort: number;
}

export interface Scheduler {
  readonly name: string;
  /** The chosen destination, or null (no destination available → ICMP port unreachable, §1.7). */
  pick(key: SchedKey): SchedDest | null;
}

export interface SchedOptions {
  /** Fault `schedule-weight0`: treat weight-0 destinations as available. */
  allowWeight0?: boolean;
  /** Service scheduler flags (sh-port, sh-fallback). */
  flags?: readonly string[];
}

/** IPVS "skip": weight 0 (quiesced) is never chosen for a new connection (§1.10). */
export function available(d: SchedDest, opts: SchedOptions): boolean {
  return d.weight > 0 || opts.allowWeight0 === true;
}

/** ip_vs_dest_conn_overhead: activeconns*256 + inactconns (§1.10). */
export function overhead(d: SchedDest): number {
  return d.active * 256 + d.inactive;
}
