/**
 * Named fault switches: each makes the reference director break exactly one rule of
 * lvs-behavior.md, so that fixtures and lab runs can prove the verifier notices.
 * A switch may take a number: `drop-every-nth=3`.
 */
import { InputError } from '../../errors.js';

export const FAULTS = {
  'no-ttl-decrement': 'client→RS TTL not decremented although the profile decrements it (§1.2, R1)',
  'ttl-not-checked': 'a TTL ≤ 1 packet is forwarded (TTL 0) instead of answered with ICMP time-exceeded (§1.2, R1)',
  'no-frag-needed': 'an oversize DF packet is forwarded instead of answered with ICMP frag-needed (§1.2 step 5, R8)',
  'ipid-rewrite': 'IP ID of forwarded client packets changed (R4)',
  'tos-rewrite': 'TOS of forwarded client packets changed (R4)',
  'bad-ip-checksum': 'forwarded client→RS packets carry a wrong IPv4 header checksum (R4)',
  'bad-l4-checksum': 'forwarded client→RS packets carry a wrong TCP/UDP checksum (R5)',
  'nat-wrong-port': 'NAT/FullNAT forwards to the VIP port instead of the real server port (§1.3)',
  'nat-reply-src': 'NAT replies leave with the RIP as source (not rewritten to the VIP, §1.3)',
  'dr-wrong-mac': 'DR sends to the MAC of another real server than the scheduled one (§1.4)',
  'tun-outer-ttl': 'TUN outer TTL is 64 instead of the (decremented) inner TTL (§1.5, R7)',
  'tun-df-not-copied': 'TUN outer header does not copy the inner DF bit (§1.5, R7)',
  'schedule-weight0': 'weight-0 (quiesced) real servers get new connections (§1.10)',
  'break-persistence': 'persistence templates are ignored: every connection is scheduled afresh (§1.11)',
  'drop-every-nth': 'every Nth forwarded packet (default 3) is silently dropped',
  'toa-missing': 'FullNAT never inserts TOA (§2.2, §3.1)',
  'toa-wrong-port': 'TOA carries the client port + 1 (§2.3)',
  'toa-wrong-addr': 'TOA carries the local address (LIP) instead of the client address (§2.3)',
  'toa-in-syn': 'TOA inserted in the SYN (wrong for dpvs ≥ 2023-12, §3.1; alibaba does it anyway)',
  'toa-not-first': 'TOA appended after the existing options instead of first (§2.3, R11)',
  'toa-bad-len': 'TOA length byte 10 instead of 8 (R11 format)',
  'seq-drift': 'FullNAT seq delta grows by one per client packet (R9)',
  'sack-not-shifted': 'FullNAT RS→client SACK edges not shifted back by the delta (§2.4, R9)',
  'ack-not-shifted': 'FullNAT RS→client ack not shifted back by the delta (§2.4, R9)',
  'mss-not-adjusted': 'FullNAT SYN-ACK MSS not reduced by the TOA length (§2.4, R10)',
  'ts-not-removed': 'FullNAT SYN timestamp option left in place (§2.2, R10)',
  'lport-reuse': 'FullNAT gives every connection the same local port (§2.1)',
  'uoa-missing': 'dpvs FullNAT UDP: no UOA on the first datagrams of a connection (§3.3)',
  'uoa-wrong-port': 'dpvs FullNAT UDP: UOA carries the client port + 1 (§3.3)',
  'uoa-wrong-addr': 'dpvs FullNAT UDP: UOA carries the local address (LIP) instead of the client address (§3.3)',
  'uoa-every-datagram': 'dpvs FullNAT UDP: UOA on every datagram, not only the first uoa_max_trail (§3.3)',
  'uoa-shim-version': 'dpvs FullNAT UDP, opp: shim version 2 (IPv6) for an IPv4 client address (§3.3)',
  'ttl-decrement-fullnat': 'FullNAT decrements TTL although the profile does not (R2)',
} as const;

export type FaultName = keyof typeof FAULTS;

export interface FaultSet {
  has(name: FaultName): boolean;
  /** Numeric argument of a switch (`drop-every-nth=5`), or `dflt`. */
  arg(name: FaultName, dflt: number): number;
  readonly names: readonly string[];
}

export function isFaultName(name: string): name is FaultName {
  return Object.prototype.hasOwnProperty.call(FAULTS, name);
}

/** Parses fault switches; an unknown name is a usage error (exit 2) that lists the known ones. */
export function parseFaults(list: readonly string[] = []): FaultSet {
  const args = new Map<FaultName, number>();
  for (const raw of list) {
    for (const item of raw.split(',')) {
      const t = item.trim();
      if (!t) continue;
      const [name, value] = t.split('=', 2) as [string, string | undefined];
      if (!isFaultName(name)) throw new InputError(`unknown fault "${name}" (known: ${Object.keys(FAULTS).join(', ')})`);
      const n = value === undefined ? NaN : Number(value);
      if (value !== undefined && !(Number.isInteger(n) && n > 0)) throw new InputError(`fault ${name}: "${value}" is not a positive integer`);
      args.set(name, n);
    }
  }
  return {
    has: (name) => args.has(name),
    arg: (name, dflt) => {
      const v = args.get(name);
      return v === undefined || Number.isNaN(v) ? dflt : v;
    },
    names: [...args.keys()],
  };
}
