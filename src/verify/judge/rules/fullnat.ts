/**
 * FullNAT rules (rules.md "FullNAT"; lvs-behavior.md §2.1–2.4 Alibaba, §3.1 DPVS, §3.4 RS
 * modules, §7 R9–R13) over connections built by correlate/fnat-tracker.ts, whose traces join the
 * client leg (CIP:cport ↔ VIP:vport) and the RS leg (LIP:lport ↔ RIP:rport).
 *
 * Which copy is judged: the one the director sent, else the one the next point received —
 * client → RS: RS-leg copy at the director (De), else at the RS (R), against the client-leg copy
 * the director received (Di), else the client's own (C); replies the other way round.
 *
 * TOA presence follows the profile (R12): alibaba puts it in the SYN and in every
 * non-SYN/RST/FIN packet whose ack is RS ISN+1; dpvs not in the SYN, FIN allowed. The packet that
 * matters is the handshake-completing ACK — the only one the RS module reads (§3.4) — so its
 * TOA is reported on its own. A missing TOA is fnat.toa-no-room (warning) when the option space
 * or the MTU had no room under the profile's insertion logic (R13): alibaba gives up when the
 * options exceed 40 − TOA length or the segment exceeds MTU − TOA length; dpvs first prunes
 * NOPs and old TOAs and, outside the SYN, SACK blocks. When dpvs inserted TOA after pruning,
 * what it removed is checked against what it may remove.
 */
import type { Connection, Trace } from '../../model/connection.js';
import { fnatInfo, legOf, type FnatInfo } from '../../correlate/fnat-tracker.js';
import {
  findToa,
  hasTimestamp,
  listOptions,
  optionMss,
  optionSpace,
  profileToaKinds,
  sackEdges,
  toaText,
  type Toa,
} from '../fnat-options.js';
import type { PacketRecord } from '../../model/record.js';
import type { FindingSink } from '../sink.js';
import { hostPort, RTO_MIN_NS, sentAgain, walk, type RuleModule, type RuleTable, type TraceView, type Walk, type WalkHooks } from './common.js';

const SYN = 0x02;
const ACK = 0x10;
const FIN = 0x01;
const RST = 0x04;

type FnatProfile = 'alibaba' | 'dpvs' | null;

/** Client-leg and RS-leg copies of one trace, as the director received / sent them. */
export interface LegCopies {
  client: PacketRecord | undefined;
  rs: PacketRecord | undefined;
}

export function legCopies(t: Trace): LegCopies {
  const client = t.c2s ? t.Di ?? t.C : t.De ?? t.C;
  const rs = t.c2s ? t.De ?? t.R : t.Di ?? t.R;
  if (!t.segmented || !client || !rs || client.payloadLen === rs.payloadLen) return { client, rs };
  // Cut differently at different points (segmentation offload): compare the copies of each leg
  // that hold the same bytes, where there are such.
  for (const a of [client, t.C]) {
    for (const b of [rs, t.R]) if (a && b && a.payloadLen === b.payloadLen) return { client: a, rs: b };
  }
  // A leg whose pieces do not add up to the other leg's whole segment lacks some (a capture
  // dropped them): its first copy may not start the bytes, so the two are not compared.
  if (rs.payloadLen > client.payloadLen && slotBytes(t, client) < rs.payloadLen) return { client: undefined, rs };
  if (client.payloadLen > rs.payloadLen && slotBytes(t, rs) < client.payloadLen) return { client, rs: undefined };
  return { client, rs };
}

/** Payload bytes a joined trace holds at `x`'s slot (its point and role): `x` and its pieces. */
function slotBytes(t: Trace, x: PacketRecord): number {
  let n = x.payloadLen;
  for (const p of t.pieces ?? []) if (p !== x && p.point === x.point && p.role === x.role) n += p.payloadLen;
  return n;
}

const isPureSyn = (r: PacketRecord): boolean => (r.flags & (SYN | ACK)) === SYN;

/** Client sequence delta of a connection: from its SYN pair, else the first c2s pair. */
export function seqDeltaOf(traces: readonly Trace[]): number | null {
  let first: number | null = null;
  for (const t of traces) {
    if (!t.c2s) continue;
    const { client, rs } = legCopies(t);
    if (!client || !rs) continue;
    const d = (rs.seq - client.seq) >>> 0;
    if (isPureSyn(client)) return d;
    first ??= d;
  }
  return first;
}

/** RS-side path MTU: the RS's MSS (its SYN-ACK) plus the headers, else Ethernet's 1500. */
function pathMtu(traces: readonly Trace[]): number {
  for (const t of traces) {
    if (t.c2s) continue;
    const { rs } = legCopies(t);
    if (!rs || (rs.flags & (SYN | ACK)) !== (SYN | ACK)) continue;
    const mss = optionMss(rs.tcpOpts);
    if (mss > 0) return mss + (rs.ip.v === 4 ? 40 : 60);
  }
  return 1500;
}

/** Options dpvs never prunes (tcp_in_prune_options, §3.1): SYN MSS, WS, SACKP, TS, MPTCP, TFO; otherwise TS. */
const DPVS_PROTECTED_SYN: ReadonlySet<number> = new Set([2, 3, 4, 8, 30, 34]);
const DPVS_PROTECTED: ReadonlySet<number> = new Set([8]);

/** Option space after dpvs's first pruning step (NOPs and old kind-254 removed), padded. */
function dpvsAfterNopPrune(opts: Uint8Array | null): number {
  let n = 0;
  for (const o of listOptions(opts)) if (o.kind !== 1 && o.kind !== 254) n += o.len;
  return (n + 3) & ~3;
}

