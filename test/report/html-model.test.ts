/**
 * The HTML report against the JSON report of the same run, over every committed capture set:
 * every finding of the JSON (rule, severity, message, hint, connection, evidence frames) is in
 * the page, as many times as in the JSON, and every rule's status is the JSON's. Every
 * connection with findings has its ladder, one arrow per copy of its packets, red exactly
 * where a finding about it cites the copy.
 */
import { describe, expect, it } from 'vitest';
import { runVerify } from '../../src/cli/verify.js';
import { renderJson } from '../../src/verify/report/json.js';
import { captureSets } from '../helpers/capture-sets.js';
import { pageFindings, pageRules, unescape, type PageFinding } from './html-parse.js';
import { MAX_LADDERS } from '../../src/verify/report/html/page.js';
import { MAX_LADDER_ROWS } from '../../src/verify/report/html/ladder-svg.js';
import { readdirSync } from 'node:fs';
import path from 'node:path';

interface JsonDoc {
  verdict: string;
  findings: Array<{ rule: string; severity: string; message: string; hint: string; conn?: string; evidence: Array<{ capture: string; frame: number; point: string }> }>;
  rules: Array<{ rule: string; status: string }>;
}

function key(f: Omit<PageFinding, 'conn'> & { conn?: string | null }): string {
  return JSON.stringify([f.rule, f.severity, f.message, f.hint, f.conn ?? null, f.evidence.map((e) => [e.capture, e.frame, e.point])]);
}

function counts(keys: readonly string[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const k of keys) m.set(k, (m.get(k) ?? 0) + 1);
  return m;
}

function options(dir: string, lab: boolean): Parameters<typeof runVerify>[0] {
  const files = readdirSync(dir);
  const perIf = files.filter((f) => /^director-.+\.pcap$/.test(f)).sort();
  return {
    config: [path.join(dir, 'service.conf')],
    client: [path.join(dir, 'client.pcap')],
    director: (perIf.length > 0 ? perIf : files.filter((f) => f === 'director.pcap')).map((f) => path.join(dir, f)),
    rsCapture: files.filter((f) => /^rs\d+\.pcap$/.test(f)).sort().map((f) => path.join(dir, f)),
    profile: lab ? 'linux-legacy' : 'linux',
    format: 'html',
  };
}

/** Ladders compared over all sets: the check above must not pass by having none to check. */
let laddersChecked = 0;

describe('HTML report holds what the JSON report of the same run holds', () => {
  const sets = captureSets();
  it('has capture sets to check', () => expect(sets.length).toBeGreaterThan(10));
  for (const set of sets) {
    it(set.name, async () => {
      const { result, output } = await runVerify(options(set.dir, set.name.startsWith('lab/')));
      const doc = JSON.parse(renderJson(result)) as JsonDoc;
      const page = output;
      expect(page.startsWith('<!DOCTYPE html>')).toBe(true);
      expect(/data-verdict="([^"]*)"/.exec(page)?.[1]).toBe(doc.verdict);
      expect(pageRules(page)).toEqual(doc.rules.map((r) => ({ rule: r.rule, status: r.status })));
      const want = counts(doc.findings.map((f) => key({ ...f, conn: f.conn ?? null })));
      const got = counts(pageFindings(page).map(key));
      expect(got).toEqual(want);

      const withFindings = (result.connections ?? []).filter((c) => c.rules.length > 0).slice(0, MAX_LADDERS);
      const blocks = [...page.matchAll(/<div class="ladder-block" id="[^"]*" data-conn="([^"]*)">([\s\S]*?)<\/svg>/g)].map((m) => ({ conn: unescape(m[1]!), svg: m[2]! }));
      expect(blocks.map((b) => b.conn)).toEqual(withFindings.map((c) => c.conn));
      // The scheduling series counts every connection whose real server and first SYN are known
      // (on the committed sets every connection with a known real server has its SYN): as many
      // per real server as the ladders, which hold every connection of a set this small.
      const ladderCount = new Map<string, number>();
      for (const c of result.connections ?? []) if (c.realServer !== null) ladderCount.set(c.realServer, (ladderCount.get(c.realServer) ?? 0) + 1);
      const seriesCount = new Map((result.scheduling?.perRs ?? []).map((x) => [x.rs, x.counts.reduce((a, b) => a + b, 0)]));
      expect(seriesCount).toEqual(ladderCount);
      laddersChecked += withFindings.length;
      for (const [i, c] of withFindings.entries()) {
        const drawn = [...blocks[i]!.svg.matchAll(/<g class="(copy(?: bad)?)" data-capture="([^"]*)" data-frame="(\d+)"/g)].map((m) => ({ bad: m[1] === 'copy bad', at: `${unescape(m[2]!)}#${m[3]}` }));
        const copies = c.packets.slice(0, MAX_LADDER_ROWS).flatMap((p) => p.copies);
        expect(drawn.map((d) => d.at)).toEqual(copies.map((x) => `${x.capture}#${x.frame}`));
        const cited = new Set(doc.findings.filter((f) => f.conn === c.conn).flatMap((f) => f.evidence.map((e) => `${e.capture}#${e.frame}`)));
        expect(drawn.map((d) => d.bad)).toEqual(drawn.map((d) => cited.has(d.at)));
      }
    });
  }
  it('compared ladders with marked copies', () => expect(laddersChecked).toBeGreaterThan(10));
});
