/**
 * Findings are what `verify` and `arp` report. Their shape is public (cli.md, JSON output),
 * so every producer builds them through this one module.
 */
export type Severity = 'error' | 'warning' | 'info';

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

export interface Finding {
  rule: string;
  severity: Severity;
  message: string;
  hint: string;
  evidence: Evidence[];
  /** Connection key the finding belongs to, when it is about one connection. */
  conn?: string;
}

export interface NotEvaluated {
  rule: string;
  reason: string;
}

/** True when any finding is an error: the exit-code contract (cli.md) hangs on this. */
export function hasError(findings: readonly Finding[]): boolean {
  return findings.some((f) => f.severity === 'error');
}
