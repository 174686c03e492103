/**
 * `lvsaudit lab run` dispatch and exit codes: usage errors exit 2 before anything is built;
 * `--director reference --verify --format json` prints one JSON document whose verify verdict
 * matches the exit code (a director fault → 1 with its rule). Lab runs need root + cap + tcpdump.
 */
import { describe, expect, it, vi } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../../src/cli/main.js';
import { runLab } from '../../src/cli/lab.js';

import { need } from '../helpers/env.js';
import { referenceLabReady, referenceLabReason } from '../helpers/lab.js';

const ready = referenceLabReady;
const reason = referenceLabReason;

async function exitOf(args: string[]): Promise<number> {
  const err = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
  try {
    return await main(args);
  } finally {
    err.mockRestore();
  }
}

describe('lab run: usage errors exit 2', () => {
  it.each([
    [['lab', 'run', '--mode', 'nat']],
    [['lab', 'run', '--mode', 'nat', '--director', 'bogus']],
    [['lab', 'run', '--mode', 'tun', '--director', 'reference']],
    [['lab', 'run', '--mode', 'nat', '--director', 'reference', '--fault', 'rs2:arp_ignore=0']],
    [['lab', 'run', '--mode', 'nat', '--director', 'reference', '--fault', 'no-such-fault']],
    [['lab', 'run', '--mode', 'nat', '--director', 'reference', '--scheduler', 'wrr']],
    [['lab', 'run', '--mode', 'nat', '--director', 'reference', '--profile', 'dpvs']],
    [['lab', 'run', '--mode', 'nat,dr', '--director', 'reference']],
    [['lab', 'run', '--mode', 'fullnat', '--director', 'ipvs']],
    [['lab', 'down', '--prefix', 'notours-']],
  ])('%j', async (args) => {
    expect(await exitOf(args)).toBe(2);
  });
});

describe('lab run --director reference (netns)', () => {
  it.skipIf(!need(ready, reason))('--verify --format json: verdict and exit code agree; a director fault gives exit 1 with its rule', async () => {
    const out = mkdtempSync(join(tmpdir(), 'lvsa-h13-cli-'));
    try {
      let text = '';
      const code = await runLab({ director: 'reference', mode: ['fullnat'], profile: 'dpvs', fault: ['toa-missing'], out, verify: true, format: 'json' }, (s) => (text += s));
      const doc = JSON.parse(text) as { director: string; mode: string; profile: string; exitCode: number; verify: { verdict: string; findings: Array<{ rule: string; severity: string }> } };
      expect(doc).toMatchObject({ director: 'reference', mode: 'fullnat', profile: 'dpvs', exitCode: 1 });
      expect(doc.verify.verdict).toBe('fail');
      expect(doc.verify.findings.filter((f) => f.severity === 'error').map((f) => f.rule)).toContain('fnat.toa-missing');
      expect(code).toBe(1);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  }, 60_000);
});
