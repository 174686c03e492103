/**
 * Streaming keeps memory bounded: a ~300 MB capture of small packets is read with the
 * process RSS growing by less than 100 MB (the reader holds one chunk plus one record).
 */
import { rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { PcapWriter, readCapture } from '../../src/decode/capture/index.js';

const file = path.join(tmpdir(), `lvsaudit-mem-${process.pid}.pcap`);
afterAll(() => rmSync(file, { force: true }));

describe('streaming memory', () => {
  it('reads a ~300 MB pcap with RSS growth < 100 MB', async () => {
    const packet = Buffer.alloc(84, 0x5a);
    const count = 3_000_000; // 16-byte header + 84 bytes = 100 bytes per record
    const w = new PcapWriter({ path: file });
    for (let i = 0; i < count; i++) {
      packet.writeUInt32BE(i, 0);
      w.write(packet, 1_700_000_000 + Math.floor(i / 1000), (i % 1000) * 1000);
    }
    w.close();
    const size = statSync(file).size;
    expect(size).toBe(24 + count * 100);
    expect(size).toBeGreaterThan(290e6);

    const gc = (globalThis as { gc?: () => void }).gc;
    gc?.();
    const baseline = process.memoryUsage.rss();
    let peak = baseline;
    let frames = 0;
    let outOfOrder = 0;
    const s = await readCapture(file, (f) => {
      if (f.buf.readUInt32BE(f.off) !== frames) outOfOrder++;
      frames++;
      if ((frames & 0xffff) === 0) peak = Math.max(peak, process.memoryUsage.rss());
    });
    peak = Math.max(peak, process.memoryUsage.rss());
    console.log(`memory test: ${(size / 1e6).toFixed(0)} MB, ${frames} frames, RSS baseline ${(baseline / 1e6).toFixed(1)} MB, peak growth ${((peak - baseline) / 1e6).toFixed(1)} MB`);
    expect(frames).toBe(count);
    expect(outOfOrder).toBe(0);
    expect(s.bytes).toBe(size);
    expect(peak - baseline).toBeLessThan(100 * 1024 * 1024);
  });
});
