/**
 * The capture writers into a pipe: blocking writes wait for a slow reader (nothing is lost), and
 * a reader that closes early (`--pcap-out >(head -c 100)`) ends the writing quietly, as a closed
 * stdout does, instead of an EPIPE error.
 */
import { execSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { PcapWriter } from '../../src/decode/capture/index.js';
import { hasCommand, need } from '../helpers/env.js';

const tmp = mkdtempSync(path.join(tmpdir(), 'lvsaudit-writer-pipe-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const PACKETS = 20_000;
const packet = (i: number): Buffer => Buffer.alloc(100, i & 0xff);

/** A FIFO and a `sh` reader of it running `script` ($1 = the FIFO, $2 = an output file). */
function fifoReader(name: string, script: string): { fifo: string; out: string; done: Promise<number | null> } {
  const fifo = path.join(tmp, `${name}.fifo`);
  const out = path.join(tmp, `${name}.out`);
  execSync(`mkfifo '${fifo}'`);
  const child = spawn('sh', ['-c', script, 'sh', fifo, out], { stdio: 'ignore' });
  return { fifo, out, done: new Promise((resolve) => child.on('close', resolve)) };
}

describe.skipIf(!need(hasCommand('mkfifo') && hasCommand('head'), 'mkfifo or head not installed'))('capture writer into a pipe', () => {
  it('a slow reader gets every byte a file would', async () => {
    const inMemory = new PcapWriter();
    for (let i = 0; i < PACKETS; i++) inMemory.write(packet(i), 1_700_000_000, i);
    const expected = inMemory.toBuffer();
    const r = fifoReader('slow', 'exec 3<"$1"; sleep 0.3; cat <&3 >"$2"');
    const w = new PcapWriter({ path: r.fifo });
    for (let i = 0; i < PACKETS; i++) w.write(packet(i), 1_700_000_000, i);
    w.close();
    expect(await r.done).toBe(0);
    expect(w.readerGone).toBe(false);
    expect(readFileSync(r.out).equals(expected)).toBe(true);
  });

  it('a reader that stops early ends the writing without an error', async () => {
    const r = fifoReader('head', 'head -c 100 "$1" >"$2"');
    const w = new PcapWriter({ path: r.fifo });
    // Far more than the pipe holds: the writes meet the closed pipe.
    for (let i = 0; i < PACKETS * 5; i++) w.write(packet(i), 1_700_000_000, i);
    w.close();
    expect(await r.done).toBe(0);
    expect(w.readerGone).toBe(true);
    expect(readFileSync(r.out).length).toBe(100);
  });
});
