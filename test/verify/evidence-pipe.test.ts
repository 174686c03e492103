/**
 * `verify --pcap-out` into a pipe whose reader is slow: the writer waits for the reader (its
 * writes block), so the evidence arrives whole and the same, byte for byte, as written to a file.
 * The set with the largest evidence file (about 0.5 MB, several times a pipe's buffer) is used,
 * and the reader takes nothing for a while, then reads in small pieces with pauses.
 */
import { execSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { registerVerify } from '../../src/cli/verify.js';
import { runInProcess } from '../helpers/cli.js';
import { hasCommand, need, repoRoot } from '../helpers/env.js';

const dir = path.join(repoRoot, 'fixtures', 'offload', 'nftables-nat');
const tmp = mkdtempSync(path.join(os.tmpdir(), 'lvsaudit-evidence-pipe-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const args = (out: string): string[] => [
  '--config', path.join(dir, 'service.conf'),
  '--client', path.join(dir, 'client.pcap.gz'),
  '--director', path.join(dir, 'director.pcap.gz'),
  '--rs-capture', path.join(dir, 'rs1.pcap.gz'),
  '--rs-capture', path.join(dir, 'rs2.pcap.gz'),
  '--pcap-out', out,
];

describe('--pcap-out to a slow pipe', () => {
  it.skipIf(!need(existsSync(dir) && hasCommand('mkfifo') && hasCommand('dd'), 'no offload set, mkfifo or dd'))('the evidence arrives whole, as written to a file', async () => {
    const asFile = path.join(tmp, 'evidence.pcapng');
    const file = await runInProcess(registerVerify, 'verify', args(asFile));
    const expected = readFileSync(asFile);
    // More than a pipe holds, so the writer must wait for its reader.
    expect(expected.length).toBeGreaterThan(4 * 65536);

    const fifo = path.join(tmp, 'evidence.fifo');
    const got = path.join(tmp, 'got.pcapng');
    execSync(`mkfifo '${fifo}'`);
    // The reader opens at once (the writer's open waits for it), then sleeps, then reads 4 KiB
    // at a time with a pause every 64 KiB.
    const script = 'exec 3<"$1"; sleep 0.5; prev=-1; while :; do dd bs=4096 count=16 iflag=fullblock <&3 >>"$2" 2>/dev/null; n=$(wc -c <"$2"); [ "$n" = "$prev" ] && break; prev=$n; sleep 0.05; done';
    const reader = spawn('sh', ['-c', script, 'sh', fifo, got], { stdio: 'ignore' });
    const readerDone = new Promise<number | null>((resolve) => reader.on('close', resolve));
    const piped = await runInProcess(registerVerify, 'verify', args(fifo));
    expect(await readerDone).toBe(0);
    expect(piped.code).toBe(file.code);
    expect(piped.err).toBe(file.err.split(asFile).join(fifo));
    expect(piped.out).toBe(file.out);
    expect(readFileSync(got).equals(expected)).toBe(true);
  });
});
