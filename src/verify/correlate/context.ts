/**
 * What the engine knows about one service while it judges it: the configured (or inferred)
 * service, its real servers by address, which MACs belong to the director and to each real
 * server (learned from the captures), and the capture points. Rules read only this and the
 * connections, never the raw captures.
 */
import type { ForwardMethod, RealServer, Service } from '../service/model.js';
import type { LoadedPoint } from '../read/points.js';
import type { ClockEstimate } from './clock.js';
import type { DirectorAnswers } from '../read/director-answers.js';
import type { LipPortCounter } from './lip-ports.js';

export type Profile = 'linux' | 'linux-legacy' | 'alibaba' | 'dpvs';

export interface EngineContext {
  service: Service;
  inferred: boolean;
  profile: Profile;
  points: LoadedPoint[];
  clocks: ClockEstimate[];
  windowNs: number;
  rsByIp: Map<string, RealServer>;
  /** Methods in use by the service's real servers. */
  methods: Set<ForwardMethod>;
  /** MACs of the director's NICs (learned: ingress dst MAC, egress src MAC). */
  directorMacs: Set<string>;
  /** RS MAC → RIP (from RS captures and ARP), for DR where the IP header never names the RS. */
  rsIpByMac: Map<string, string>;
  /** RIP → its MACs. */
  rsMacsByIp: Map<string, Set<string>>;
  clientIdx: number;
  directorIdx: number;
  /** Point index of each RS capture by RIP. */
  rsPointByIp: Map<string, number>;
  /** ICMP errors and fragment totals seen while streaming (flow.not-forwarded exceptions). */
  answers?: DirectorAnswers;
  /** FullNAT: local ports held per (LIP, real server), fed by FnatTracker (flow.not-forwarded's hint). */
  lipPorts?: LipPortCounter | null;
  /**
   * FullNAT (set by FnatTracker, whose runs are never split, so every connection sees the same
   * capture): whether the director's capture has shown any client packet leaving toward a real
   * server, and whether any client packet has been seen delivered (at a real server, or
   * answered back to the client). Forwarding seen without any egress copy means the director's
   * capture lacks its interface toward the real servers. `firstEgressT`: the earliest such
   * copy's time; before it, a director captured per interface may not yet have been capturing
   * the interface toward the real servers (a tcpdump started later than the others).
   */
  fnatSeen?: { egress: boolean; delivered: boolean; firstEgressT: number };
}

export function methodOf(ctx: EngineContext, rip: string | null): ForwardMethod {
  const rs = rip ? ctx.rsByIp.get(rip) : undefined;
  if (rs) return rs.method;
  return ctx.service.method ?? [...ctx.methods][0] ?? 'nat';
}

/** TTL decrement the profile expects across the director, client → RS (lvs-behavior.md §7 R1/R2). */
export function expectedTtlDecrement(ctx: EngineContext, method: ForwardMethod): number {
  if (method === 'fullnat') return 0;
  return ctx.profile === 'linux' ? 1 : 0;
}

export function hasPoint(ctx: EngineContext, kind: 'client' | 'director' | 'rs'): boolean {
  return ctx.points.some((p) => p.kind === kind);
}
