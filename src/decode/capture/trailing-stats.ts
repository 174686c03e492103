/**
 * The drop counters a pcapng file states at its end, read before the file is read through.
 *
 * dumpcap writes one Interface Statistics Block per interface when the capture stops, after
 * the last packet (pcapng §4.6: `isb_ifdrop` 5, `isb_osdrop` 7, cumulative). A reader that judges
 * packets as it streams reaches those blocks last; this looks at the file's tail directly, block
 * by block backwards (each block repeats its total length in its last four bytes), so the first
 * pass knows whether a capture admits to missing packets. Only a plain pcapng file on disk can be
 * read so (not gzip, not a pipe); anything unexpected answers "not stated" rather than an error:
 * the full read reports malformed files.
 */
import { closeSync, fstatSync, openSync, readSync, statSync } from 'node:fs';

const SHB = 0x0a0d0d0a;
const ISB = 5;
const BYTE_ORDER = 0x1a2b3c4d;
const IFDROP = 5;
const OSDROP = 7;
/** Trailing statistics blocks looked at, at most (one per interface). */
const MAX_BLOCKS = 64;
/** An ISB is small: its fixed fields and a handful of 8-byte counters and a comment. */
const MAX_ISB = 4096;

/** Sum of isb_ifdrop and isb_osdrop over the statistics blocks at the file's end (the last
 *  block of each interface), or null when the file states none. */
export function trailingDrops(file: string): number | null {
  let fd: number;
  try {
    // Looked at without opening first: opening a FIFO would wait for (or race) its writer.
    if (!statSync(file).isFile()) return null;
    fd = openSync(file, 'r');
  } catch {
    return null;
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile() || st.size < 28) return null;
    const head = Buffer.alloc(12);
    if (readSync(fd, head, 0, 12, 0) !== 12 || head.readUInt32LE(0) !== SHB) return null;
    const le = head.readUInt32LE(8) === BYTE_ORDER;
    if (!le && head.readUInt32BE(8) !== BYTE_ORDER) return null;
    const u32 = (b: Buffer, o: number): number => (le ? b.readUInt32LE(o) : b.readUInt32BE(o));
    const u64 = (b: Buffer, o: number): number => (le ? u32(b, o) + u32(b, o + 4) * 0x1_0000_0000 : u32(b, o) * 0x1_0000_0000 + u32(b, o + 4));
    const seen = new Set<number>();
    let total: number | null = null;
    let end = st.size;
    const tail = Buffer.alloc(4);
    for (let n = 0; n < MAX_BLOCKS && end >= 28; n++) {
      if (readSync(fd, tail, 0, 4, end - 4) !== 4) break;
      const len = u32(tail, 0);
      if (len < 24 || len > MAX_ISB || len % 4 !== 0 || len > end) break;
      const block = Buffer.alloc(len);
      if (readSync(fd, block, 0, len, end - len) !== len || u32(block, 0) !== ISB || u32(block, 4) !== len) break;
      end -= len;
      // Walking backwards, the first block met of an interface is its last: its totals.
      const iface = u32(block, 8);
      if (seen.has(iface)) continue;
      seen.add(iface);
      for (let p = 20; p + 4 <= len - 4; ) {
        const code = le ? block.readUInt16LE(p) : block.readUInt16BE(p);
        const olen = le ? block.readUInt16LE(p + 2) : block.readUInt16BE(p + 2);
        if (code === 0 || p + 4 + olen > len - 4) break;
        if ((code === IFDROP || code === OSDROP) && olen >= 8) total = (total ?? 0) + u64(block, p + 4);
        p += 4 + olen + ((4 - (olen % 4)) % 4);
      }
    }
    return total;
  } catch {
    return null;
  } finally {
    closeSync(fd);
  }
}