/** Smallest option space dpvs can reach: only the protected options left. */
function dpvsMinimalSpace(opts: Uint8Array | null, syn: boolean): number {
  const keep = syn ? DPVS_PROTECTED_SYN : DPVS_PROTECTED;
  let n = 0;
  for (const o of listOptions(opts)) if (keep.has(o.kind)) n += o.len;
  return (n + 3) & ~3;
}

/** Options as "kind:hexbytes" keys, without NOPs (which a director may add or prune). */
function optionKeys(b: Uint8Array | null, skipIndex: number): string[] {
  return listOptions(b)
    .map((o, i) => ({ o, i }))
    .filter(({ o, i }) => i !== skipIndex && o.kind !== 1)
    .map(({ o }) => Buffer.from(b!.subarray(o.off, o.off + o.len)).toString('hex'));
}

const OPT_NAME: Record<number, string> = { 2: 'MSS', 3: 'window scale', 4: 'SACK-permitted', 5: 'SACK', 8: 'timestamp', 19: 'MD5', 29: 'TCP-AO', 30: 'MPTCP', 34: 'TFO', 254: 'kind 254' };

const NOTE = {
  toa: 'lvs-behavior.md §2.3 (ALI), §3.1 (DPVS), §3.4 (RS module), §7 R11–R13',
};

/**
 * A FullNAT walk's state: the connection's link to its RS leg, its traces in time order (the
 * order walked), and the client-leg and RS-leg copies of the trace (legCopies, without an
 * object per trace).
 */
export class FnatState {
  info!: FnatInfo;
  fp: FnatProfile = null;
  sorted: readonly Trace[] = [];
  client: PacketRecord | undefined = undefined;
  rs: PacketRecord | undefined = undefined;

  /** The connection's facts, shared by every walk (loaded once per connection). */
  load(info: FnatInfo, fp: FnatProfile, sorted: readonly Trace[]): void {
    this.info = info;
    this.fp = fp;
    this.sorted = sorted;
  }
}

export type FnatView = TraceView<FnatState>;

/** Per trace: its client-leg and RS-leg copies. */
function legsAt(v: FnatView): void {
  const s = v.s;
  const t = v.t;
  if (!t.segmented) {
    if (t.c2s) {
      s.client = v.Di ?? v.C;
      s.rs = v.De ?? v.R;
    } else {
      s.client = v.De ?? v.C;
      s.rs = v.Di ?? v.R;
    }
    return;
  }
  const { client, rs } = legCopies(t);
  s.client = client;
  s.rs = rs;
}

/** A FullNAT walk: the traces in time order, and the leg copies at each. */
const FNAT_WALK: WalkHooks<FnatState> = { traces: (v) => v.s.sorted, at: legsAt };

/** fnat.src: the RS leg leaves from a local address of the service, to the configured port,
 *  and no LIP:lport is reused while it serves another live connection. */
function src(v: FnatView, sink: FindingSink): void {
  const { ctx, c } = v;
  const { info, sorted } = v.s;
  const leg = info.leg!;
  const { localAddresses } = ctx.service;
  sink.check('fnat.src');
  const first = sorted.map((t) => (t.c2s ? legCopies(t).rs : undefined)).find((x) => x !== undefined);
  const ev = first ? [first] : [];
  const problems: string[] = [];
  if (leg.lip === c.client) problems.push(`source not translated (still the client ${c.client})`);
  else if (localAddresses.length > 0 && !localAddresses.includes(leg.lip)) {
    problems.push(`source ${leg.lip} is not a local address of the service (${localAddresses.join(', ')})`);
  }
  const rs = ctx.rsByIp.get(leg.rip);
  if (rs && rs.port !== 0 && rs.port !== leg.rport) problems.push(`destination port ${leg.rport}, configured ${rs.port}`);
  if (problems.length > 0) {
    sink.add(
      'fnat.src',
      c,
      `forwarded as ${hostPort(leg.lip, leg.lport)} → ${hostPort(leg.rip, leg.rport)}: ${problems.join('; ')}`,
      'FullNAT sends client → RS traffic from one of the service local addresses (ipvsadm -P … -z LIP / keepalived local_address_group, lvs-behavior.md §2.1); check the laddr list of this service',
      ev,
      'src',
    );
  }
  if (leg.reuseOf) {
    const o = leg.reuseOf;
    sink.add(
      'fnat.src',
      c,
      `${hostPort(leg.lip, leg.lport)} → ${hostPort(leg.rip, leg.rport)} is reused while it still serves the live connection of ${hostPort(o.client, o.cport)}`,
      'the director must skip local ports in use toward the same RIP:port (ALI ip_vs_hbind_laddr, lport_tries, lvs-behavior.md §2.1): the RS cannot tell the two connections apart; check the lport range and the conn table (ipvsadm -Lnc)',
      [...(leg.synRef ? [leg.synRef] : []), ...(o.ref ? [o.ref] : [])],
      'reuse',
    );
  }
}

/** The seq-delta walk's state: the connection's client sequence delta. */
export class SeqState extends FnatState {
  delta: number | null = null;
}

export type SeqView = TraceView<SeqState>;

const shift = (x: number): string => `${x >= 0x80000000 ? '-' : '+'}${x >= 0x80000000 ? 0x100000000 - x : x}`;

/** fnat.seq-delta: one constant shift of the client sequence space, undone on replies (ack and
 *  SACK edges). */
