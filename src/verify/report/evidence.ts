/**
 * `--pcap-out`: a pcapng of every packet that is evidence for a finding, one interface per
 * capture point (and link type), each packet commented with the rules it proves — so the user
 * opens one file in Wireshark instead of hunting frames across captures.
 */
import { isOneShot, readCapture, PcapngWriter } from '../../decode/capture/index.js';
import { InputError } from '../../errors.js';
import type { Finding } from '../model/findings.js';

export async function writeEvidencePcapng(findings: readonly Finding[], outPath: string): Promise<number> {
  // capture → frame → comment lines and the point the capture belongs to
  const wanted = new Map<string, Map<number, { point: string; notes: Set<string> }>>();
  for (const f of findings) {
    for (const e of f.evidence) {
      if (e.frame <= 0) continue; // live findings cite no frame
      const frames = wanted.get(e.capture) ?? new Map<number, { point: string; notes: Set<string> }>();
      wanted.set(e.capture, frames);
      const entry = frames.get(e.frame) ?? { point: e.point, notes: new Set<string>() };
      entry.notes.add(`${f.rule} (${f.severity}): ${f.message}`);
      frames.set(e.frame, entry);
    }
  }
  // The evidence is read back from the captures by frame number: a stream has been read.
  const once = [...wanted.keys()].filter(isOneShot);
  if (once.length > 0) throw new InputError(`--pcap-out: ${once.join(', ')} can be read only once (standard input, a FIFO): give the capture as a file to write its evidence packets`);
  const writer = new PcapngWriter({ path: outPath });
  const ifaces = new Map<string, number>();
  let written = 0;
  for (const [capture, frames] of wanted) {
    const last = Math.max(...frames.keys());
    await readCapture(capture, (f) => {
      const entry = frames.get(f.frame);
      if (entry) {
        const key = `${entry.point}\u0000${f.linkType}`;
        let id = ifaces.get(key);
        if (id === undefined) {
          id = writer.addInterface({ name: entry.point, linkType: f.linkType });
          ifaces.set(key, id);
        }
        const comment = `${capture}#${f.frame} ${entry.point}\n${[...entry.notes].join('\n')}`;
        writer.write(id, f.buf.subarray(f.off, f.off + f.caplen), f.tsSec, f.tsNsec, {
          origLen: f.len,
          comment,
          ...(f.direction ? { direction: f.direction } : {}),
        });
        written++;
      }
      // A pipe's reader that has gone wants no more: the rest of the reading is skipped.
      return f.frame < last && !writer.readerGone;
    });
  }
  writer.close();
  return written;
}
