/**
 * DPVS's UOA on FullNAT UDP (rules.md "FullNAT"; lvs-behavior.md §3.3): the first
 * `uoa_max_trail` (3) datagrams of each UDP connection reach the real server with the client's
 * address and port, as the IPv4 option {31, 8, port, addr} (`ipo`) or in the protocol-248 shim
 * {version 1|2, reserved 0, protocol 17, length 4 + option} (`opp`; length 20 for an IPv6
 * client). Where the option does not fit, an empty UDP datagram carrying only the UOA goes
 * ahead of the original, which then has none; it counts as one of the trail.
 *
 * The datagram judged is the RS-leg copy (the director's output, else what the real server
 * received). A datagram whose RS-leg copy no capture holds is not judged: its place in the
 * trail still counts, as the director counted it. Places are counted over the datagrams that
 * arrived on the client leg, so a copy the network duplicated behind the director takes none.
 */
import { ipv6ToString } from '../../../decode/addr.js';
import { IPOPT_UOA, OPP_VERSION_V4, OPP_VERSION_V6, UOA_LEN_V4, UOA_LEN_V6 } from '../../../decode/proto/uoa.js';
import { fnatInfo } from '../../correlate/fnat-tracker.js';
import type { Connection, Trace } from '../../model/connection.js';
import type { PacketRecord } from '../../model/record.js';
import type { FindingSink } from '../sink.js';
import { hostPort, walk, type RuleModule, type RuleTable, type TraceView } from './common.js';
import { legCopies } from './fullnat.js';

/** DPVS `UOA_DEF_MAX_TRAIL`. */
export const UOA_MAX_TRAIL = 3;

const NOTE = 'lvs-behavior.md §3.3 (DPVS include/uoa.h, src/ipvs/ip_vs_proto_udp.c udp_insert_uoa)';

/** One record's UOA, read from the bytes it keeps (record.ts: the option, or the shim and its options). */
export interface UoaRead {
  mode: 'ipo' | 'opp';
  /** The option's length byte; -1 when the shim holds no option of code 31. */
  len: number;
  port: number;
  /** Address text; null when the length is neither 8 nor 20 or the bytes are cut. */
  addr: string | null;
  /** Shim fields (opp). */
  version: number;
  rsvd: number;
  shimLen: number;
}

/** The UOA a UDP record carries, or null. */
export function readUoa(r: PacketRecord): UoaRead | null {
  const b = r.uoa;
  if (r.uoaMode === 0 || b === null) return null;
  if (r.uoaMode === 1) return { mode: 'ipo', ...readOption(b, 0, b.length), version: 0, rsvd: 0, shimLen: 0 };
  const shimLen = b.length >= 4 ? (b[2]! << 8) | b[3]! : 0;
  // The options inside the shim, walked as IP options (the RS module's uoa_parse_ipopt).
  let i = 4;
  const end = Math.min(b.length, shimLen);
  let opt = { len: -1, port: 0, addr: null as string | null };
  while (i < end) {
    if (b[i] === 0) break;
    if (b[i] === 1) {
      i++;
      continue;
    }
    if (i + 1 >= end || b[i + 1]! < 2) break;
    if (b[i] === IPOPT_UOA) {
      opt = readOption(b, i, end);
      break;
    }
    i += b[i + 1]!;
  }
  return { mode: 'opp', ...opt, version: b[0]! >> 4, rsvd: b[0]! & 15, shimLen };
}

function readOption(b: Uint8Array, o: number, end: number): { len: number; port: number; addr: string | null } {
  const len = o + 1 < end ? b[o + 1]! : -1;
  const port = o + 4 <= end ? (b[o + 2]! << 8) | b[o + 3]! : 0;
  let addr: string | null = null;
  if (len === UOA_LEN_V4 && o + 8 <= end) addr = `${b[o + 4]}.${b[o + 5]}.${b[o + 6]}.${b[o + 7]}`;
  else if (len === UOA_LEN_V6 && o + 20 <= end) addr = ipv6ToString(b, o + 4);
  return { len, port, addr };
}

