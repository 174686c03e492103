/**
 * Public result types of the capture readers, and the small context the format parsers
 * share: the reused Frame, the consumer callback, warnings and the summary being built.
 */
import type { Frame } from '../frame.js';
import { CaptureError, type CaptureWarning, type CaptureWarningCode } from './errors.js';

export interface InterfaceInfo {
  /** LINKTYPE_* value (classic pcap: FCS bits masked off). */
  linkType: number;
  /** 0 means "no limit" in pcapng. */
  snaplen: number;
  name: string | null;
  /** '1e-6', '1e-9', '2^-10', ... */
  tsResolution: string;
  tsOffsetSec: number;
  /** 0-based pcapng section (SHB) the interface belongs to; 0 for classic pcap. */
  section: number;
  /** Packets lost before the file, from the interface's last pcapng Interface Statistics Block:
   *  isb_ifdrop (by the interface or driver) and isb_osdrop (by the capture system, tcpdump's
   *  "dropped by kernel"); null when no statistics block gave it (classic pcap never does). */
  ifDrop?: number | null;
  osDrop?: number | null;
}

export interface CaptureSummary {
  format: 'pcap' | 'pcapng';
  gzip: boolean;
  /** Frames delivered to the callback. */
  frames: number;
  sections: number;
  /** Interfaces in file order across all sections; Frame.interfaceId indexes this list. */
  interfaces: InterfaceInfo[];
  /** pcapng blocks by name (SHB, IDB, EPB, SPB, PB, NRB, ISB, DSB, CB, DCB, ...); empty for classic pcap. */
  blockCounts: Record<string, number>;
  /** Bytes read (after decompression). */
  bytes: number;
  truncated: boolean;
}

export type FrameCallback = (f: Frame) => boolean | void;

export interface ReadOptions {
  onWarning?: (w: CaptureWarning) => void;
  /** Read size for a capture file, default 1 MiB (a stream comes in the pieces it is written in;
   *  gzip is decompressed in chunks of a fixed size, see reader.ts GZIP_PIECE). */
  chunkSize?: number;
  /**
   * Asked between slices of PACE_SLICE bytes of input (whole-capture reads: readCapture,
   * readCaptureStream): a promise makes the read wait for it before parsing on. How a consumer
   * whose output goes to a slow reader (a pipe) holds the read back, so what waits to be
   * written stays one slice's worth.
   */
  pace?: () => Promise<void> | null;
}

/** Limits shared by both formats: nothing legitimate comes near them. */
export const MAX_RECORD = 256 * 1024 * 1024;
export const DEFAULT_MAX_SNAPLEN = 262144;

/** State shared between the chunk machinery and the per-format record parsers. */
export class ReadContext {
  readonly frame: Frame;
  readonly summary: CaptureSummary;

  constructor(
    readonly file: string,
    readonly onFrame: FrameCallback,
    private readonly onWarning: ((w: CaptureWarning) => void) | undefined,
  ) {
    this.frame = {
      capture: file,
      frame: 0,
      buf: Buffer.alloc(0),
      off: 0,
      caplen: 0,
      len: 0,
      tsSec: 0,
      tsNsec: 0,
      linkType: 0,
      interfaceId: 0,
      direction: null,
      comment: null,
      fileOffset: 0,
    };
    this.summary = {
      format: 'pcap',
      gzip: false,
      frames: 0,
      sections: 0,
      interfaces: [],
      blockCounts: {},
      bytes: 0,
      truncated: false,
    };
  }

  error(offset: number, detail: string): CaptureError {
    return new CaptureError(this.file, offset, detail);
  }

  warn(offset: number, code: CaptureWarningCode, message: string): void {
    this.onWarning?.({ file: this.file, offset, code, message });
  }

  /** Hands the filled frame to the consumer; false when it asked to stop. */
  deliver(): boolean {
    this.summary.frames++;
    this.frame.frame = this.summary.frames;
    return this.onFrame(this.frame) !== false;
  }
}

/**
 * One capture format as a sequence of records (file header, packet record, pcapng block).
 * `recordSize` looks at the bytes available at `pos` and answers how many it needs: the
 * header size while the length is not yet readable, else the whole record's size. The
 * chunk machinery calls `parse` once that many bytes are contiguous.
 */
export interface RecordFormat {
  readonly name: 'pcap' | 'pcapng';
  /** True once the file header (pcap header / first SHB) has been parsed. */
  readonly headerDone: boolean;
  recordSize(buf: Buffer, pos: number, avail: number, fileOffset: number): number;
  /** Returns false when the consumer asked to stop. */
  parse(buf: Buffer, pos: number, size: number, fileOffset: number): boolean;
  /**
   * Fast path over the common records wholly inside [pos, end) (pcap records, pcapng EPBs),
   * in one loop without a recordSize/parse round trip each: returns the bytes consumed and
   * stops before the first record it does not take, which the generic path then handles
   * exactly as always (errors and warnings included). `runStopped`: the consumer stopped.
   */
  parseRun(buf: Buffer, pos: number, end: number, fileOffset: number): number;
  readonly runStopped: boolean;
}
