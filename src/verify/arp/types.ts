/**
 * Public shapes of the ARP diagnosis (`lvsaudit arp`, and the ARP part of `verify`).
 * Everything here is plain JSON-friendly data: the JSON reporter writes it as is.
 */
import type { Finding, NotEvaluated } from '../model/findings.js';
import type { DirectorInference, RoleInference } from '../model/roles.js';

/** What the caller knows before looking at packets. All optional: the rest is inferred. */
export interface ArpContext {
  /** VIPs from --vip or the service config, either family (IPv6 is judged on neighbor discovery). */
  vips?: readonly string[];
  /** Where each VIP came from (printed); default 'given'. */
  vipSources?: Readonly<Record<string, 'given' | 'config'>>;
  /** Director MACs from --director-mac. */
  directorMacs?: readonly string[];
  /** Director addresses (DIPs) from --director-ip: the MACs that claim them are directors. */
  directorIps?: readonly string[];
  /** Real-server addresses (RIPs) from the service config: they name the culprit in hints. */
  realServers?: readonly string[];
  /** Point name of director captures (default "director"): forwarding seen there names the director. */
  directorPoint?: string;
  /** Seconds a reply may follow its request (default 3: Linux retransmits who-has every second). */
  replyWindowSec?: number;
}

export type { DirectorInference, DirectorMethod, RoleInference } from '../model/roles.js';

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
  /** 'director' | 'NOT a director' | 'real server' | 'router' | '' — what the engine thinks the MAC is. */
  role: string;
}

export interface ArpStats {
  frames: number;
  /** ARP packets and IPv6 neighbor solicitations/advertisements. */
  arpPackets: number;
  /** Of which neighbor discovery. */
  ndpPackets: number;
  /** Ethernet IPv4 unicast frames to a VIP. */
  vipFrames: number;
  /** Records dropped because a memory bound was reached (reported, never silent). */
  dropped: number;
}

export interface ArpReport {
  vips: VipInfo[];
  directors: DirectorInference[];
  roles: RoleInference[];
  findings: Finding[];
  notEvaluated: NotEvaluated[];
  timeline: TimelineRow[];
  stats: ArpStats;
}