const seqDelta = {
  begin(v: SeqView): void {
    v.s.delta = seqDeltaOf(v.s.sorted);
  },
  trace(v: SeqView, sink: FindingSink): void {
    const { c, t } = v;
    const { client, rs, delta } = v.s;
    // UDP has no sequence numbers to shift.
    if (delta === null || !client || !rs || client.proto === 'udp') return;
    sink.check('fnat.seq-delta');
    if (t.c2s) {
      const d = (rs.seq - client.seq) >>> 0;
      if (d !== delta) {
        sink.add(
          'fnat.seq-delta',
          c,
          `client seq ${client.seq} forwarded as ${rs.seq}: delta ${shift(d)} differs from the connection's ${shift(delta)}`,
          'FullNAT shifts the client sequence space by one constant per connection (tcp_in_adjust_seq, lvs-behavior.md §2.2, §7 R9); a changing delta desynchronises the RS (dup ACKs, resets)',
          [client, rs],
          'c2s',
        );
      }
      return;
    }
    const problems: string[] = [];
    if ((rs.flags & ACK) !== 0 && ((rs.ack - delta) >>> 0) !== client.ack) {
      problems.push(`ack ${rs.ack} forwarded as ${client.ack}, expected ${(rs.ack - delta) >>> 0}`);
    }
    const re = sackEdges(rs.tcpOpts);
    const ce = sackEdges(client.tcpOpts);
    for (let i = 0; i < Math.min(re.length, ce.length); i++) {
      if (((re[i]! - delta) >>> 0) !== ce[i]) {
        problems.push(`SACK edge ${re[i]} forwarded as ${ce[i]}, expected ${(re[i]! - delta) >>> 0}`);
        break;
      }
    }
    if (problems.length > 0) {
      sink.add(
        'fnat.seq-delta',
        c,
        `reply not shifted back by the delta ${shift(delta)}: ${problems.join('; ')}`,
        'RS → client ack and every SACK edge must be shifted back by the same delta (tcp_out_adjust_seq, lvs-behavior.md §2.4, §7 R9); unshifted SACK blocks make the client retransmit or drop data',
        [rs, client],
        's2c',
      );
    }
  },
};

interface ToaExpectation {
  /** true: the profile inserts TOA here; false: it must not; null: cannot say. */
  expected: boolean | null;
  why: string;
}

function expectation(fp: FnatProfile, r: PacketRecord, rsIsn: number | null): ToaExpectation {
  const syn = isPureSyn(r);
  const ackMatch = rsIsn !== null && (r.flags & ACK) !== 0 && r.ack === ((rsIsn + 1) >>> 0);
  if (syn) {
    if (fp === 'alibaba') return { expected: true, why: 'alibaba inserts TOA into the SYN (tcp_fnat_in_handler, §2.2)' };
    if (fp === 'dpvs') return { expected: false, why: 'dpvs does not insert TOA into SYNs since 30f421d1 (2023-12, §3.1)' };
    return { expected: null, why: '' };
  }
  if ((r.flags & RST) !== 0) return { expected: false, why: 'no profile inserts TOA into an RST (§2.2, §3.1)' };
  if (rsIsn === null) return { expected: null, why: '' };
  if ((r.flags & FIN) !== 0) {
    if (!ackMatch) return { expected: false, why: `TOA goes only on packets whose ack is RS ISN+1 (${(rsIsn + 1) >>> 0}) (§2.2, §3.1)` };
    if (fp === 'alibaba') return { expected: false, why: 'alibaba does not insert TOA into FIN-carrying packets (§2.2)' };
    if (fp === 'dpvs') return { expected: true, why: 'dpvs inserts TOA into a FIN whose ack is RS ISN+1 (fea3c435, §3.1)' };
    return { expected: null, why: '' };
  }
  if (ackMatch) return { expected: true, why: 'every non-SYN/RST/FIN packet whose ack is RS ISN+1 carries TOA (§2.2, §3.1, R12)' };
  return { expected: false, why: `TOA goes only on packets whose ack is RS ISN+1 (${(rsIsn + 1) >>> 0}) (§2.2, §3.1, R12)` };
}


/**
 * The TOA walk's state. Per connection: the TOA kinds and length the profile expects, the
 * RS-side MTU, the handshake-completing trace, and the packets found without a TOA the profile
 * would have inserted. Per client → RS trace: its TOA, what the profile expects there, and
 * why a missing TOA is legitimate (noRoom).
 */
export class ToaState extends FnatState {
  kinds: ReadonlySet<number> = new Set();
  family: 4 | 6 = 4;
  toaLen = 8;
  mtu = 1500;
  handshake: Trace | null = null;
  readonly missingOther: PacketRecord[] = [];
  handshakeMissing: PacketRecord[] | null = null;
  synAbsent: PacketRecord | null = null;
  /** The trace is client → RS with an RS-leg copy (the others are not judged here). */
  judged = false;
  toa: Toa | null = null;
  exp: ToaExpectation = { expected: null, why: '' };
  ev: PacketRecord[] = [];
  syn = false;
  noRoom: string | null = null;
  /** MACs the real server got the connection's RS-leg packets from (at its own capture). */
  readonly deliveredBy = new Set<string>();
  bypassReported = false;

  constructor(
    /** TOA kinds accepted (--toa-kind), over the profile's. */
    readonly toaKinds: readonly number[] | undefined,
  ) {
    super();
  }
}

export type ToaView = TraceView<ToaState>;

/** Per connection, once load() gave its facts. */
function toaOpen(v: ToaView): void {
  const s = v.s;
  const { info, fp, sorted } = s;
  const leg = info.leg!;
  s.family = info.clientFamily;
  s.toaLen = s.family === 4 ? 8 : 20;
  s.kinds = profileToaKinds(fp ?? 'dpvs', s.family, s.toaKinds);
  s.mtu = pathMtu(sorted);
  s.handshake = null;
  for (const t of sorted) {
    if (!t.c2s) continue;
    const { rs } = legCopies(t);
    if (rs && leg.rsIsn !== null && (rs.flags & (SYN | RST)) === 0 && (rs.flags & ACK) !== 0 && rs.ack === ((leg.rsIsn + 1) >>> 0)) {
      s.handshake = t;
      break;
    }
  }
  s.missingOther.length = 0;
  s.handshakeMissing = null;
  s.synAbsent = null;
  s.deliveredBy.clear();
  s.bypassReported = false;
  for (const t of sorted) {
    if (!t.c2s) continue;
    for (const r of t.list) if (r.role === 'R' && r.srcMac !== null) s.deliveredBy.add(r.srcMac);
  }
}

