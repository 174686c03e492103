/**
 * The status a report shows for a rule: the tally's, refined by the severity of the rule's
 * findings. The engine's tally says only whether a rule found something ('fail'); a rule whose
 * findings are all warnings must not read "fail" beside a PASS verdict, so reports show
 * `warn` (its worst finding is a warning) or `info` (only info findings) instead.
 */
import type { Finding, Severity } from '../model/findings.js';
import type { RuleTally, VerifyResult } from '../model/result.js';

export type ReportedStatus = 'pass' | 'fail' | 'warn' | 'info' | 'not-evaluated';

const RANK: Record<Severity, number> = { error: 3, warning: 2, info: 1 };
const STATUS_OF: Record<Severity, ReportedStatus> = { error: 'fail', warning: 'warn', info: 'info' };

/** The worst severity among each rule's findings. */
function worstByRule(findings: readonly Finding[]): Map<string, Severity> {
  const worst = new Map<string, Severity>();
  for (const f of findings) {
    const w = worst.get(f.rule);
    if (w === undefined || RANK[f.severity] > RANK[w]) worst.set(f.rule, f.severity);
  }
  return worst;
}

/** Every tally of the result with the status the reports show (same order as `r.rules`). */
export function reportedRules(r: Pick<VerifyResult, 'rules' | 'findings'>): Array<Omit<RuleTally, 'status'> & { status: ReportedStatus }> {
  const worst = worstByRule(r.findings);
  return r.rules.map((t) => {
    const w = worst.get(t.rule);
    // A not-evaluated rule stays so; one without findings keeps the tally's word.
    return t.status === 'not-evaluated' || w === undefined ? t : { ...t, status: STATUS_OF[w] };
  });
}
