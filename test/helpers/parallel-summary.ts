/**
 * The two paths of `decode --summary` side by side, for the parallel-summary tests: the serial
 * read (forEachPacket) and the split one (summarizeParallel). Worker threads run compiled JS, so
 * both are loaded from dist/ (rebuilt first when a source is newer than its output).
 */
import { execSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { expect } from 'vitest';
import type { CaptureWarning } from '../../src/decode/capture/index.js';
import type * as ParallelMod from '../../src/decode/parallel/index.js';
import type * as StreamMod from '../../src/decode/stream.js';
import type * as SummaryMod from '../../src/decode/summary.js';
import { repoRoot } from './env.js';

type Summary = InstanceType<typeof SummaryMod.DecodeSummary>;
type Report = ReturnType<Summary['report']>;

export interface Outcome {
  counts: ReturnType<Summary['exportCounts']>;
  /** The report without its timing fields. */
  report: Omit<Report, 'seconds' | 'packetsPerSecond'>;
  text: string;
  warnings: CaptureWarning[];
}

export interface SummaryPaths {
  par: typeof ParallelMod;
  sum: typeof SummaryMod;
  serial(file: string): Promise<Outcome>;
  parallel(file: string, o: { threads?: number; splits?: number[] }): Promise<Outcome & { parallel: boolean; reason: string | null }>;
}

const dist = (p: string): string => pathToFileURL(path.join(repoRoot, 'dist', p)).href;

/** True when a dist/ copy is missing or older than its source (src-relative paths). */
function distStale(extra: readonly string[]): boolean {
  const srcs = [...readdirSync(path.join(repoRoot, 'src/decode/parallel')).map((f) => `decode/parallel/${f}`), 'decode/summary.ts', 'cli/decode.ts', ...extra];
  return srcs.some((s) => {
    const out = path.join(repoRoot, 'dist', s.replace(/\.ts$/, '.js'));
    return !existsSync(out) || statSync(out).mtimeMs < statSync(path.join(repoRoot, 'src', s)).mtimeMs;
  });
}

/** Loads both paths from dist/, rebuilding it when `extraSources` or the parallel sources changed. */
export async function loadSummaryPaths(extraSources: readonly string[] = []): Promise<SummaryPaths> {
  if (distStale(extraSources)) execSync('npx tsc -p tsconfig.json', { cwd: repoRoot, stdio: 'inherit' });
  const par = (await import(dist('decode/parallel/index.js'))) as typeof ParallelMod;
  const sum = (await import(dist('decode/summary.js'))) as typeof SummaryMod;
  const stream = (await import(dist('decode/stream.js'))) as typeof StreamMod;

  const outcome = (s: Summary, warnings: CaptureWarning[]): Outcome => {
    const { seconds: _s, packetsPerSecond: _p, ...report } = s.report();
    void _s;
    void _p;
    return { counts: s.exportCounts(), report, text: sum.formatSummary(s.report()), warnings };
  };
  const collecting = (s: Summary, warnings: CaptureWarning[]) => (w: CaptureWarning): void => {
    warnings.push(w);
    s.warning(w);
  };
  return {
    par,
    sum,
    async serial(file) {
      const s = new sum.DecodeSummary();
      const warnings: CaptureWarning[] = [];
      await stream.forEachPacket(file, (p) => void s.add(p), { onWarning: collecting(s, warnings) });
      return outcome(s, warnings);
    },
    async parallel(file, o) {
      const s = new sum.DecodeSummary();
      const warnings: CaptureWarning[] = [];
      const r = await par.summarizeParallel(file, s, { ...o, minBytes: 0, onWarning: collecting(s, warnings) });
      return { ...outcome(s, warnings), parallel: r.parallel, reason: r.reason };
    },
  };
}

/** Every part of two outcomes is the same. */
export function expectSame(got: Outcome, want: Outcome, what: string): void {
  expect(got.counts, what).toStrictEqual(want.counts);
  expect(got.report, what).toStrictEqual(want.report);
  expect(got.text, what).toBe(want.text);
  expect(got.warnings, what).toStrictEqual(want.warnings);
}
