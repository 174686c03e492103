/**
 * Public shapes of the ARP diagnosis (`lvsaudit arp`, and the ARP part of `verify`).
 * Everything here is plain JSON-friendly data: the JSON reporter writes it as is.
 */
import type { Finding, NotEvaluated } from '../model/findings.js';

/** What the caller knows before looking at packets. All optional: the rest is inferred. */
export interface ArpContext {
  /** VIPs from --vip or the service config. IPv6 VIPs are skipped (no ARP); IPv4 text otherwise. */
  vips?: readonly string[];
  /** Where each VIP came from (printed); default 'given'. */
  vipSources?: Readonly<Record<string, 'given' | 'config'>>;
  /** Director MACs from --director-mac. */
  directorMacs?: readonly string[];
  /** Real-server addresses (RIPs) from the service config: they name the culprit in hints. */
  realServers?: readonly string[];
  /** Point name of director captures (default "director"): forwarding seen there names the director. */
  directorPoint?: string;
  /** Seconds a reply may follow its request (default 3: Linux retransmits who-has every second). */
  replyWindowSec?: number;
}

/** How the director MACs of a VIP became known; printed so the user can check the guess. */
export type DirectorMethod =
  | 'given' // --director-mac
  | 'director-capture' // claims/receives the VIP and forwards VIP traffic, seen in a director capture
  | 'forwarding' // claims/receives the VIP and forwards VIP traffic (any capture)
  | 'not-a-real-server' // the only claimant that is not a configured real server
  | 'sole-claimant' // the only MAC that ever claimed the VIP
  | 'none'; // could not be inferred: VIP rules not evaluated

export interface DirectorInference {
  vip: string;
  macs: string[];
  method: DirectorMethod;
  /** One human sentence: why these MACs. */
  reason: string;
}

export interface VipInfo {
  ip: string;
  source: 'given' | 'config' | 'inferred';
}

/** One row of the per-IP MAC timeline: one (VLAN, IP, MAC) triple as ARP sender. */
export interface TimelineRow {
  /** VLAN stack outer first ("100", "100.20"); "" when untagged. */
  vlan: string;
  ip: string;
  mac: string;
  firstSeen: string;
  lastSeen: string;
  packets: number;
  requests: number;
  replies: number;
  gratuitous: number;
  /** 'director' | 'vip-claim-by-non-director' | 'real-server' | '' — what the engine thinks the MAC is. */
  role: string;
}

export interface ArpStats {
  frames: number;
  arpPackets: number;
  /** Ethernet IPv4 unicast frames to a VIP. */
  vipFrames: number;
  /** Records dropped because a memory bound was reached (reported, never silent). */
  dropped: number;
}

export interface ArpReport {
  vips: VipInfo[];
  directors: DirectorInference[];
  findings: Finding[];
  notEvaluated: NotEvaluated[];
  timeline: TimelineRow[];
  stats: ArpStats;
}