/**
 * nat.reply-bypass on FullNAT: the real server answers the local address (LIP), which only the
 * director owns, so its replies go back to the MAC its requests came from — the director's, or
 * the router's in front of it. Sent to another MAC, they take a route around the director (a
 * wrong route to the LIP network) and the connection never completes (§2.1).
 */
function fnatReplyBypass(v: ToaView, sink: FindingSink): void {
  const s = v.s;
  if (v.t.c2s || s.deliveredBy.size === 0) return;
  const r = v.t.list.find((x) => x.role === 'R');
  if (r === undefined || r.srcMac === null || r.dstMac === null) return;
  sink.check('nat.reply-bypass');
  if (s.deliveredBy.has(r.dstMac) || s.bypassReported) return;
  s.bypassReported = true;
  const leg = s.info.leg!;
  sink.add(
    'nat.reply-bypass',
    v.c,
    `the reply from real server ${r.ip.src} to local address ${r.ip.dst} is sent to MAC ${r.dstMac}, not back to ${[...s.deliveredBy].join(', ')} that its requests came from`,
    `the route of real server ${leg.rip} to the local address network goes around the director: replies to a LIP must go back through the director (ip route on the real server: the LIP subnet via the director's address on its LAN)`,
    [r],
  );
}

/** Per trace: the leg copies, then the trace's TOA and what the profile expects there. */
function toaAt(v: ToaView): void {
  legsAt(v);
  const s = v.s;
  const { client, rs } = s;
  s.judged = v.t.c2s && rs !== undefined;
  if (!s.judged) return;
  const leg = s.info.leg!;
  s.toa = findToa(rs!, client ? client.tcpOpts : undefined, s.kinds);
  // Seen only as it left the director, an option of a TOA kind that does not carry this
  // connection's client may be one the client sent (an experiment of its own, §2.3 R11): with
  // no copy of the packet as it arrived to tell, the trace is not judged.
  if (!client && s.toa !== null && !(s.toa.addr === v.c.client && s.toa.port === v.c.cport)) {
    s.judged = false;
    return;
  }
  s.exp = expectation(s.fp, rs!, leg.rsIsn);
  s.ev = client ? [client, rs!] : [rs!];
  s.syn = isPureSyn(rs!);
  s.noRoom = s.toa === null && s.exp.expected === true ? noRoomReason(s, client ?? rs!, rs!) : null;
}

/** Why a TOA the profile inserts here could legitimately be left out (no room in the options or
 *  the MTU, or address families that differ), or null when there was room. */
function noRoomReason(s: ToaState, base: PacketRecord, rs: PacketRecord): string | null {
  const { fp, family, toaLen, mtu, syn } = s;
  if (fp === 'alibaba' && rs.ip.v !== family) return `client IPv${family} and RS IPv${rs.ip.v}: alibaba adds no TOA across families (FULLNAT_ADD_TOA_FAIL_PROTO)`;
  if (fp === 'dpvs') {
    const minimal = dpvsMinimalSpace(base.tcpOpts, syn);
    // As forwarded (without TOA) where the client's copy is a piece of the segment (TSO).
    const prunedLen = Math.max(base.ip.totalLen - (optionSpace(base.tcpOpts) - minimal), rs.ip.totalLen);
    if (minimal + toaLen > 40) return `options need ${minimal} bytes even after pruning every unprotected option; TOA needs ${toaLen} of 40`;
    if (prunedLen + toaLen > mtu) return `the segment (${prunedLen} bytes after pruning) + TOA exceeds the path MTU ${mtu}`;
    return null;
  }
  const space = optionSpace(base.tcpOpts);
  if (space + toaLen > 40) return `options already use ${space} of 40 bytes; TOA needs ${toaLen}`;
  // The segment as the director had it: a client capture may show it cut into pieces (TSO) or
  // merged (GRO); the copy toward the real server, without TOA, is the size it forwarded.
  const size = Math.max(base.ip.totalLen, rs.ip.totalLen);
  if (size + toaLen > mtu) return `the ${size}-byte segment + TOA exceeds the path MTU ${mtu}`;
  return null;
}

/** fnat.toa-format: a TOA of the profile's kind and of the length for the client's family. */
function toaFormat(v: ToaView, sink: FindingSink): void {
  const { c } = v;
  const { toa, kinds, toaLen, fp, family, ev } = v.s;
  if (!v.s.judged || !toa) return;
  sink.check('fnat.toa-format');
  if (kinds.has(toa.kind) && toa.len === toaLen) return;
  sink.add(
    'fnat.toa-format',
    c,
    `TOA kind ${toa.kind} length ${toa.len} to ${v.s.info.leg!.rip}: profile ${fp ?? 'default'} for an IPv${family} client expects kind ${[...kinds].join('/')} length ${toaLen}`,
    `the RS TOA module reads only its own kind and length (ALI: 254/8; DPVS: 254/8 or 20; Jupiter: 200/201) and ignores any other, so the RS sees the LIP (${NOTE.toa}); match --profile/--toa-kind to the director, or the RS module to the director`,
    ev,
  );
}

/**
 * fnat.toa-placement: TOA is the first option, only on the packets the profile puts it on, and
 * (alibaba) in the SYN — the last reported after the connection, unless fnat.toa-missing's
 * report on the handshake ACK already names the SYN.
 */
