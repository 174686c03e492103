/**
 * A corrupt gzip capture gets one message everywhere. Whatever sizes the bytes are read in (the
 * chunk sizes of decode and verify, a pipe's pieces), the reader parses the same decompressed
 * bytes before the corruption and fails with the same words at the same offset; `decode`,
 * `verify` and `arp` print that one line (exit 2). Corruptions are random bit flips in a
 * generated capture, so some are found by zlib (bad data, bad CRC) and some by the parser
 * (garbage that inflates but is no record header).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { CaptureError, PcapWriter, readCapture, readCaptureStream } from '../../src/decode/capture/index.js';
import { PacketBuilder } from '../../src/replay/builder/index.js';
import { repoRoot } from '../helpers/env.js';

const tmp = mkdtempSync(path.join(tmpdir(), 'lvsaudit-gzip-corrupt-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** A capture of varied TCP packets, about 600 KB before compression. */
function capture(): Buffer {
  const w = new PcapWriter();
  for (let i = 0; i < 4000; i++) {
    const pkt = PacketBuilder.eth({ src: '02:00:00:00:00:01', dst: '02:00:00:00:00:02' })
      .ipv4({ src: '172.16.0.2', dst: '172.16.0.100', id: i })
      .tcp({ sport: 40000 + (i % 50), dport: 80, flags: 'PA', seq: i * 100, ack: 1 })
      .payload(Buffer.alloc(i % 200, i & 0xff))
      .build();
    w.write(pkt, 1_700_000_000 + Math.floor(i / 100), (i % 100) * 1000);
  }
  return w.toBuffer();
}

const gz = gzipSync(capture());

/** How a read ended: the frames delivered and the error's message (null: read to the end). */
interface Outcome {
  frames: number;
  error: string | null;
}

async function outcome(read: (onFrame: () => void) => Promise<unknown>): Promise<Outcome> {
  let frames = 0;
  try {
    await read(() => void frames++);
    return { frames, error: null };
  } catch (e) {
    if (!(e instanceof CaptureError)) throw e;
    return { frames, error: e.message };
  }
}

function corrupt(at: number, bit: number): Buffer {
  const b = Buffer.from(gz);
  b[at]! ^= 1 << bit;
  return b;
}

describe('corrupt gzip', () => {
  it('the same frames and the same error whatever the read sizes', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 10, max: gz.length - 1 }), fc.integer({ min: 0, max: 7 }), fc.array(fc.integer({ min: 1, max: 100_000 }), { minLength: 1, maxLength: 8 }), async (at, bit, cuts) => {
        const bytes = corrupt(at, bit);
        const file = path.join(tmp, 'c.pcap.gz');
        writeFileSync(file, bytes);
        const outcomes: Outcome[] = [];
        // decode's chunk, verify's, and small ones.
        for (const chunkSize of [1 << 20, 512 * 1024, 4096]) outcomes.push(await outcome((f) => readCapture(file, f, { chunkSize })));
        // A pipe: the compressed bytes in pieces of arbitrary sizes.
        const pieces: Buffer[] = [];
        for (let i = 0, k = 0; i < bytes.length; k++) {
          const n = cuts[k % cuts.length]!;
          pieces.push(bytes.subarray(i, i + n));
          i += n;
        }
        outcomes.push(await outcome((f) => readCaptureStream(pieces, 'c.pcap.gz', f)));
        const named = outcomes.map((o) => ({ ...o, error: o.error?.replace(file, 'c.pcap.gz') ?? null }));
        for (const o of named.slice(1)) expect(o).toEqual(named[0]);
      }),
      { numRuns: 40 },
    );
  });

  it('decode, verify and arp print the same one line, exit 2', () => {
    // A flip in the middle of the deflate data, found by zlib or by the parser.
    const file = path.join(tmp, 'one.pcap.gz');
    writeFileSync(file, corrupt(Math.floor(gz.length / 2), 3));
    const bin = path.join(repoRoot, 'bin', 'lvsaudit.js');
    const run = (args: string[]): { code: number | null; err: string } => {
      const r = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', maxBuffer: 1 << 28 });
      return { code: r.status, err: r.stderr };
    };
    const decode = run(['decode', file]);
    const verify = run(['verify', '--vip', '172.16.0.100:80', '--mode', 'nat', '--rs', '10.0.0.11:8080', '--client', file]);
    const arp = run(['arp', file]);
    expect(decode.err).toMatch(new RegExp(`^lvsaudit: ${file.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: offset \\d+: .+\\n$`));
    for (const r of [decode, verify, arp]) {
      expect(r.code).toBe(2);
      expect(r.err).toBe(decode.err);
    }
  });
});
