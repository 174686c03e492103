/**
 * How tests run the built CLI's decode command: `node bin/lvsaudit.js decode …` once
 * src/cli/main.ts registers it, else the stand-in entry next to this file (same wiring).
 */
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { repoRoot } from '../helpers/env.js';

const mainJs = path.join(repoRoot, 'dist', 'cli', 'main.js');

/** argv (after `node`) that runs `lvsaudit decode`. */
export function decodeArgv(): string[] {
  const registered = existsSync(mainJs) && readFileSync(mainJs, 'utf8').includes('decode.js');
  return registered
    ? [path.join(repoRoot, 'bin', 'lvsaudit.js'), 'decode']
    : [path.join(repoRoot, 'test', 'differential', 'decode-entry.mjs'), 'decode'];
}

export function runDecode(args: string[], opts: { input?: Buffer; cwd?: string; timeout?: number } = {}): SpawnSyncReturns<string> {
  return spawnSync(process.execPath, [...decodeArgv(), ...args], {
    cwd: opts.cwd ?? repoRoot,
    input: opts.input,
    encoding: 'utf8',
    maxBuffer: 1 << 30,
    timeout: opts.timeout ?? 120_000,
  });
}

/** True when dist/ holds the compiled decode command (tests build it in beforeAll otherwise). */
export function distReady(): boolean {
  return existsSync(path.join(repoRoot, 'dist', 'cli', 'decode.js'));
}
