/**
 * The rule catalog against the public rule list (rules.md, read from the shared spec when
 * present), and the scheduler models the sched.distribution rule uses, against sequences worked
 * out by hand from lvs-behavior.md §1.10 (rr: strict rotation; wrr: interleaved by weight).
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { sharedDir } from '../helpers/env.js';
import { RULES, RULE_BY_ID, missingReason } from '../../src/verify/model/catalog.js';
import { fitsCycle, wrrCycle } from '../../src/verify/judge/rules/sched.js';
import { RULE_MODULES } from '../../src/verify/verify.js';
import { fullnatRules } from '../../src/verify/judge/rules/fullnat.js';
import { makeFullnatUoaRules } from '../../src/verify/judge/rules/fullnat-uoa.js';
import { CAPTURE } from '../../src/verify/judge/rules/capture.js';

const rulesMd = path.join(sharedDir, 'spec', 'rules.md');

describe('rule catalog', () => {
  it.skipIf(!existsSync(rulesMd))('has every rule id of rules.md with its severity', () => {
    const text = readFileSync(rulesMd, 'utf8');
    const rows = [...text.matchAll(/^\| `([a-z0-9.-]+)` \| (error|warning|info) \|/gm)];
    expect(rows.length).toBeGreaterThan(40);
    for (const [, id, sev] of rows) {
      expect(RULE_BY_ID.get(id!)?.severity, id).toBe(sev);
    }
  });

  it('every rule a verify module reports is in the catalog', () => {
    for (const m of RULE_MODULES) for (const id of m.ids) expect(RULE_BY_ID.has(id), id).toBe(true);
    expect(new Set(RULES.map((r) => r.id)).size).toBe(RULES.length);
  });

  it('every verify, FullNAT and capture rule of the catalog has a registered function', () => {
    const registered = new Set([...RULE_MODULES, fullnatRules, makeFullnatUoaRules()].flatMap((m) => m.ids));
    for (const r of CAPTURE) registered.add(r.id);
    for (const r of RULES) if (r.engine !== 'arp') expect(registered.has(r.id), r.id).toBe(true);
  });

  it('explains why a rule is not evaluated', () => {
    const ttl = RULE_BY_ID.get('rewrite.ttl')!;
    expect(missingReason(ttl, new Set(['client', 'rs']), new Set(['nat']), true)).toMatch(/director/);
    expect(missingReason(ttl, new Set(['director']), new Set(['nat']), true)).toBeNull();
    const w0 = RULE_BY_ID.get('sched.weight0')!;
    expect(missingReason(w0, new Set(['director']), new Set(['nat']), false)).toMatch(/configuration/);
    const dr = RULE_BY_ID.get('dr.reply-src')!;
    expect(missingReason(dr, new Set(['client']), new Set(['nat']), true)).toMatch(/applies to dr/);
  });
});

describe('scheduler models', () => {
  it('rr is a strict rotation over servers with weight > 0', () => {
    expect(wrrCycle([1, 1, 1])).toEqual([0, 1, 2]);
    expect(wrrCycle([1, 0, 1])).toEqual([0, 2]);
  });

  it('wrr interleaves by weight (4:3:2 → a a b a b c a b c)', () => {
    expect(wrrCycle([4, 3, 2])).toEqual([0, 0, 1, 0, 1, 2, 0, 1, 2]);
    expect(wrrCycle([2, 1])).toEqual([0, 0, 1]);
    // gcd 2: same pattern as 2:1.
    expect(wrrCycle([4, 2])).toEqual([0, 0, 1]);
    expect(wrrCycle([0, 0])).toEqual([]);
  });

  it('an observed order fits the cycle from any start, and only then', () => {
    const c = wrrCycle([2, 1]);
    expect(fitsCycle([0, 1, 0, 0, 1], c)).toBe(true); // starts at the 2nd slot
    expect(fitsCycle([1, 0, 0, 1, 0, 0], c)).toBe(true);
    expect(fitsCycle([0, 1, 1], c)).toBe(false);
    expect(fitsCycle([0, 0, 0], c)).toBe(false);
  });
});
