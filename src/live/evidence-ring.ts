/**
 * `arp --watch --evidence DIR`: the frames of every event in a ring of pcapng files of bounded
 * total size. Each event is appended as its own pcapng section (header, one interface per link
 * type, its frames, each frame's comment saying which event it proves), so the current file is
 * readable after every event and nothing is held in memory between events. When the current
 * file is full the next one of the ring is started (overwriting the oldest).
 */
import { appendFileSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { PcapngWriter } from '../decode/capture/writer.js';
import { InputError } from '../errors.js';
import type { WatchEvent } from '../verify/arp/watch/types.js';

export const DEFAULT_EVIDENCE_BYTES = 64 * 1024 * 1024;
export const RING_FILES = 8;

export class EvidenceRing {
  private index = 0;
  private used = 0;
  readonly perFile: number;

  constructor(
    readonly dir: string,
    totalBytes = DEFAULT_EVIDENCE_BYTES,
  ) {
    this.perFile = Math.max(4096, Math.floor(totalBytes / RING_FILES));
    try {
      mkdirSync(dir, { recursive: true });
    } catch (e) {
      throw new InputError(`--evidence ${dir}: cannot create the directory: ${(e as Error).message}`);
    }
    // Continue the newest file of an earlier run rather than overwrite it.
    let newest = -1;
    let newestMs = -1;
    for (let i = 0; i < RING_FILES; i++) {
      try {
        const st = statSync(this.file(i));
        if (st.mtimeMs > newestMs) {
          newestMs = st.mtimeMs;
          newest = i;
          this.used = st.size;
        }
      } catch {
        /* not written yet */
      }
    }
    if (newest >= 0) this.index = newest;
  }

  file(i: number): string {
    return path.join(this.dir, `arp-watch-${i}.pcapng`);
  }

  get current(): string {
    return this.file(this.index);
  }

  /** Appends the event's frames; a full file moves the ring on. */
  write(e: WatchEvent): void {
    if (e.frames.length === 0) return;
    const w = new PcapngWriter();
    const ifaces = new Map<number, number>();
    for (const f of e.frames) {
      let id = ifaces.get(f.linkType);
      if (id === undefined) {
        id = w.addInterface({ name: f.capture, linkType: f.linkType });
        ifaces.set(f.linkType, id);
      }
      w.write(id, f.bytes, f.tsSec, f.tsNsec, { comment: `${e.kind} ${e.ip}: ${f.note} (${f.capture}#${f.frame})` });
    }
    const bytes = w.toBuffer();
    try {
      if (this.used > 0 && this.used + bytes.length > this.perFile) {
        this.index = (this.index + 1) % RING_FILES;
        writeFileSync(this.file(this.index), bytes);
        this.used = bytes.length;
      } else {
        appendFileSync(this.current, bytes);
        this.used += bytes.length;
      }
    } catch (err) {
      throw new InputError(`--evidence ${this.current}: cannot write: ${(err as Error).message}`);
    }
  }
}
