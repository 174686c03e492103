/**
 * The read → decode loop every command shares: one reader, one reused Decoder, one callback
 * per packet. Keeping it in one place means decode, verify and arp see identical packets
 * (same TOA kinds, same checksum policy, same warnings).
 */
import { readCapture, type CaptureSummary, type CaptureWarning } from './capture/index.js';
import { Decoder } from './decoder.js';
import type { DecodeOptions, Packet } from './packet.js';
import type { Frame } from './frame.js';

export interface PacketStreamOptions {
  decode?: Partial<DecodeOptions>;
  onWarning?: (w: CaptureWarning) => void;
  /** Stop after this many frames (decode -c). */
  limit?: number;
  /** Holds the read back while the consumer's output waits (ReadOptions.pace). */
  pace?: () => Promise<void> | null;
}

/**
 * Streams one capture file through the decoder. `onPacket` receives the reused view and
 * the raw frame (valid only during the call); return false to stop early.
 */
export async function forEachPacket(
  path: string,
  onPacket: (p: Packet, f: Frame) => boolean | void,
  opts: PacketStreamOptions = {},
): Promise<CaptureSummary> {
  const decoder = new Decoder(opts.decode);
  const limit = opts.limit ?? Infinity;
  let seen = 0;
  return readCapture(
    path,
    (frame) => {
      const more = onPacket(decoder.decode(frame), frame);
      seen++;
      return more !== false && seen < limit;
    },
    { ...(opts.onWarning ? { onWarning: opts.onWarning } : {}), ...(opts.pace ? { pace: opts.pace } : {}) },
  );
}
