/** `--format json`: one document, the shape cli.md promises ("verify"). */
import { VERSION } from '../../version.js';
import type { ConnectionLadder, VerifyResult } from '../model/result.js';
import { reportedRules } from './rule-status.js';

export interface JsonOptions {
  /** The ladders `--show CONN` chose: written as `connections`, absent without --show. */
  connections?: readonly ConnectionLadder[];
}

export function renderJson(r: VerifyResult, o: JsonOptions = {}): string {
  const doc = {
    tool: 'lvsaudit',
    version: VERSION,
    verdict: r.verdict,
    ...(r.noDataReason !== undefined ? { noDataReason: r.noDataReason } : {}),
    profile: r.profile,
    service: r.service,
    serviceInferred: r.serviceInferred,
    ...(r.traffic !== undefined ? { traffic: r.traffic } : {}),
    points: r.points,
    findings: r.findings,
    notEvaluated: r.notEvaluated,
    // The text table's status (warn/info for rules with only warnings/info), so the two agree.
    rules: reportedRules(r),
    ...(r.arp !== undefined ? { arp: r.arp } : {}),
    stats: r.stats,
    ...(o.connections !== undefined ? { connections: o.connections } : {}),
  };
  return `${JSON.stringify(doc, null, 2)}\n`;
}
