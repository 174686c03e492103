/**
 * Every capture of the tcpdump corpus (≈830 files, many of them fuzzed crash regressions)
 * and of the pcapng generator corpus goes through the project's reader into the decoder:
 * no exception and no hang. Reader errors (CaptureError) on broken files are expected and
 * fine; anything else thrown is a failure.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { CaptureError, readCaptureBuffer } from '../../src/decode/capture/index.js';
import { Decoder } from '../../src/decode/decoder.js';
import { hasShared, need, sharedDir } from '../helpers/env.js';

function listCaptures(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const full = path.join(dir, name);
    if (statSync(full).isDirectory()) out.push(...listCaptures(full));
    else if (/\.(pcap|pcapng|cap|ntar)(\.gz)?$/i.test(name)) out.push(full);
  }
  return out;
}

const corpus = path.join(sharedDir, 'corpus');
const gate = need(hasShared && existsSync(corpus), 'shared corpus not found');

describe('whole corpus through reader + decoder', () => {
  it.skipIf(!gate)('decodes every frame of every capture without throwing or hanging', () => {
    const files = listCaptures(corpus);
    const d = new Decoder({ toaKinds: [254, 253, 200, 201], guePorts: [6080] });
    let frames = 0;
    let readerErrors = 0;
    let malformed = 0;
    let truncated = 0;
    let slowest = 0;
    const failures: string[] = [];
    for (const file of files) {
      const t0 = performance.now();
      try {
        readCaptureBuffer(readFileSync(file), file, (f) => {
          const p = d.decode(f);
          frames++;
          if (p.malformed.present) malformed++;
          if (p.truncated !== null) truncated++;
        });
      } catch (e) {
        if (e instanceof CaptureError) readerErrors++;
        else failures.push(`${path.relative(corpus, file)}: ${e instanceof Error ? e.stack : String(e)}`);
      }
      const ms = performance.now() - t0;
      if (ms > slowest) slowest = ms;
      if (ms > 5000) failures.push(`${path.relative(corpus, file)}: took ${ms.toFixed(0)} ms`);
    }
    console.log(`corpus: ${files.length} files, ${frames} frames decoded, ${malformed} malformed, ${truncated} truncated, ` +
      `${readerErrors} reader errors, slowest file ${slowest.toFixed(0)} ms`);
    expect(failures).toEqual([]);
    expect(files.length).toBeGreaterThan(800);
    expect(frames).toBeGreaterThan(9000);
  });
});
