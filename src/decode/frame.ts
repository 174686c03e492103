/**
 * A frame is one captured record as a reader hands it out: the bytes and the metadata
 * the capture file stored for it. Readers reuse one Frame object and the backing buffer
 * for every record, so a consumer that keeps anything past its callback copies it
 * (see `copyFrame`). That reuse is what keeps the read path allocation-free.
 */
export type Direction = 'in' | 'out' | null;

export interface Frame {
  /** Capture file name as the user gave it ("-" for stdin). */
  capture: string;
  /** 1-based frame number, as Wireshark numbers it. */
  frame: number;
  /** Backing bytes; valid only during the callback. */
  buf: Buffer;
  /** Offset of the first packet byte in `buf`. */
  off: number;
  /** Bytes present in the capture. */
  caplen: number;
  /** Original length on the wire. */
  len: number;
  /** Seconds since the Unix epoch. */
  tsSec: number;
  /** Nanoseconds within the second, 0..999_999_999. */
  tsNsec: number;
  /** LINKTYPE_* value of the interface the frame was captured on. */
  linkType: number;
  /** pcapng interface index (0 for classic pcap). */
  interfaceId: number;
  /** Capture direction from pcapng epb_flags (LINUX_SLL packet type is decoded later). */
  direction: Direction;
  /** First opt_comment of the packet block, if any. */
  comment: string | null;
  /** Byte offset of this record's header in the (decompressed) file, for error messages. */
  fileOffset: number;
}

/** Allocates a stand-alone copy of a frame (its bytes included), for frames kept as evidence. */
export function copyFrame(f: Frame): Frame {
  const bytes = Buffer.from(f.buf.subarray(f.off, f.off + f.caplen));
  return { ...f, buf: bytes, off: 0 };
}

/** Timestamp of a frame in nanoseconds as a float: precise to ~256 ns for present-day dates,
 *  which is enough for ordering and clock-offset estimation; exact values stay in tsSec/tsNsec. */
export function frameTimeNs(f: Pick<Frame, 'tsSec' | 'tsNsec'>): number {
  return f.tsSec * 1e9 + f.tsNsec;
}

/** ISO-8601 with nanoseconds, e.g. 2026-11-26T13:13:38.345225123Z. */
export function formatTimestamp(tsSec: number, tsNsec: number): string {
  const iso = new Date(tsSec * 1000).toISOString(); // yyyy-mm-ddThh:mm:ss.sssZ
  return `${iso.slice(0, 19)}.${String(tsNsec).padStart(9, '0')}Z`;
}

/** LINKTYPE_* values the decoders understand (https://www.tcpdump.org/linktypes.html). */
export const LinkType = {
  NULL: 0,
  ETHERNET: 1,
  RAW: 101,
  LOOP: 108,
  LINUX_SLL: 113,
  IPV4: 228,
  IPV6: 229,
  LINUX_SLL2: 276,
} as const;
