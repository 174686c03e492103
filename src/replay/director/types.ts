/**
 * Configuration and output shapes of the reference director (a userspace LVS director written
 * from lvs-behavior.md, independent of the verifier). The core is pure: frames in, frames out,
 * the clock passed in by the caller, so it runs the same in tests, `replay --write` and live mode.
 */
import type { ServiceSet } from '../../verify/service/index.js';

/** Whose behaviour to reproduce (rules.md "Profiles"). */
export type DirectorProfile = 'linux' | 'linux-legacy' | 'alibaba' | 'dpvs';

/** DPVS `uoa_mode` (lvs-behavior.md §3.3): the IPv4 option, the protocol-248 shim, or no UOA
 *  (`uoa_max_trail 0`). */
export type UoaMode = 'ipo' | 'opp' | 'off';
export const UOA_MODES: readonly UoaMode[] = ['ipo', 'opp', 'off'];

/** Which side of the director a frame arrives on or leaves by. */
export type Side = 'client' | 'rs';

export interface DirectorMacs {
  /** The director's client-facing NIC (it answers ARP for the VIP with this MAC). */
  director: string;
  /** The director's RS-facing NIC; default = `director` (one-armed DR/TUN). */
  directorRs?: string;
  /** MAC of each real server by RIP (DR rewrites the destination MAC to it; §1.4). */
  realServers: Record<string, string>;
  /** Next hop toward clients. Default: the source MAC the client's packets came from
   *  (ALI `fast_xmit` caches it the same way, §2.1). */
  gateway?: string;
}

export interface DirectorConfig {
  services: ServiceSet;
  profile: DirectorProfile;
  macs: DirectorMacs;
  directorIps: {
    /** Director address on the RS network: TUN outer source (§1.5), ICMP toward real servers. */
    dip: string;
    /** FullNAT local addresses when the service config has none (§2.1). */
    lips?: string[];
  };
  /** Fault switches (see faults.ts): each breaks one rule on purpose. */
  faults?: string[];
  /** MTU of the RS-side route (default 1500). TUN subtracts its 20-byte outer header (§1.2 step 4). */
  mtu?: number;
  /** Profile dpvs, FullNAT UDP: where UOA goes (default `opp`, DPVS's default) and on how many
   *  datagrams of a connection (`uoa_max_trail`, default 3). Other profiles send no UOA. */
  uoaMode?: UoaMode;
  uoaMaxTrail?: number;
  /** Seeds everything that would be random on a real director (FullNAT ISN, IP IDs it makes up). */
  seed?: number;
}

/** One frame the director sends. */
export interface DirectorOutput {
  side: Side;
  /** Ethernet frame. */
  frame: Buffer;
  /** For side 'rs': the RIP the frame is for (undefined for ARP replies and ICMP to a RS). */
  rip?: string;
  /** Short reason, e.g. "nat dnat → 10.0.0.11:8080", "icmp time-exceeded". */
  note: string;
}

/** What the director did with one input frame, kept for the replayer's report and for tests. */
export interface DirectorEvent {
  ingress: Side;
  nowMs: number;
  /** 'forward' | 'drop' | 'icmp' | 'arp' | 'local' … plus detail. */
  action: string;
  detail: string;
}
