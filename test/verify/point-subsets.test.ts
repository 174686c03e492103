/**
 * Fewer capture points know less, never more: verify over any subset of a committed set's
 * points (the client and real-server captures without the director's, one real server alone…,
 * which is what an audit often has) finds no error rule the whole set does not, and on a set
 * the whole of which is clean, no warning either. A rule that cannot be judged from the points
 * given must say "not evaluated", not guess (a router's MAC taken for the director's once made
 * every DR connection seen at a real server an arp.client-poisoned error).
 */
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { pointsOf, verifyPoints, verifySets } from '../helpers/verify-sets.js';

const sets = verifySets(true);

describe('a subset of the capture points finds nothing the whole set does not', () => {
  it('finds the committed capture sets', () => {
    expect(sets.length).toBeGreaterThan(40);
    expect(sets.filter((s) => s.name.startsWith('offload/')).length).toBeGreaterThan(5);
  });

  it.each(sets.map((s) => [s.name, s] as const))('%s', async (_name, s) => {
    const points = pointsOf(s.dir, s.files);
    const whole = await verifyPoints(s.dir, points, s.profile);
    const clean = whole.findings.every((f) => f.severity === 'info');
    const known = new Set(whole.findings.map((f) => f.rule));
    const extra: string[] = [];
    for (let mask = 1; mask < (1 << points.length) - 1; mask++) {
      const subset = points.filter((_, i) => (mask & (1 << i)) !== 0);
      const r = await verifyPoints(s.dir, subset, s.profile);
      for (const f of r.findings) {
        if (f.severity === 'info' || known.has(f.rule) || (f.severity === 'warning' && !clean)) continue;
        extra.push(`[${subset.map((p) => path.basename(p.files[0]!)).join(', ')}] ${f.severity} ${f.rule}: ${f.message}`);
      }
    }
    expect(extra).toEqual([]);
  });
});
