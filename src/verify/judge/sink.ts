/**
 * Collects findings from the rules. A fault usually repeats on every packet of a connection,
 * so findings are aggregated per (rule, connection): one finding whose evidence lists the
 * packets (capped) and whose message says how many packets broke the rule. The sink also
 * counts how often each rule was checked, for the summary table.
 */
import type { Evidence, Finding } from '../model/findings.js';
import { severityOf, type RuleId } from '../model/catalog.js';
import { Carry, walkEnd, walkStart, type Connection } from '../model/connection.js';
import type { EngineContext } from '../correlate/context.js';
import type { PacketRef, Role } from '../model/record.js';
import { AFTER_ALL, compareJudge, type JudgeKey } from './order.js';
import { addNote, mergeNotes, type CaptureNotes, type NoteKind } from '../model/capture-notes.js';

const MAX_EVIDENCE = 24;
/** Findings listed one by one per rule before the rest are folded into a summary. */
const MAX_PER_RULE = 50;

const ROLE_NOTE: Record<Role, string> = {
  C: 'client copy',
  Di: 'director ingress copy',
  De: 'director egress copy',
  R: 'real-server copy',
};

interface Pending {
  finding: Finding<RuleId>;
  count: number;
  /** Where it sorts in the report: the connection judged when it was (first) raised, then the
   *  sink's add counter (order.ts). */
  key: JudgeKey;
  seq: number;
  /** Merge key of a finding not tied to one connection (rule and the rule's own key): such a
   *  finding gathers packets of many connections, also across the shares of a split run.
   *  Null for a connection's finding, which only its own connection's adds reach. */
  shared: string | null;
  /** Sort positions of a shared finding's evidence, parallel to `finding.evidence`: it keeps
   *  the earliest packets in report order, whichever order connections were judged in. */
  evKeys: EvidenceKey[] | null;
}

/** Report position of one evidence packet of a shared finding: judge key, add, index in the add. */
type EvidenceKey = [JudgeKey, number, number];

function compareEvidence(a: EvidenceKey, b: EvidenceKey): number {
  return compareJudge(a[0], b[0]) || a[1] - b[1] || a[2] - b[2];
}

/**
 * A finding that depends on a fact about the whole run, not only on its own connection (a real
 * server that answers other connections): raised once every connection has been judged
 * (FindingSink.resolve), so it does not depend on which connections happened to be judged
 * before it, or by which thread.
 */
interface Deferred {
  key: JudgeKey;
  seq: number;
  /** The fact, and the value it must hold, e.g. 'dr.answering' and a RIP. */
  fact: string;
  value: string;
  /** Raise the finding only when the fact holds (else also when it does not). */
  onlyIf: boolean;
  finding: Finding<RuleId>;
  /** Appended to the message when the fact holds. */
  ifHolds: string;
}

/** What a share of a split run hands over (structured-clone safe). */
export interface SinkState {
  counts: [RuleId, number][];
  pendings: Pending[];
  facts: [string, string[]][];
  deferred: Deferred[];
  notes: CaptureNotes;
  seen: [number, number];
}

export class FindingSink {
  /** Evaluations per rule; a box per rule so a check is one lookup, not a lookup and a store
   *  (rules check several times per packet). */
  private readonly counts = new Map<RuleId, { n: number }>();
  private readonly pending = new Map<string, Pending>();
  private readonly order: Pending[] = [];
  /** The connection being judged (begin) and the number of adds so far. */
  private cur: JudgeKey = AFTER_ALL;
  private seq = 0;
  private readonly facts = new Map<string, Set<string>>();
  private deferred: Deferred[] = [];
  /** What the rules learnt about the captures (offloads, gaps, snaplen): the capture rules
   *  report it per point (judge/rules/capture.ts). */
  readonly notes: CaptureNotes = {};
  /** Connections judged, and those of them whose packets were matched across capture points
   *  (or director ingress and egress): none matched is no evidence at all (NO DATA). */
  judgedConnections = 0;
  matchedConnections = 0;

  constructor(
    private readonly ctx: EngineContext,
    private readonly ignore: ReadonlySet<string>,
  ) {}

  /** The rules are about to judge the connection with this key (AFTER_ALL: none). */
  begin(key: JudgeKey): void {
    this.cur = key;
  }

  evidence(r: PacketRef, note?: string): Evidence {
    const e: Evidence = { capture: r.capture, frame: r.frame, point: this.ctx.points[r.point]!.name };
    const n = note ?? r.note ?? (r.role ? ROLE_NOTE[r.role] : undefined);
    if (n) e.note = n;
    return e;
  }

  /** Counts one evaluation of `rule` (a packet, a trace or a connection checked). */
  check(rule: RuleId, n = 1): void {
    const c = this.counts.get(rule);
    if (c !== undefined) c.n += n;
    else this.counts.set(rule, { n });
  }

