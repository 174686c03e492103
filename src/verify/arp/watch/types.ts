/**
 * Shapes of `lvsaudit arp --watch`: what the station table holds, what an event says. Plain
 * JSON-friendly data: the NDJSON output and the state file write them as they are.
 */
import type { AddressBook } from '../addr.js';

/** What the watcher thinks a station is (docs/cli.md `arp --watch`). */
export type StationRole = 'director' | 'real-server' | 'vip-claimant' | 'other';

/** One (VLAN, IP) as an ARP sender, with the MAC it has now. */
export interface Station {
  /** VLAN stack outer first ("100", "100.20"); "" untagged. */
  vlan: string;
  /** IPv4 address as a number (unsigned). */
  ip: number;
  /** MAC as a 48-bit number. */
  mac: number;
  /** The MAC before the last change; −1 when it never changed. */
  previousMac: number;
  /** Capture (or wall) clock, ns since the Unix epoch. */
  firstNs: number;
  lastNs: number;
  /** When the MAC last changed (firstNs when never). */
  changedNs: number;
  packets: number;
  macChanges: number;
  /** Flip-flops not printed because one was printed for this station shortly before. */
  flipsQuiet: number;
  flipReportedNs: number;
  /** The current gratuitous-ARP burst of this station's MAC: first GARP, last GARP, count. */
  garpStartNs: number;
  garpLastNs: number;
  garpCount: number;
  /** An ARP sender MAC unlike its frame's Ethernet source was reported for this station. */
  mismatchReported: boolean;
  role: StationRole;
}

export type WatchEventKind =
  | 'new-station'
  | 'changed-mac'
  | 'flip-flop'
  | 'garp-burst'
  | 'vip-conflict'
  | 'vip-conflict-end'
  | 'vip-claimed-by-non-director'
  | 'ethernet-mismatch';

export type WatchSeverity = 'error' | 'warning' | 'info';

/** Event kinds that make the run's exit code 1. */
export const ERROR_EVENTS: ReadonlySet<WatchEventKind> = new Set(['vip-conflict', 'vip-claimed-by-non-director']);

/** A frame an event rests on: where it was read, and its bytes for the evidence ring. */
export interface EventFrame {
  capture: string;
  frame: number;
  tsSec: number;
  tsNsec: number;
  /** LINKTYPE_* of the frame. */
  linkType: number;
  /** A copy of the frame (made when the event fires, never per packet). */
  bytes: Uint8Array;
  /** What this frame shows, for the evidence packet's comment. */
  note: string;
}

/** One MAC claiming a VIP, as a conflict event lists it. */
export interface Claimant {
  mac: string;
  /** director / real server / unknown, and the address that says so. */
  role: StationRole;
  /** Other IPs this MAC sends ARP from (a real server's RIP names the host). */
  ips: string[];
  firstClaim: string;
  lastClaim: string;
  claims: number;
}

export interface WatchEvent {
  kind: WatchEventKind;
  severity: WatchSeverity;
  /** ISO 8601 with nanoseconds (capture clock). */
  time: string;
  vlan: string;
  ip: string;
  mac: string;
  previousMac?: string;
  claimants?: Claimant[];
  /** One human sentence. */
  message: string;
  frames: EventFrame[];
}

/** What the watcher is told before it sees packets. */
export interface WatchConfig {
  /** VIPs, IPv4 (ARP) or IPv6 (neighbor discovery) text. */
  vips: readonly string[];
  /** Director MACs from --director-mac: any other MAC claiming a VIP is a non-director. */
  directorMacs: readonly string[];
  /** Real-server addresses (RIPs) from --config. */
  realServers: readonly string[];
  /** Station table bound (default DEFAULT_MAX_STATIONS). */
  maxStations?: number;
  /** Shared with whoever makes the records (IPv6 addresses are its keys); default a new one. */
  addrs?: AddressBook;
}

export const DEFAULT_MAX_STATIONS = 65536;
