/**
 * Text report: a verdict line, the capture points, a per-rule summary table, then findings
 * grouped by rule with their evidence (capture#frame, point) and the hint. Written for a
 * terminal; frame numbers are the ones Wireshark shows.
 */
import Table from 'cli-table3';
import type { Finding, Severity } from '../model/findings.js';
import type { VerifyResult } from '../model/result.js';
import { reportedRules } from './rule-status.js';

const SEVERITY_ORDER: Record<Severity, number> = { error: 0, warning: 1, info: 2 };

/** At most this many findings of one rule are printed in full; the rest are counted. */
const MAX_PER_RULE = 20;

export interface TextOptions {
  /** Services described one per line (from the service model's describer). */
  serviceLines: string[];
  /** Print every finding instead of the first MAX_PER_RULE of each rule. */
  all?: boolean;
}

const VERDICT_TEXT: Record<VerifyResult['verdict'], string> = { pass: 'PASS', fail: 'FAIL', 'no-data': 'NO DATA' };

export function renderText(r: VerifyResult, opts: TextOptions): string {
  const out: string[] = [];
  out.push(`verdict: ${VERDICT_TEXT[r.verdict]}  (profile ${r.profile})`);
  if (r.noDataReason !== undefined) out.push(`  ${r.noDataReason}`);
  const label = r.serviceInferred ? 'service (inferred from traffic)' : 'service';
  opts.serviceLines.forEach((line, i) => {
    const t = r.traffic?.[i];
    out.push(`${label}: ${line}${t ? ` — ${t.connections} connection(s), ${t.matched} seen at two points` : ''}`);
  });
  for (const p of r.points) {
    const off = p.clockOffsetMs === null ? '' : `, clock offset ${p.clockOffsetMs >= 0 ? '+' : ''}${p.clockOffsetMs.toFixed(3)} ms`;
    const mirror = p.mirror === undefined ? '' : `, ${p.mirror.frames} read through ${p.mirror.transport}`;
    out.push(`point ${p.point}: ${p.captures.join(', ')} (${p.frames} frames${mirror}${off})`);
  }
  const spans = r.points.filter((p) => p.first !== null);
  if (spans.length > 0) {
    for (const p of spans) out.push(`  span ${p.point}: ${p.first} – ${p.last}`);
    const from = spans.reduce((a, p) => (p.first! > a ? p.first! : a), spans[0]!.first!);
    const to = spans.reduce((a, p) => (p.last! < a ? p.last! : a), spans[0]!.last!);
    out.push(from <= to ? `  span shared by every point: ${from} – ${to}` : '  span shared by every point: none (the captures do not overlap in time)');
  }
  for (const d of r.arp?.directors ?? []) {
    const how = d.method === 'given' ? 'given' : d.method === 'none' ? 'not inferred' : `inferred (${d.method})`;
    out.push(`arp: director of ${d.vip}: ${d.macs.length > 0 ? d.macs.join(', ') : '?'} — ${how}: ${d.reason}`);
  }
  out.push('');

  const table = new Table({ head: ['rule', 'status', 'checked', 'failed'], style: { head: [], border: [], compact: true } });
  // Status: fail (an error finding), warn (warnings only), info (info only), pass, not-evaluated.
  const interesting = reportedRules(r).filter((t) => t.checked > 0 || t.status !== 'pass');
  for (const t of interesting) table.push([t.rule, t.status, String(t.checked), String(t.failed)]);
  if (interesting.length > 0) out.push(table.toString(), '');

  const groups = new Map<string, Finding[]>();
  for (const f of r.findings) {
    const g = groups.get(f.rule) ?? [];
    g.push(f);
    groups.set(f.rule, g);
  }
  const ordered = [...groups.entries()].sort(
    (a, b) => SEVERITY_ORDER[a[1][0]!.severity] - SEVERITY_ORDER[b[1][0]!.severity] || a[0].localeCompare(b[0]),
  );
  for (const [rule, list] of ordered) {
    out.push(`${list[0]!.severity.toUpperCase()} ${rule} (${list.length})`);
    const shown = opts.all ? list : list.slice(0, MAX_PER_RULE);
    let lastHint = '';
    for (const f of shown) {
      out.push(`  - ${f.message}`);
      for (const e of f.evidence) {
        out.push(`      ${e.capture}#${e.frame}  ${e.point}${e.note ? `  ${e.note}` : ''}`);
      }
      // Findings of one rule usually share their fix: say it once, not once per connection.
      if (f.hint && f.hint !== lastHint) out.push(`    hint: ${f.hint}`);
      lastHint = f.hint;
    }
    if (shown.length < list.length) out.push(`  … ${list.length - shown.length} more (--all shows every finding)`);
    out.push('');
  }
  if (r.notEvaluated.length > 0) {
    // Rules of another forwarding method are one line per reason; the rest one line each.
    const byReason = new Map<string, string[]>();
    for (const n of r.notEvaluated) byReason.set(n.reason, [...(byReason.get(n.reason) ?? []), n.rule]);
    out.push('not evaluated:');
    for (const [reason, rules] of byReason) {
      if (rules.length > 1 && reason.startsWith('applies to')) out.push(`  ${rules.join(', ')}: ${reason}`);
      else for (const rule of rules) out.push(`  ${rule}: ${reason}`);
    }
    out.push('');
  }
  const errors = r.findings.filter((f) => f.severity === 'error').length;
  const warnings = r.findings.filter((f) => f.severity === 'warning').length;
  out.push(`${errors} error(s), ${warnings} warning(s), ${r.notEvaluated.length} rule(s) not evaluated`);
  return `${out.join('\n')}\n`;
}
