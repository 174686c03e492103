/**
 * Findings are what `verify` and `arp` report. Their shape is public (cli.md, JSON output),
 * so every producer builds them through this one module.
 */
import type { Severity } from './catalog.js';

export type { RuleId, Severity } from './catalog.js';

/** A capture point: where a capture was taken. RS points carry the real server's address. */
export type PointKind = 'client' | 'director' | 'rs';

export interface Evidence {
  capture: string;
  frame: number;
  /** "client", "director", or "rs:10.0.0.11". */
  point: string;
  /** Optional short note (e.g. "ingress copy", "egress copy"). */
  note?: string;
}

/**
 * One finding. Producers build a `Finding<RuleId>`, so an id the catalog does not have does not
 * compile; readers (reporters, tests, the JSON shape) see the id as a string.
 */
export interface Finding<Id extends string = string> {
  rule: Id;
  severity: Severity;
  message: string;
  hint: string;
  evidence: Evidence[];
  /** Connection key the finding belongs to, when it is about one connection. */
  conn?: string;
}

export interface NotEvaluated<Id extends string = string> {
  rule: Id;
  reason: string;
}

/** True when any finding is an error: the exit-code contract (cli.md) hangs on this. */
export function hasError(findings: readonly Finding[]): boolean {
  return findings.some((f) => f.severity === 'error');
}