const toaPlacement = {
  trace(v: ToaView, sink: FindingSink): void {
    const { c } = v;
    const { toa, exp, fp, ev, syn } = v.s;
    if (!v.s.judged || !toa) return;
    const rs = v.s.rs!;
    const leg = v.s.info.leg!;
    sink.check('fnat.toa-placement');
    if (toa.index !== 0) {
      sink.add(
        'fnat.toa-placement',
        c,
        `TOA is option #${toa.index + 1}, not the first option after the base TCP header`,
        `ALI/DPVS insert TOA immediately after the 20-byte base header (§2.3, R11); an RS module that stops at an earlier EOL or a malformed option never finds it`,
        ev,
        'index',
      );
    }
    if (exp.expected === false) {
      sink.add(
        'fnat.toa-placement',
        c,
        `TOA on a ${syn ? 'SYN' : (rs.flags & RST) !== 0 ? 'RST' : (rs.flags & FIN) !== 0 ? 'FIN' : 'packet'} toward ${leg.rip} (ack ${rs.ack}): ${exp.why}`,
        fp ? `this capture does not follow profile ${fp}: if the director is another FullNAT implementation, check with its profile` : 'set --profile alibaba or dpvs',
        ev,
        syn ? 'syn' : 'other',
      );
    }
  },
  // After fnat.toa-missing's report, which takes the SYN in when the handshake ACK lacks TOA too.
  after(v: ToaView, sink: FindingSink): void {
    if (v.s.handshakeMissing || !v.s.synAbsent) return;
    sink.add(
      'fnat.toa-placement',
      v.c,
      `no TOA in the SYN toward ${v.s.info.leg!.rip}: alibaba inserts TOA into the SYN (§2.2); dpvs since 2023-12 does not (§3.1)`,
      'the capture looks like a DPVS director: check with --profile dpvs',
      [v.s.synAbsent],
      'syn',
    );
  },
};

/** fnat.toa-mismatch: the TOA carries this connection's client address and port. */
function toaMismatch(v: ToaView, sink: FindingSink): void {
  const { c, t } = v;
  const { toa, kinds, toaLen, family, ev, syn, handshake } = v.s;
  if (!v.s.judged || !toa) return;
  const lenOk = toa.len === toaLen;
  if (!((kinds.has(toa.kind) && lenOk) || (toa.family === family && lenOk))) return;
  sink.check('fnat.toa-mismatch');
  if (toa.addr === c.client && toa.port === c.cport) return;
  sink.add(
    'fnat.toa-mismatch',
    c,
    `${toaText(toa)} on the ${handshake === t ? 'handshake-completing ACK' : syn ? 'SYN' : 'packet'} toward ${v.s.info.leg!.rip}, but this connection's client is ${hostPort(c.client, c.cport)}`,
    'the RS application will log/authorise the wrong client: the director filled TOA from another connection or the wrong field (cp->cport/caddr, §2.3)',
    ev,
  );
}

/** fnat.mtu: a TOA-carrying segment fits the RS-side path MTU. */
function fnatMtu(v: ToaView, sink: FindingSink): void {
  const { c } = v;
  const { toa, mtu, ev } = v.s;
  if (!v.s.judged || !toa) return;
  const rs = v.s.rs!;
  sink.check('fnat.mtu');
  if (rs.ip.totalLen <= mtu) return;
  sink.add(
    'fnat.mtu',
    c,
    `a TOA-carrying segment of ${rs.ip.totalLen} bytes left toward ${v.s.info.leg!.rip}; path MTU ${mtu} (RS MSS + headers)`,
    'ALI skips TOA when skb->len > MTU − TOA length (FAIL_LEN), DPVS prunes or skips (EDPVS_FRAG) (§2.3, §3.1, R13): this segment will be dropped or fragmented',
    ev,
  );
}

/** rewrite.tcp-fields under FullNAT: options the director removed beyond what the profile may. */
function tcpFields(v: ToaView, sink: FindingSink): void {
  // UDP (DPVS FullNAT UDP, §3.3) has no TCP options to remove.
  if (!v.s.judged || !v.s.client || !v.s.fp || v.s.client.proto === 'udp') return;
  removedOptions(v, v.s.client, v.s.rs!, v.s.toa, sink);
}

/** fnat.toa-no-room: a TOA the profile inserts here is absent, legitimately (R13). */
function toaNoRoom(v: ToaView, sink: FindingSink): void {
  const { c, t } = v;
  const { fp, ev, syn, handshake, noRoom } = v.s;
  if (!v.s.judged || v.s.exp.expected !== true) return;
  sink.check('fnat.toa-no-room');
  if (noRoom === null) return;
  sink.add(
    'fnat.toa-no-room',
    c,
    `no TOA on ${handshake === t ? 'the handshake-completing ACK' : syn ? 'the SYN' : 'a packet'} toward ${v.s.info.leg!.rip}: ${noRoom}`,
    `legitimate under profile ${fp ?? 'default'} (§2.3, §3.1, R13)${handshake === t ? ', but the RS will see the LIP as the peer of this connection' : ''}`,
    ev,
    handshake === t ? 'handshake' : 'other',
  );
}

/**
 * fnat.toa-missing: a TOA the profile inserts here is absent although there was room. Gathered
 * over the connection, then reported once: the handshake-completing ACK on its own (the packet
 * the RS module reads, §3.4), else the later packets.
 */