/** What is wrong with a UOA's format, '' when it is DPVS's. */
export function uoaFormatProblems(u: UoaRead): string[] {
  const p: string[] = [];
  if (u.len === -1) return ['the shim carries no option of code 31'];
  if (u.len !== UOA_LEN_V4 && u.len !== UOA_LEN_V6) p.push(`option length ${u.len}, not 8 (IPv4 client) or 20 (IPv6 client)`);
  if (u.mode === 'ipo' && u.len === UOA_LEN_V6) p.push('a 20-byte (IPv6) UOA in the IPv4 options: DPVS sends ipo for IPv4 clients only');
  if (u.mode === 'opp') {
    const want = u.len === UOA_LEN_V6 ? OPP_VERSION_V6 : OPP_VERSION_V4;
    if (u.version !== want) p.push(`shim version ${u.version}, ${want} for a ${u.len}-byte option`);
    if (u.rsvd !== 0) p.push(`shim reserved bits ${u.rsvd}`);
    if (u.len > 0 && u.shimLen !== 4 + u.len) p.push(`shim length ${u.shimLen}, DPVS writes 4 + ${u.len}`);
  }
  return p;
}

/** The walk's state: the connection's place in the trail and what it saw. */
export class UoaState {
  /** Datagrams of the trail the director has sent so far (as DPVS counts them). */
  slot = 0;
  /** A stand-alone UOA datagram went ahead: the next datagram is its original, sent without. */
  standalone = false;
  profileDpvs = false;
  client: PacketRecord | undefined = undefined;
  rs: PacketRecord | undefined = undefined;
  uoa: UoaRead | null = null;
  /** This trace is a datagram of the trail (its place, before it is counted). */
  place = -1;
  /**
   * The places counted so far are the director's own: no datagram of the connection reached
   * the RS leg without a copy on the client leg. Once one did, a capture on the client leg
   * missed datagrams (or the network duplicated one), and the count from here on may be short
   * by some: which datagram is the director's 3rd is then unknown, so missing / extra UOA is
   * not judged.
   */
  exact = true;
}

type UoaView = TraceView<UoaState>;

/** Per trace: the leg copies, the UOA of the RS-leg copy, and the datagram's place in the trail. */
function at(v: UoaView): void {
  const s = v.s;
  const { client, rs } = legCopies(v.t);
  s.client = client;
  s.rs = rs;
  s.uoa = rs ? readUoa(rs) : null;
  s.place = -1;
  if (!v.t.c2s) return;
  // An RS-leg datagram without payload whose client copy no capture holds, carrying UOA: DPVS's
  // stand-alone UOA; it takes a place, and its original (next) does not.
  if (!client && rs && rs.payloadLen === 0 && s.uoa) {
    s.place = s.slot++;
    s.standalone = true;
    return;
  }
  // A copy on the RS leg alone is not a datagram the director was given (a duplicate made on the
  // way to the real server, or one whose arrival no capture shows): no place of its own.
  if (!client) {
    if (rs) s.exact = false;
    return;
  }
  if (s.standalone && !s.uoa) {
    s.standalone = false;
    return;
  }
  s.standalone = false;
  s.place = s.slot++;
}

function clientOf(c: Connection): string {
  return hostPort(c.client, c.cport);
}

/** fnat.uoa-missing: one of the first uoa_max_trail datagrams reached the RS leg without UOA. */
function uoaMissing(v: UoaView, sink: FindingSink): void {
  const s = v.s;
  if (!s.profileDpvs || !v.t.c2s || s.place < 0 || s.place >= UOA_MAX_TRAIL || !s.rs || !s.exact) return;
  sink.check('fnat.uoa-missing');
  if (s.uoa) return;
  sink.add(
    'fnat.uoa-missing',
    v.c,
    `datagram ${s.place + 1} of ${clientOf(v.c)} reached the real-server leg without UOA (DPVS puts it on the first ${UOA_MAX_TRAIL})`,
    `the real server cannot learn the client's address for this connection (its uoa module reads the first datagrams); check uoa_max_trail / uoa_mode in dpvs.conf (${NOTE})`,
    s.client ? [s.client, s.rs] : [s.rs],
  );
}

/** fnat.uoa-mismatch: the UOA names another address or port than the client's own. */
function uoaMismatch(v: UoaView, sink: FindingSink): void {
  const { uoa, rs, client } = v.s;
  if (!v.t.c2s || !uoa || !rs || uoa.addr === null) return;
  sink.check('fnat.uoa-mismatch');
  const c = v.c;
  if (uoa.addr === c.client && uoa.port === c.cport) return;
  sink.add(
    'fnat.uoa-mismatch',
    c,
    `UOA names ${hostPort(uoa.addr, uoa.port)}, the client is ${clientOf(c)}`,
    `DPVS writes the UOA before translating, from the client's own source address and port (${NOTE}); a real server trusting it logs and answers the wrong client`,
    client ? [client, rs] : [rs],
  );
}