  /** Notes one packet that shows a capture artifact (not a fault of the deployment), at its own
   *  point or, for a gap, at the point that missed it (`r` is then the copy that proves it). */
  captureNote(kind: NoteKind, r: PacketRef, size = 0, point = r.point): void {
    addNote(this.notes, kind, r, size, point);
  }

  /** Counts a judged connection, and whether any of its packets was seen twice on its path;
   *  a connection judged in parts once, at its first part and the first part that matched. */
  countConnection(c: Connection): void {
    const part = c.part;
    if (part === null || part.parts === 0) this.judgedConnections++;
    if (part !== null && (part.carry & Carry.Matched) !== 0) return;
    const end = walkEnd(c);
    for (let i = walkStart(c); i < end; i++) {
      if (c.traces[i]!.list.length > 1) {
        this.matchedConnections++;
        if (part !== null) part.carry |= Carry.Matched;
        return;
      }
    }
  }

  /** How many times `rule` was evaluated. */
  checked(rule: RuleId): number {
    return this.counts.get(rule)?.n ?? 0;
  }

  /** A number per connection with a finding, for the merge key (only those get one). */
  private readonly connNos = new WeakMap<Connection, number>();
  private nextConnNo = 0;

  private connNo(c: Connection): number {
    const known = this.connNos.get(c);
    if (known !== undefined) return known;
    const n = this.nextConnNo++;
    this.connNos.set(c, n);
    return n;
  }

  /** Reports a violation; repeated reports for the same rule and connection are merged. */
  add(rule: RuleId, conn: Connection | null, message: string, hint: string, records: readonly PacketRef[], key?: string): void {
    if (this.ignore.has(rule)) return;
    const seq = this.seq++;
    const ev = records.map((r) => this.evidence(r));
    if (conn === null) {
      const k = `${rule}||${key ?? ''}`;
      const one: Pending = {
        finding: { rule, severity: severityOf(rule), message, hint, evidence: [] },
        count: 1,
        key: this.cur,
        seq,
        shared: k,
        evKeys: [],
      };
      ev.forEach((e, i) => insertEvidence(one, e, [this.cur, seq, i]));
      const p = this.pending.get(k);
      if (p) mergeShared(p, one);
      else {
        this.pending.set(k, one);
        this.order.push(one);
      }
      return;
    }
    const k = `${rule}|${this.connNo(conn)}|${key ?? ''}`;
    const p = this.pending.get(k);
    if (p) {
      p.count++;
      for (const e of ev) {
        if (p.finding.evidence.length >= MAX_EVIDENCE) break;
        // The same packet is often evidence of two hops (copy N vs N-1, then N+1 vs N): list it once.
        if (!p.finding.evidence.some((x) => x.capture === e.capture && x.frame === e.frame)) p.finding.evidence.push(e);
      }
      return;
    }
    const finding: Finding<RuleId> = { rule, severity: severityOf(rule), message, hint, evidence: ev.slice(0, MAX_EVIDENCE) };
    finding.conn = connLabel(this.ctx, conn);
    const np: Pending = { finding, count: 1, key: this.cur, seq, shared: null, evKeys: null };
    this.pending.set(k, np);
    this.order.push(np);
  }

  /** Records a fact about the run that findings of other connections may depend on. */
  note(fact: string, value: string): void {
    const set = this.facts.get(fact);
    if (set) set.add(value);
    else this.facts.set(fact, new Set([value]));
  }

  /**
   * A finding about `conn` that depends on whether `fact` holds for `value` over the whole run:
   * decided by resolve(), at the place in the report it would have had if raised now. With
   * `onlyIf` it is raised only when the fact holds; `ifHolds` is added to its message then.
   */
  addIfFact(rule: RuleId, conn: Connection, fact: string, value: string, onlyIf: boolean, message: string, ifHolds: string, hint: string, records: readonly PacketRef[]): void {
    if (this.ignore.has(rule)) return;
    const finding: Finding<RuleId> = { rule, severity: severityOf(rule), message, hint, evidence: records.slice(0, MAX_EVIDENCE).map((r) => this.evidence(r)), conn: connLabel(this.ctx, conn) };
    this.deferred.push({ key: this.cur, seq: this.seq++, fact, value, onlyIf, finding, ifHolds });
  }

  /** Raises the deferred findings against the facts of every connection (after absorbing every
   *  share of a split run). */
  resolve(): void {
    for (const d of this.deferred) {
      const holds = this.facts.get(d.fact)?.has(d.value) === true;
      if (d.onlyIf && !holds) continue;
      if (holds) d.finding.message += d.ifHolds;
      this.order.push({ finding: d.finding, count: 1, key: d.key, seq: d.seq, shared: null, evKeys: null });
    }
    this.deferred = [];
  }

