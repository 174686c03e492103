/**
 * The shape every connection rule has: one function per rule id, registered in its family's
 * table keyed by that id, with the capture points it needs read from the catalog (one fact).
 *
 * A family judges a connection in one walk over its traces (and, where a rule compares copies,
 * over each trace's copies or hops in path order), calling each rule's function at each step
 * in table order. One walk rather than one per rule: the copies of a trace are found once, and
 * the findings of a connection keep the order the report has always listed them in. The walk's
 * view (TraceView) and the family's state are reused objects, so judging allocates nothing per
 * packet for them.
 */
import { walkEnd, walkStart, type Connection, type Trace } from '../../model/connection.js';
import type { EngineContext } from '../../correlate/context.js';
import type { PacketRecord, Role } from '../../model/record.js';
import { ruleSpec, type PointNeed, type RuleId } from '../../model/catalog.js';
import type { FindingSink } from '../sink.js';
import { emptyKeepingStorage } from '../../correlate/traces.js';

/** A group of rules the judge runs together over connections (a family, or FullNAT's set). */
export interface RuleModule {
  family: string;
  ids: readonly RuleId[];
  run(ctx: EngineContext, conns: readonly Connection[], sink: FindingSink): void;
}

/** The capture points a rule needs: all of `all`, and one of `any` when not empty. */
export interface RuleNeeds {
  readonly all: readonly PointNeed[];
  readonly any: readonly PointNeed[];
}

/** A rule's needs, from its catalog entry. */
export function needsOf(id: RuleId): RuleNeeds {
  const spec = ruleSpec(id);
  return { all: spec.needsAll, any: spec.needsAny };
}

/**
 * Where a walk stands: the connection and, while it walks the traces, the trace and its copies
 * by role (the first of each). `s` is the family's own state: what its rules keep per
 * connection, or work out once per trace for each other (WalkHooks).
 *
 * Every family's walk writes its view at every trace, so every family's view is this one
 * class, and a family's state hangs off it: with a subclass per family, the walk's writes met
 * a different object shape in each family and V8 could no longer make them plain stores.
 */
export class TraceView<S> {
  ctx!: EngineContext;
  c!: Connection;
  t!: Trace;
  C: PacketRecord | undefined = undefined;
  Di: PacketRecord | undefined = undefined;
  De: PacketRecord | undefined = undefined;
  R: PacketRecord | undefined = undefined;

  constructor(readonly s: S) {}
}

/** Moves `v` to trace `t` and its copies by role. */
function place<S>(v: TraceView<S>, t: Trace): void {
  v.t = t;
  v.C = t.C;
  v.Di = t.Di;
  v.De = t.De;
  v.R = t.R;
}

/** What one rule does at each step of its family's walk (each step optional). */
export interface RuleSteps<S> {
  /** Before the traces of a connection. */
  begin?(v: TraceView<S>, sink: FindingSink): void;
  /** At each trace. */
  trace?(v: TraceView<S>, sink: FindingSink): void;
  /** At each copy of the trace, in path order (after every rule's `trace`). */
  copy?(v: TraceView<S>, r: PacketRecord, i: number, sink: FindingSink): void;
  /** At each pair of consecutive copies in path order (after every rule's `copy`). */
  hop?(v: TraceView<S>, a: PacketRecord, b: PacketRecord, sink: FindingSink): void;
  /** After the traces. */
  end?(v: TraceView<S>, sink: FindingSink): void;
  /** After every rule's `end`: a finding that depends on what other rules concluded. */
  after?(v: TraceView<S>, sink: FindingSink): void;
}

/** A family's table: rule id → its steps. Key order is judging order. */
export type RuleTable<S> = { readonly [K in RuleId]?: RuleSteps<S> };

/** One registered rule: its id, the points it needs (the catalog's) and its steps. */
export interface JudgeRule<S> extends RuleSteps<S> {
  readonly id: RuleId;
  readonly needs: RuleNeeds;
}

type Step<S, K extends keyof RuleSteps<S>> = NonNullable<RuleSteps<S>[K]>;

