/**
 * Nothing from a capture or a config becomes markup in the HTML report. Every string of the
 * report model that input can set (messages, hints, capture file names, points, connections,
 * services, MACs, real servers, reasons) is filled with hostile text: the page keeps the element
 * structure it has with plain text (metamorphic, over arbitrary strings), holds no element or
 * attribute the text tried to smuggle in, and reads every string back unchanged.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { renderHtml } from '../../src/verify/report/html/page.js';
import { HOSTILE, hostileModel } from './hostile-model.js';
import { markupOnly, pageFindings, tagSequence } from './html-parse.js';

const page = (s: string): string => renderHtml(hostileModel(s), { command: 'verify', serviceLines: [`TCP ${s}`], show: s });

describe('HTML report escaping', () => {
  it('keeps its element structure whatever the input strings hold (arbitrary strings)', () => {
    // Chart texts are laid out by the chart library (a longer name may wrap): charts are held below.
    const noCharts = (p: string): string => p.replace(/<section id="charts">[\s\S]*?<\/section>/, '');
    const plain = tagSequence(noCharts(page('plain')));
    expect(plain.length).toBeGreaterThan(50);
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.string({ unit: 'grapheme' }), fc.constantFrom(...HOSTILE)), (s) => {
        expect(tagSequence(noCharts(page(s)))).toEqual(plain);
      }),
      { numRuns: 60 },
    );
  });

  for (const s of HOSTILE) {
    it(`smuggles nothing in: ${s}`, () => {
      const p = page(s);
      const body = markupOnly(p);
      // One script, ours; no element a hostile string names; no event handler attribute.
      expect(p.match(/<script/g)?.length).toBe(1);
      expect(body).not.toMatch(/<(script|img|iframe|textarea)\b/i);
      // Text cannot hold '<' (it is escaped), so every '<' opens a tag of ours: none has an on… attribute.
      // Attribute values are quoted with '"' escaped inside, so what is left of a tag without them is its names.
      for (const tag of body.match(/<[a-zA-Z][^>]*>/g) ?? []) expect(tag.replace(/"[^"]*"/g, '""')).not.toMatch(/\son[a-z]+\s*=/i);
      // The charts (rendered by the chart library) got the hostile names too.
      expect(p).toContain('id="chart-arp"');
      // Every string reads back as it was given.
      const [f] = pageFindings(p);
      expect(f!.message).toBe(`m ${s}`);
      expect(f!.hint).toBe(`h ${s}`);
      expect(f!.evidence).toEqual([{ capture: `c ${s}.pcap`, frame: 2, point: `client ${s}` }]);
    });
  }
});