const toaMissing = {
  trace(v: ToaView, sink: FindingSink): void {
    if (!v.s.judged || v.s.exp.expected !== true) return;
    sink.check('fnat.toa-missing');
    if (v.s.toa !== null || v.s.noRoom !== null) return;
    const rs = v.s.rs!;
    if (v.s.syn) v.s.synAbsent = rs;
    else if (v.s.handshake === v.t) v.s.handshakeMissing = v.s.ev;
    else v.s.missingOther.push(rs);
  },
  end(v: ToaView, sink: FindingSink): void {
    const { c } = v;
    const { fp, handshake, handshakeMissing, synAbsent, missingOther } = v.s;
    const leg = v.s.info.leg!;
    if (handshakeMissing) {
      const also = [synAbsent ? 'the SYN' : null, missingOther.length > 0 ? `${missingOther.length} later packet(s) with ack RS ISN+1` : null].filter(Boolean);
      sink.add(
        'fnat.toa-missing',
        c,
        `the handshake-completing ACK reached ${leg.rip} without TOA although there was room — the RS module reads only this packet, so the RS sees ${hostPort(leg.lip, leg.lport)} instead of ${hostPort(c.client, c.cport)}${also.length > 0 ? ` (also missing from ${also.join(' and ')})` : ''}`,
        `the director did not insert TOA (ALI/DPVS toa_entry, tcp_opt_add_toa; ${NOTE.toa}); check the FullNAT build/sysctls and ipvsadm --ext-stats counters`,
        [...handshakeMissing, ...(synAbsent ? [synAbsent] : []), ...missingOther.slice(0, 3)],
        'handshake',
      );
      return;
    }
    if (missingOther.length === 0) return;
    sink.add(
      'fnat.toa-missing',
      c,
      `${missingOther.length} packet(s) toward ${leg.rip} with ack RS ISN+1 carry no TOA although the profile inserts it there (the handshake-completing ACK ${handshake ? 'had it' : 'was not seen'})`,
      `profile ${fp ?? 'default'} inserts TOA into every such packet (${NOTE.toa}); harmless for the RS module, which reads the handshake ACK, unless that ACK is lost`,
      missingOther.slice(0, 4),
      'other',
    );
  },
};

/**
 * Options the director removed from a client → RS packet. Both profiles turn the SYN timestamp
 * into NOPs (§2.2, §3.1). Alibaba removes nothing else (no compaction, §2.3). DPVS may drop NOPs
 * and old TOAs, and outside a SYN SACK blocks — the latter only when TOA would not fit otherwise
 * (tcp_in_prune_options, §3.1).
 */
function removedOptions(v: FnatView, client: PacketRecord, rs: PacketRecord, toa: Toa | null, sink: FindingSink): void {
  const { c } = v;
  const { fp } = v.s;
  // A malformed option (e.g. a TOA with a wrong length byte) hides what follows it.
  if (listOptions(rs.tcpOpts).some((o) => o.broken) || (toa && toa.len !== 8 && toa.len !== 20)) return;
  const syn = isPureSyn(client);
  const before = optionKeys(client.tcpOpts, -1);
  const after = optionKeys(rs.tcpOpts, toa ? toa.index : -1);
  const left = [...after];
  const removed: string[] = [];
  for (const k of before) {
    const i = left.indexOf(k);
    if (i >= 0) left.splice(i, 1);
    else removed.push(k);
  }
  const kindOf = (k: string): number => parseInt(k.slice(0, 2), 16);
  const allowed = (k: string): boolean => {
    const kind = kindOf(k);
    if (syn && kind === 8) return true; // timestamp → NOPs in the SYN (§2.2, §3.1)
    if (fp !== 'dpvs') return false;
    if (kind === 254) return true;
    // Unprotected options may go only when the options minus NOPs and old TOAs still leave no room.
    if (toa && !(syn ? DPVS_PROTECTED_SYN : DPVS_PROTECTED).has(kind)) return dpvsAfterNopPrune(client.tcpOpts) + toa.len > 40;
    return false;
  };
  sink.check('rewrite.tcp-fields');
  const bad = removed.filter((k) => !allowed(k));
  if (bad.length > 0) {
    sink.add(
      'rewrite.tcp-fields',
      c,
      `the director removed ${bad.map((k) => OPT_NAME[kindOf(k)] ?? `kind ${kindOf(k)}`).join(', ')} from a client packet${toa ? ' while inserting TOA' : ''}`,
      fp === 'dpvs'
        ? 'DPVS prunes NOPs and old TOAs first and drops unprotected options only when TOA still does not fit (SYN: MSS, WS, SACKP, TS, MPTCP, TFO protected; otherwise TS) (tcp_in_prune_options, lvs-behavior.md §3.1)'
        : 'Alibaba FullNAT only replaces the SYN timestamp with NOPs and inserts TOA; it never removes client options (lvs-behavior.md §2.2, §2.3)',
      [client, rs],
      'pruned',
    );
  }
}



/** fnat.ts-not-removed: the SYN toward the RS no longer carries the timestamp option. */
function tsNotRemoved(v: FnatView, sink: FindingSink): void {
  const { c, t } = v;
  const { client, rs } = v.s;
  if (!rs || !t.c2s || !isPureSyn(rs)) return;
  sink.check('fnat.ts-not-removed');
  if (!hasTimestamp(rs.tcpOpts) || (client && !hasTimestamp(client.tcpOpts))) return;
  sink.add(
    'fnat.ts-not-removed',
    c,
    `the SYN toward ${rs.ip.dst} still carries the timestamp option`,
    'ALI (timestamp_remove_entry=1) and DPVS replace the SYN timestamp with NOPs (§2.2, §3.1, R10): the RS would negotiate timestamps that break with many clients behind one LIP (PAWS)',
    client ? [client, rs] : [rs],
  );
}

