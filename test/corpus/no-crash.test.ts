/**
 * The whole tcpdump corpus (≈830 captures, many of them fuzzed crash regressions) through the
 * decode library path: readCapture → Decoder → JSON printer + text printer + summary + filter.
 * No exception other than CaptureError, no stall (per-file timeout), every JSON line parses
 * and names its frame, every text line is one line that starts with FILE:FRAME.
 */
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { CaptureError, readCapture } from '../../src/decode/capture/index.js';
import { Decoder } from '../../src/decode/decoder.js';
import { compileFilter } from '../../src/decode/filter.js';
import { JsonPrinter } from '../../src/decode/print/json.js';
import { TextPrinter } from '../../src/decode/print/text.js';
import { DecodeSummary, formatSummary } from '../../src/decode/summary.js';
import { hasShared, need, sharedDir } from '../helpers/env.js';

const corpusDir = path.join(sharedDir, 'corpus', 'tcpdump-tests');
const haveCorpus = need(hasShared, `corpus not found at ${corpusDir}`);
const PER_FILE_MS = 20_000;

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timeout after ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

describe('tcpdump corpus through the decode path', () => {
  it.skipIf(!haveCorpus)(
    'decodes and prints every capture without crashing',
    async () => {
      const files = readdirSync(corpusDir)
        .filter((f) => /\.(pcap|pcapng|cap|pcap\.gz|pcapng\.gz)$/i.test(f))
        .sort();
      expect(files.length).toBeGreaterThan(800);
      const json = new JsonPrinter();
      const text = new TextPrinter();
      const summary = new DecodeSummary();
      const filter = compileFilter('(tcp and port 80) or (udp and not port 53) or arp or toa or vlan 10 or net 10.0.0.0/8 or ip6 or tunnel');
      let frames = 0;
      let filtered = 0;
      let captureErrors = 0;
      let readFully = 0;
      let warnings = 0;
      const problems: string[] = [];
      for (const name of files) {
        const file = path.join(corpusDir, name);
        const decoder = new Decoder({ toaKinds: [254, 253, 200, 201] });
        const started = Date.now();
        try {
          await withTimeout(
            readCapture(
              file,
              (f) => {
                const p = decoder.decode(f);
                const j = json.format(p);
                const o = JSON.parse(j) as { frame: number; capture: string };
                if (o.frame !== f.frame || o.capture !== file) problems.push(`${name}#${f.frame}: JSON names ${o.capture}#${o.frame}`);
                const line = text.format(p);
                if (!line.startsWith(`${file}:${f.frame} `) || line.includes('\n')) problems.push(`${name}#${f.frame}: bad text line`);
                summary.add(p);
                if (filter(p)) filtered++;
                frames++;
              },
              { onWarning: () => warnings++ },
            ),
            PER_FILE_MS,
            name,
          );
          readFully++;
        } catch (e) {
          if (e instanceof CaptureError) captureErrors++;
          else problems.push(`${name}: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
        }
        const ms = Date.now() - started;
        if (ms > PER_FILE_MS) problems.push(`${name}: took ${ms} ms`);
      }
      const report = summary.report();
      formatSummary(report);
      console.log(
        `[corpus] ${files.length} files: ${readFully} read fully, ${captureErrors} CaptureError, ${warnings} warnings; ` +
          `${frames} frames, ${filtered} matched the filter; truncated ${JSON.stringify(report.truncated)}; ` +
          `malformed kinds ${Object.keys(report.malformed).length}`,
      );
      expect(problems).toEqual([]);
      expect(readFully + captureErrors).toBe(files.length);
      // Most of the corpus is readable captures; fuzzed ones may end in CaptureError.
      expect(readFully).toBeGreaterThan(700);
      expect(frames).toBeGreaterThan(9_000);
      expect(report.frames).toBe(frames);
      expect(filtered).toBeGreaterThan(0);
    },
    600_000,
  );
});
