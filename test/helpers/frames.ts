/**
 * Every frame of a capture file as its own Frame (the readers reuse one frame view and its
 * buffer, so each is copied out): for tests that decode frames one by one.
 */
import { readFileSync } from 'node:fs';
import { readCaptureBuffer } from '../../src/decode/capture/index.js';
import type { Frame } from '../../src/decode/frame.js';

export function readCaptureFrames(file: string): Frame[] {
  const out: Frame[] = [];
  readCaptureBuffer(readFileSync(file), file, (f) => {
    const buf = Buffer.from(f.buf.subarray(f.off, f.off + f.caplen));
    out.push({ ...f, buf, off: 0 });
  });
  return out;
}
