/**
 * Collects findings from the rules. A fault usually repeats on every packet of a connection,
 * so findings are aggregated per (rule, connection): one finding whose evidence lists the
 * packets (capped) and whose message says how many packets broke the rule. The sink also
 * counts how often each rule was checked, for the summary table.
 */
import type { Evidence, Finding } from '../findings.js';
import { severityOf } from '../rules-catalog.js';
import type { Connection } from './connections.js';
import type { EngineContext } from './context.js';
import type { PacketRef, Role } from './record.js';

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
  finding: Finding;
  count: number;
}

export class FindingSink {
  /** Evaluations per rule; a box per rule so a check is one lookup, not a lookup and a store
   *  (rules check several times per packet). */
  private readonly counts = new Map<string, { n: number }>();
  private readonly pending = new Map<string, Pending>();
  private readonly order: Pending[] = [];

  constructor(
    private readonly ctx: EngineContext,
    private readonly ignore: ReadonlySet<string>,
  ) {}

  evidence(r: PacketRef, note?: string): Evidence {
    const e: Evidence = { capture: r.capture, frame: r.frame, point: this.ctx.points[r.point]!.name };
    const n = note ?? (r.role ? ROLE_NOTE[r.role] : undefined);
    if (n) e.note = n;
    return e;
  }

  /** Counts one evaluation of `rule` (a packet, a trace or a connection checked). */
  check(rule: string, n = 1): void {
    const c = this.counts.get(rule);
    if (c !== undefined) c.n += n;
    else this.counts.set(rule, { n });
  }

  /** How many times `rule` was evaluated. */
  checked(rule: string): number {
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
  add(rule: string, conn: Connection | null, message: string, hint: string, records: readonly PacketRef[], key?: string): void {
    if (this.ignore.has(rule)) return;
    const k = `${rule}|${conn ? this.connNo(conn) : ''}|${key ?? ''}`;
    const ev = records.map((r) => this.evidence(r));
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
    const finding: Finding = { rule, severity: severityOf(rule), message, hint, evidence: ev.slice(0, MAX_EVIDENCE) };
    if (conn) finding.conn = connLabel(this.ctx, conn);
    const np = { finding, count: 1 };
    this.pending.set(k, np);
    this.order.push(np);
  }

  /** A finding that is not about packets (clock offsets, config facts). */
  addRaw(f: Finding): void {
    if (this.ignore.has(f.rule)) return;
    const np = { finding: f, count: 1 };
    this.order.push(np);
  }

  failedCount(rule: string): number {
    let n = 0;
    for (const p of this.order) if (p.finding.rule === rule) n += p.count;
    return n;
  }

  /**
   * The findings, at most MAX_PER_RULE per rule: a systematic fault (every connection's TTL)
   * would otherwise print thousands of identical findings. The rest of a rule's connections are
   * folded into one last finding that counts them and cites a few.
   */
  findings(): Finding[] {
    const out: Finding[] = [];
    const perRule = new Map<string, Finding[]>();
    for (const p of this.order) {
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

export function connLabel(ctx: EngineContext, c: Connection): string {
  const s = ctx.service;
  const vip = s.vip.includes(':') ? `[${s.vip}]` : s.vip;
  const cl = c.client.includes(':') ? `[${c.client}]` : c.client;
  return `${s.protocol} ${cl}:${c.cport} -> ${vip}:${s.vport}`;
}