/** What a family adds to its walk, besides its rules (each optional). */
export interface WalkHooks<S> {
  /** Per connection, before `applies` and the `begin` steps: facts its rules share. */
  open?(v: TraceView<S>): void;
  /** Whether the family judges the connection at all (its forwarding method). */
  applies?(v: TraceView<S>): boolean;
  /** The traces in the order walked; default the connection's. */
  traces?(v: TraceView<S>): readonly Trace[];
  /** Per trace, once its copies by role are found: facts the trace's rules share. */
  at?(v: TraceView<S>): void;
}

/** One walk: its rules in table order and the steps of each kind, bound once. */
export interface Walk<S> {
  readonly rules: readonly JudgeRule<S>[];
  /** The walk's reused view (a family may load per-connection facts into its state first). */
  readonly view: TraceView<S>;
  /** Judges a connection; false from `applies` skips it. */
  judge(ctx: EngineContext, c: Connection, sink: FindingSink): void;
}

/** The walk over a table, with the family's state `state` (one object, reused). */
export function walk<S>(table: RuleTable<S>, state: S, hooks: WalkHooks<S> = {}): Walk<S> {
  const rules: JudgeRule<S>[] = (Object.keys(table) as RuleId[]).map((id) => ({ id, needs: needsOf(id), ...table[id]! }));
  const begins: Step<S, 'begin'>[] = [];
  const traces: Step<S, 'trace'>[] = [];
  const copies: Step<S, 'copy'>[] = [];
  const hops: Step<S, 'hop'>[] = [];
  const ends: Step<S, 'end'>[] = [];
  const afters: Step<S, 'after'>[] = [];
  for (const r of rules) {
    if (r.begin) begins.push(r.begin);
    if (r.trace) traces.push(r.trace);
    if (r.copy) copies.push(r.copy);
    if (r.hop) hops.push(r.hop);
    if (r.end) ends.push(r.end);
    if (r.after) afters.push(r.after);
  }
  const v = new TraceView(state);
  const { open, applies, at } = hooks;
  const order = hooks.traces;
  const perTrace = traces.length > 0 || copies.length > 0 || hops.length > 0;
  return {
    rules,
    view: v,
    judge(ctx, c, sink) {
      v.ctx = ctx;
      v.c = c;
      if (open) open(v);
      if (applies && !applies(v)) return;
      for (const f of begins) f(v, sink);
      if (perTrace) {
        // The part of the connection judged now (all of it unless it is judged in parts:
        // PartState); FullNAT's own order is of a connection judged whole.
        const list = order ? order(v) : c.traces;
        const end = order ? list.length : walkEnd(c);
        for (let i = order ? 0 : walkStart(c); i < end; i++) {
          const t = list[i]!;
          place(v, t);
          if (at) at(v);
          for (const f of traces) f(v, sink);
          if (copies.length === 0 && hops.length === 0) continue;
          const path = pathOrder(t);
          if (copies.length > 0) for (let i = 0; i < path.length; i++) for (const f of copies) f(v, path[i]!, i, sink);
          if (hops.length > 0) for (let i = 1; i < path.length; i++) for (const f of hops) f(v, path[i - 1]!, path[i]!, sink);
        }
      }
      for (const f of ends) f(v, sink);
      for (const f of afters) f(v, sink);
    },
  };
}

/** A family as the judge runs it: its walks in order, over each connection. */
export function ruleModule(family: string, walks: readonly Walk<unknown>[]): RuleModule {
  return {
    family,
    ids: [...new Set(walks.flatMap((w) => w.rules.map((r) => r.id)))],
    run(ctx, conns, sink) {
      for (const c of conns) for (const w of walks) w.judge(ctx, c, sink);
    },
  };
}

/** First copy of a trace in a role. */
/** True when some client packet of the connection left the director (on the interface toward
 *  the real servers) at or after `t`. */
export function egressFrom(c: Connection, t: number): boolean {
  for (const x of c.traces) {
    if (!x.c2s) continue;
    for (const r of x.list) if (r.role === 'De' && r.t >= t) return true;
  }
  return false;
}