  failedCount(rule: RuleId): number {
    let n = 0;
    for (const p of this.order) if (p.finding.rule === rule) n += p.count;
    return n;
  }

  /** Everything this sink gathered, for another sink to absorb (a share of a split run). */
  exportState(): SinkState {
    return {
      counts: [...this.counts].map(([rule, c]) => [rule, c.n]),
      pendings: this.order,
      facts: [...this.facts].map(([fact, values]) => [fact, [...values]]),
      deferred: this.deferred,
      notes: this.notes,
      seen: [this.judgedConnections, this.matchedConnections],
    };
  }

  /**
   * Takes over another sink's findings and counts. A connection's findings come from the one
   * share that judged it and are only added to the list; a shared finding merges with this
   * sink's one of the same key, as if both had been raised here.
   */
  absorb(state: SinkState): void {
    for (const [rule, n] of state.counts) this.check(rule, n);
    for (const [fact, values] of state.facts) for (const v of values) this.note(fact, v);
    this.deferred.push(...state.deferred);
    mergeNotes(this.notes, state.notes);
    this.judgedConnections += state.seen[0];
    this.matchedConnections += state.seen[1];
    for (const p of state.pendings) {
      const mine = p.shared === null ? undefined : this.pending.get(p.shared);
      if (mine) {
        mergeShared(mine, p);
        continue;
      }
      // A connection's finding is not entered under its key: connection numbers are per sink.
      if (p.shared !== null) this.pending.set(p.shared, p);
      this.order.push(p);
    }
  }

  /**
   * The findings in report order (order.ts), at most MAX_PER_RULE per rule: a
   * systematic fault (every connection's TTL) would otherwise print thousands of identical
   * findings. The rest of a rule's connections are folded into one last finding that counts
   * them and cites a few.
   */
  findings(): Finding<RuleId>[] {
    const out: Finding<RuleId>[] = [];
    const perRule = new Map<RuleId, Finding<RuleId>[]>();
    const sorted = [...this.order].sort((a, b) => compareJudge(a.key, b.key) || a.seq - b.seq);
    for (const p of sorted) {
      const where = p.finding.conn ? 'in this connection' : 'in all';
      const f = p.count <= 1 ? p.finding : { ...p.finding, message: `${p.finding.message} (${p.count} packets ${where})` };
      const list = perRule.get(f.rule);
      if (!list) perRule.set(f.rule, [f]);
      else list.push(f);
    }
    for (const [rule, list] of perRule) {
      out.push(...list.slice(0, MAX_PER_RULE));
      const rest = list.slice(MAX_PER_RULE);
      if (rest.length === 0) continue;
      out.push({
        rule,
        severity: rest[0]!.severity,
        message: `${rest.length} more connection(s) break ${rule} the same way (first: ${rest[0]!.message})`,
        hint: rest[0]!.hint,
        evidence: rest.slice(0, 8).flatMap((f) => f.evidence.slice(0, 2)),
      });
    }
    return out;
  }
}

/** Puts one evidence packet of a shared finding in report order, the same packet once, the
 *  earliest MAX_EVIDENCE kept. */
function insertEvidence(p: Pending, e: Evidence, k: EvidenceKey): void {
  const list = p.finding.evidence;
  const keys = p.evKeys!;
  if (list.some((x) => x.capture === e.capture && x.frame === e.frame)) return;
  let i = keys.length;
  while (i > 0 && compareEvidence(keys[i - 1]!, k) > 0) i--;
  if (i >= MAX_EVIDENCE) return;
  list.splice(i, 0, e);
  keys.splice(i, 0, k);
  if (list.length > MAX_EVIDENCE) {
    list.pop();
    keys.pop();
  }
}

/** Folds shared finding `from` into `into`: counts add up, the wording is the earliest one's
 *  in report order, evidence is merged in report order. */
function mergeShared(into: Pending, from: Pending): void {
  into.count += from.count;
  if ((compareJudge(from.key, into.key) || from.seq - into.seq) < 0) {
    into.key = from.key;
    into.seq = from.seq;
    into.finding.message = from.finding.message;
    into.finding.hint = from.finding.hint;
  }
  from.finding.evidence.forEach((e, i) => insertEvidence(into, e, from.evKeys![i]!));
}

export function connLabel(ctx: EngineContext, c: Connection): string {
  const s = ctx.service;
  const vip = s.vip.includes(':') ? `[${s.vip}]` : s.vip;
  const cl = c.client.includes(':') ? `[${c.client}]` : c.client;
  return `${s.protocol} ${cl}:${c.cport} -> ${vip}:${s.vport}`;
}