/** fnat.uoa-format: the option or shim is not what DPVS writes (and its RS module reads). */
function uoaFormat(v: UoaView, sink: FindingSink): void {
  const { uoa, rs } = v.s;
  if (!v.t.c2s || !uoa || !rs) return;
  sink.check('fnat.uoa-format');
  const problems = uoaFormatProblems(uoa);
  if (problems.length === 0) return;
  sink.add('fnat.uoa-format', v.c, `UOA (${uoa.mode}): ${problems.join('; ')}`, `the RS module accepts code 31 with length 8 or 20 only, behind a shim naming UDP (${NOTE})`, [rs]);
}

/** fnat.uoa-count: UOA on a datagram past the first uoa_max_trail. */
function uoaCount(v: UoaView, sink: FindingSink): void {
  const s = v.s;
  if (!s.profileDpvs || !v.t.c2s || s.place < 0 || !s.rs || !s.exact) return;
  sink.check('fnat.uoa-count');
  if (s.place < UOA_MAX_TRAIL || !s.uoa) return;
  sink.add(
    'fnat.uoa-count',
    v.c,
    `datagram ${s.place + 1} of ${clientOf(v.c)} still carries UOA (DPVS stops after ${UOA_MAX_TRAIL}, uoa_max_trail)`,
    `harmless to the RS module, but costs 8–12 bytes per datagram and, with opp, a protocol middleboxes may drop; a uoa_max_trail above the default does this (${NOTE})`,
    [s.rs],
  );
}

/**
 * fnat.uoa-rejected: a real server answered a datagram carrying UOA in DPVS's private protocol
 * (opp) with ICMP protocol unreachable (ICMPv6: unrecognized next header). Its kernel has no
 * handler for IP protocol 248 — DPVS's uoa module is not loaded — so the datagram never reaches
 * the application: every UDP flow loses its first uoa_max_trail datagrams (seen on real
 * kernels: fixtures/lab/dpvs-udp-opp). Judged wherever the datagram's RS-leg copy was captured,
 * as the error goes back the same way (to the LIP, through the director).
 */
function uoaRejected(v: UoaView, sink: FindingSink): void {
  const { uoa, rs, client } = v.s;
  const answers = v.ctx.answers;
  if (!v.t.c2s || !uoa || uoa.mode !== 'opp' || !rs || !answers) return;
  sink.check('fnat.uoa-rejected');
  const by = answers.refusalOf(rs.ip.src, rs.ip.dst, rs.sport, rs.ip.id);
  if (!by) return;
  sink.add(
    'fnat.uoa-rejected',
    v.c,
    `real server ${rs.ip.dst} refused a datagram of ${clientOf(v.c)} carrying UOA in DPVS's IP protocol 248 (ICMP protocol unreachable): the datagram is lost, as is every UDP flow's first ${UOA_MAX_TRAIL} while the real server lacks the uoa module`,
    `load DPVS's uoa module (kmod/uoa) on the real server, or set uoa_mode ipo in dpvs.conf, an IP option a stock kernel ignores (${NOTE})`,
    client ? [client, rs, by] : [rs, by],
  );
}

export const FNAT_UOA_RULES = {
  'fnat.uoa-rejected': { trace: uoaRejected },
  'fnat.uoa-format': { trace: uoaFormat },
  'fnat.uoa-mismatch': { trace: uoaMismatch },
  'fnat.uoa-missing': { trace: uoaMissing },
  'fnat.uoa-count': { trace: uoaCount },
} as const satisfies RuleTable<UoaState>;

/** The UOA rules over UDP FullNAT connections linked to their RS leg. */
export function makeFullnatUoaRules(): RuleModule {
  const w = walk<UoaState>(FNAT_UOA_RULES, new UoaState(), {
    traces: (v) => [...v.c.traces].sort((a: Trace, b: Trace) => a.t0 - b.t0),
    open: (v) => {
      v.s.slot = 0;
      v.s.standalone = false;
      v.s.exact = true;
      v.s.profileDpvs = v.ctx.profile === 'dpvs';
    },
    at,
  });
  return {
    family: 'fnat',
    ids: w.rules.map((r) => r.id),
    run(ctx, conns, sink) {
      if (ctx.service.protocol !== 'udp') return;
      for (const c of conns) {
        const info = fnatInfo(c);
        if (!info || !info.leg) continue;
        w.judge(ctx, c, sink);
      }
    },
  };
}