/** fnat.mss-adjust: the SYN-ACK MSS reaches the client lowered by the TOA length. */
function mssAdjust(v: FnatView, sink: FindingSink): void {
  const { c, t } = v;
  const { client, rs } = v.s;
  if (!rs || t.c2s || !client || (rs.flags & (SYN | ACK)) !== (SYN | ACK)) return;
  const family = v.s.info.clientFamily;
  sink.check('fnat.mss-adjust');
  const rsMss = optionMss(rs.tcpOpts);
  const got = optionMss(client.tcpOpts);
  const want = rsMss < 0 ? -1 : rsMss - (family === 4 ? 8 : 20);
  if (got === want) return;
  sink.add(
    'fnat.mss-adjust',
    c,
    `SYN-ACK MSS ${rsMss < 0 ? 'none' : rsMss} from the RS reached the client as ${got < 0 ? 'none' : got}; expected ${want < 0 ? 'none' : want} (RS MSS − ${family === 4 ? 8 : 20})`,
    'the director lowers the SYN-ACK MSS by the TOA length (mss_adjust_entry, tcp_opt_adjust_mss; §2.4, §3.1, R10) so that a full-size client segment still fits the MTU with TOA',
    [rs, client],
  );
}

/** The two copies of a trace FullNAT must leave alone (§2.1, §3.1, §7 R2, R4), sender first,
 *  or null. */
function invariantPair(v: FnatView): [PacketRecord, PacketRecord] | null {
  const { t } = v;
  const { client, rs } = v.s;
  if (!client || !rs) return null;
  return t.c2s ? [client, rs] : [rs, client];
}

/**
 * The invariant walk's state: which of the connection's links to the director add no hop, so
 * that the copy at the next point stands for the one the director sent where the director's
 * capture lacks it.
 */
export class InvariantState extends FnatState {
  /** Client packets reach the director with the TTL the client sent (no router between). */
  clientAdjacent = false;
  /** Real-server packets reach the director with the TTL the real server sent. */
  rsAdjacent = false;
}

/** Per connection: whether each side of the director is one link away, as the connection's
 *  own packets toward the director show (a copy sent there and its copy at the director). */
function invariantOpen(v: TraceView<InvariantState>): void {
  const s = v.s;
  const dir = v.ctx.directorIdx;
  s.clientAdjacent = false;
  s.rsAdjacent = false;
  for (const t of s.sorted) {
    const sent = t.c2s ? t.C : t.R;
    const got = t.Di;
    if (!sent || !got || got.point !== dir || sent.ip.v !== got.ip.v) continue;
    if (sent.ip.ttl !== got.ip.ttl) continue;
    if (t.c2s) s.clientAdjacent = true;
    else s.rsAdjacent = true;
    if (s.clientAdjacent && s.rsAdjacent) return;
  }
}

/**
 * rewrite.ttl under FullNAT: the TTL is kept across the director (R2). The director's input and
 * output copies of a packet, both in its capture; where its capture lacks the output (a DPDK
 * director's own transmissions on an af_packet port are not seen by tcpdump there), the copy
 * at the next point, when the connection shows that link adds no hop (invariantOpen). The
 * other direction's packets prove it; a route back through a router that the packets out do
 * not take would be judged wrongly, which a director LAN does not do.
 */
function fnatTtl(v: TraceView<InvariantState>, sink: FindingSink): void {
  const { ctx, c, t } = v;
  const dir = ctx.directorIdx;
  const a = v.Di;
  if (!a || a.point !== dir) return;
  let b = v.De;
  let at = 'across the director';
  if (!b || b.point !== dir) {
    const next = t.c2s ? v.R : v.C;
    const adjacent = t.c2s ? v.s.rsAdjacent : v.s.clientAdjacent;
    if (!next || !adjacent || next.ip.v !== a.ip.v) return;
    b = next;
    at = `from the director to the ${t.c2s ? 'real server' : 'client'} (one link: the director's capture lacks its own output)`;
  }
  sink.check('rewrite.ttl');
  if (a.ip.ttl - b.ip.ttl === 0) return;
  sink.add(
    'rewrite.ttl',
    c,
    `TTL ${a.ip.ttl} → ${b.ip.ttl} ${at} (${t.c2s ? 'client → RS' : 'reply'}); FullNAT (${ctx.profile}) keeps the TTL`,
    'ALI FullNAT does not touch the TTL; DPVS only with xmit_ttl configured (lvs-behavior.md §2.1, §3.1, R2)',
    [a, b],
  );
}

/** rewrite.ip-fields under FullNAT: IP ID, DF (IPv4 both sides) and TOS kept across the legs. */
function fnatIpFields(v: FnatView, sink: FindingSink): void {
  const pair = invariantPair(v);
  if (!pair) return;
  const [a, b] = pair;
  sink.check('rewrite.ip-fields');
  const diffs: string[] = [];
  if (a.ip.id !== b.ip.id && a.ip.v === 4 && b.ip.v === 4) diffs.push(`IP ID ${a.ip.id} → ${b.ip.id}`);
  if (a.ip.df !== b.ip.df && a.ip.v === 4 && b.ip.v === 4) diffs.push(`DF ${a.ip.df ? 1 : 0} → ${b.ip.df ? 1 : 0}`);
  if (a.ip.tos !== b.ip.tos) diffs.push(`TOS 0x${a.ip.tos.toString(16)} → 0x${b.ip.tos.toString(16)}`);
  if (diffs.length === 0) return;
  // Only the IP ID differs, and the segment was sent more than once (or the two copies are
  // further apart than TCP's shortest retransmission timeout): each leg's capture may have kept
  // another send of it — a resend goes out with a new IP ID — so the two IDs are no rewrite.
  if (a.ip.df === b.ip.df && a.ip.tos === b.ip.tos && (sentAgain(v.c, a, sameLeg) || sentAgain(v.c, b, sameLeg) || (a.proto === 'tcp' && Math.abs(b.t - a.t) >= RTO_MIN_NS))) return;
  sink.add('rewrite.ip-fields', v.c, `${diffs.join(', ')} between the client and RS legs`, 'FullNAT rewrites only addresses and ports (lvs-behavior.md §2.1, R4)', [a, b]);
}