export function copyAt(t: Trace, role: Role): PacketRecord | undefined {
  return t[role];
}

const C2S_ORDER: readonly Role[] = ['C', 'Di', 'De', 'R'];
const S2C_ORDER: readonly Role[] = ['R', 'Di', 'De', 'C'];

/** True when every copy has a role of `order` and their roles never go back in it. */
function inPathOrder(list: readonly PacketRecord[], order: readonly Role[]): boolean {
  let rank = 0;
  for (let i = 0; i < list.length; i++) {
    const role = list[i]!.role;
    while (rank < order.length && order[rank] !== role) rank++;
    if (rank === order.length) return false;
  }
  return true;
}

/** Copies in path order: client → director in → director out → RS, or the reverse for replies.
 *  Several rule families walk it per trace: computed once and kept on the trace (a trace is
 *  complete when rules run). */
export function pathOrder(t: Trace): readonly PacketRecord[] {
  if (t.path !== null) return t.path;
  const order = t.c2s ? C2S_ORDER : S2C_ORDER;
  // Copies are grouped in corrected-time order, which is usually the path order already: then
  // the path is the list itself (the trace is complete, nothing pushes to it any more). This
  // spared a third of verify's allocations (one array per trace).
  if (inPathOrder(t.list, order)) return (t.path = t.list);
  // A reused trace (correlate/connections.ts SpareParts) reuses the array of its last sorted path.
  const out = (t.pathStore ??= []);
  emptyKeepingStorage(out);
  for (const role of order) for (const r of t.list) if (r.role === role) out.push(r);
  t.path = out;
  return out;
}

/**
 * True when corrected time `t` lies inside what point `idx` captured (its clock corrected), so
 * that "no copy there" is evidence. Captures are started and stopped by hand at different times
 * (capture-artifacts.md §3), and a classic pcap does not record when tcpdump stopped: a point's
 * span is from its first to its last frame. At the start, a packet within the clock estimate's
 * fuzz (four times its spread) of the first frame proves nothing either.
 */
export function insideCapture(ctx: EngineContext, idx: number, t: number): boolean {
  const p = ctx.points[idx];
  if (!p) return false;
  const clock = ctx.clocks[idx];
  const off = clock?.offsetNs ?? 0;
  // A point that shares no packet with the others has an offset assumed, not measured: near
  // either end of its capture, whether a time falls inside it is not known.
  if (clock !== undefined && clock.pairs === 0 && clock.via !== p.name) {
    const margin = ctx.windowNs / 10;
    return t >= p.firstTs - off + margin && t <= p.lastTs - off - margin;
  }
  const fuzz = Math.min(4 * (clock?.spreadNs ?? 0), ctx.windowNs / 10);
  return t >= p.firstTs - off + fuzz && t <= p.lastTs - off;
}

export const hostPort = (ip: string, port: number): string => (ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`);

export const isRst = (r: PacketRecord): boolean => (r.flags & 0x04) !== 0;

/** Linux TCP_RTO_MIN (include/net/tcp.h: HZ / 5): no forwarding delays a packet that long. */
export const RTO_MIN_NS = 200e6;

/**
 * True when the connection has two sends of `r`'s TCP segment in its direction: its sequence
 * number, whether it carries data, its SYN/FIN/RST flags. Each trace is compared through its
 * first copy that `numbersLike(copy, r)` says counts bytes as r does (every copy, but under
 * FullNAT only the copies of r's leg: the legs differ by the seq delta). Lengths are not
 * compared: a capture may show a send cut into pieces or merged.
 */
export function sentAgain(c: Connection, r: PacketRecord, numbersLike: (y: PacketRecord, r: PacketRecord) => boolean = () => true): boolean {
  if (r.proto !== 'tcp') return false;
  let sends = 0;
  for (const t of c.traces) {
    if (t.c2s !== r.c2s) continue;
    const y = t.list.find((x) => numbersLike(x, r));
    if (y !== undefined && y.seq === r.seq && y.payloadLen > 0 === r.payloadLen > 0 && (y.flags & 0x07) === (r.flags & 0x07) && ++sends > 1) return true;
  }
  return false;
}
