/** Capture file readers and writers (classic pcap, pcapng, gzip'd either). */
export { CaptureError, type CaptureWarning, type CaptureWarningCode } from './errors.js';
export type { CaptureSummary, InterfaceInfo, ReadOptions, FrameCallback } from './types.js';
export { CaptureParser } from './parser.js';
export { CaptureReader, readCapture, readCaptureBuffer, readCaptureStream } from './reader.js';
export { PcapWriter, PcapngWriter, type PcapWriterOptions, type PcapngInterface, type PcapngPacketOptions } from './writer.js';
export { isOneShot, keepStreamHeads, oneShotInputs, registerStreamInput, KeptStreams, StreamInput, MAX_KEPT_HEAD } from './stream-input.js';