/** Copies that number their bytes alike: those of one leg. */
const sameLeg = (y: PacketRecord, r: PacketRecord): boolean => legOf(y) === legOf(r);

/** rewrite.payload under FullNAT: the payload bytes kept across the legs. */
function fnatPayload(v: FnatView, sink: FindingSink): void {
  const pair = invariantPair(v);
  if (!pair) return;
  const [a, b] = pair;
  if (a.hash < 0 || b.hash < 0 || a.payloadLen !== b.payloadLen) return;
  sink.check('rewrite.payload');
  if (a.hash === b.hash) return;
  sink.add('rewrite.payload', v.c, `payload bytes differ between the client and RS legs (${a.payloadLen} bytes)`, 'TOA goes into the TCP options, never the payload (§2.3); a proxy-protocol header would change the length, not the bytes', [a, b]);
}

/**
 * The FullNAT rules by id, one table per walk over the connection's traces, the walks in
 * judging order: each walk sees every trace before the next one starts.
 */
export const FNAT_SRC_RULES = {
  'fnat.src': { begin: src },
} as const satisfies RuleTable<FnatState>;

export const FNAT_SEQ_RULES = {
  'fnat.seq-delta': seqDelta,
} as const satisfies RuleTable<SeqState>;

/** TOA: per trace the format, placement, client, MTU, removed options, then the absent TOAs. */
export const FNAT_TOA_RULES = {
  'fnat.toa-format': { trace: toaFormat },
  'fnat.toa-placement': toaPlacement,
  'fnat.toa-mismatch': { trace: toaMismatch },
  'fnat.mtu': { trace: fnatMtu },
  'rewrite.tcp-fields': { trace: tcpFields },
  'fnat.toa-no-room': { trace: toaNoRoom },
  'fnat.toa-missing': toaMissing,
  'nat.reply-bypass': { trace: fnatReplyBypass },
} as const satisfies RuleTable<ToaState>;

export const FNAT_SYN_RULES = {
  'fnat.ts-not-removed': { trace: tsNotRemoved },
  'fnat.mss-adjust': { trace: mssAdjust },
} as const satisfies RuleTable<FnatState>;

/** What FullNAT must leave alone on both legs: TTL, IP ID, DF/MF, TOS, payload. */
export const FNAT_INVARIANT_RULES = {
  'rewrite.ttl': { trace: fnatTtl },
  'rewrite.ip-fields': { trace: fnatIpFields },
  'rewrite.payload': { trace: fnatPayload },
} as const satisfies RuleTable<InvariantState>;

export interface FullnatRuleOptions {
  /** TOA kinds accepted (--toa-kind); default per profile. */
  toaKinds?: readonly number[];
}

export function makeFullnatRules(opts: FullnatRuleOptions = {}): RuleModule {
  const walks: Walk<FnatState>[] = [
    walk<FnatState>(FNAT_SRC_RULES, new FnatState(), FNAT_WALK),
    walk<SeqState>(FNAT_SEQ_RULES, new SeqState(), FNAT_WALK),
    walk<ToaState>(FNAT_TOA_RULES, new ToaState(opts.toaKinds), { traces: (v) => v.s.sorted, open: toaOpen, at: toaAt }),
    walk<FnatState>(FNAT_SYN_RULES, new FnatState(), FNAT_WALK),
    walk<InvariantState>(FNAT_INVARIANT_RULES, new InvariantState(), { ...FNAT_WALK, open: invariantOpen }),
  ];
  return {
    family: 'fnat',
    ids: [...new Set(walks.flatMap((w) => w.rules.map((r) => r.id)))],
    run(ctx, conns, sink) {
      const fp: FnatProfile = ctx.profile === 'alibaba' || ctx.profile === 'dpvs' ? ctx.profile : null;
      for (const c of conns) {
        const info = fnatInfo(c);
        if (!info || !info.leg) continue;
        // Sorted once per connection, for every walk.
        const sorted = [...c.traces].sort((a, b) => a.t0 - b.t0);
        for (const w of walks) {
          w.view.s.load(info, fp, sorted);
          w.judge(ctx, c, sink);
        }
      }
    },
  };
}

/** Default instance (profile TOA kinds). */
export const fullnatRules: RuleModule = makeFullnatRules();

/**
 * The flow rules for FullNAT connections, minus the client-leg connections that never had a SYN
 * and never linked to an RS leg: a non-SYN packet without a connection entry is dropped by ALI
 * (tcp_drop_entry, §2.6) and handed to the local stack by DPVS (§3.1), and a connection whose
 * SYN precedes the captures cannot be linked to its RS leg — neither is a forwarding failure.
 */
export function fullnatFlow(flow: RuleModule): RuleModule {
  return {
    family: flow.family,
    ids: flow.ids,
    run(ctx, conns, sink) {
      const judged: Connection[] = [];
      for (const c of conns) {
        const i = fnatInfo(c);
        if (i && i.leg === null && c.isn === null) continue;
        // A DF client segment larger than the RS-side path MTU is answered with ICMP
        // frag-needed and dropped (§2.1, §3.1, R8): not forwarding it is correct.
        const mtu = pathMtu(c.traces);
        const oversize = (t: Trace): boolean => {
          const { client, rs } = legCopies(t);
          return t.c2s && !rs && client !== undefined && client.ip.df && client.ip.totalLen > mtu;
        };
        judged.push(c.traces.some(oversize) ? { ...c, traces: c.traces.filter((t) => !oversize(t)) } : c);
      }
      flow.run(ctx, judged, sink);
    },
  };
}
