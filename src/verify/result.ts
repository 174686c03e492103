/**
 * The outcome of one `verify` (or `arp`) run: what every reporter (text, JSON, JUnit,
 * evidence pcapng) renders. The JSON reporter writes it nearly as is (cli.md "verify").
 */
import type { Finding, NotEvaluated } from './findings.js';

export interface PointSummary {
  /** "client", "director", "rs:10.0.0.11". */
  point: string;
  captures: string[];
  frames: number;
  /** Estimated clock offset against the client capture in ms (null when not estimable). */
  clockOffsetMs: number | null;
}

/** Per-rule tally for the summary table: how often the rule was checked and failed. */
export interface RuleTally {
  rule: string;
  /** "pass" | "fail" | "not-evaluated" */
  status: 'pass' | 'fail' | 'not-evaluated';
  checked: number;
  failed: number;
}

export interface VerifyResult {
  verdict: 'pass' | 'fail';
  /** Service(s) as configured or inferred (JSON-friendly plain object). */
  service: unknown;
  /** True when the service was inferred from traffic rather than configured. */
  serviceInferred: boolean;
  profile: string;
  points: PointSummary[];
  findings: Finding[];
  notEvaluated: NotEvaluated[];
  rules: RuleTally[];
  stats: Record<string, number>;
}
