/**
 * The progress line of long runs (`decode`, `verify`, `arp`): on stderr, only when stderr is a
 * terminal and never with --quiet; it appears once a run has taken about a second and is
 * cleared before anything else is written. Fed by the capture readers' per-chunk reports
 * (decode/capture/progress.ts), from this thread and, through a BroadcastChannel, from worker
 * threads. When the line is off nothing is hooked, so output is that of a run without it.
 *
 * Bytes are counted per file as far as its latest opening has read (verify reads a sample of
 * every capture, then reads them again: the count starts over with the second pass).
 */
import { statSync } from 'node:fs';
import { BroadcastChannel } from 'node:worker_threads';
import { PROGRESS_CHANNEL_ENV, setReadProgressHook, type ReadProgress } from '../decode/capture/progress.js';

/** A run shorter than this shows no line at all. */
const SHOW_AFTER_MS = 1000;
const REFRESH_MS = 250;

interface FileState {
  reader: string;
  bytes: number;
  frames: number;
  /** Size on disk (null: a stream, unknown). */
  size: number | null;
  /** Every reader that has reported on this file. */
  readers: Set<string>;
}

export interface ProgressOptions {
  quiet?: boolean;
  /** Where the line goes (tests); default process.stderr. */
  stream?: NodeJS.WriteStream;
  /** Extra condition (decode: stdout is not the same terminal). */
  allowed?: boolean;
}

function sizeOf(file: string): number | null {
  try {
    const st = statSync(file);
    return st.isFile() ? st.size : null;
  } catch {
    return null;
  }
}

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];

export function formatBytes(n: number): string {
  let i = 0;
  let v = n;
  while (v >= 1024 && i < UNITS.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 ? v.toFixed(0) : v.toFixed(1)} ${UNITS[i]}`;
}

function formatCount(n: number): string {
  return n >= 1e6 ? `${(n / 1e6).toFixed(1)} M` : n >= 1e4 ? `${(n / 1e3).toFixed(0)} k` : String(n);
}

function formatDuration(s: number): string {
  const t = Math.max(0, Math.round(s));
  const h = Math.floor(t / 3600);
  const m = Math.floor((t % 3600) / 60);
  const sec = t % 60;
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${String(sec).padStart(2, '0')}` : `${m}:${String(sec).padStart(2, '0')}`;
}

/** The line for a state: exported for tests. */
export function progressText(bytes: number, total: number | null, frames: number, bytesPerSec: number): string {
  const parts = [total !== null && total > 0 ? `${formatBytes(bytes)} of ${formatBytes(total)} (${Math.min(100, (100 * bytes) / total).toFixed(0)} %)` : formatBytes(bytes)];
  parts.push(`${formatCount(frames)} packets`);
  if (bytesPerSec > 0) parts.push(`${formatBytes(bytesPerSec)}/s`);
  if (total !== null && bytesPerSec > 0 && bytes < total) parts.push(`${formatDuration((total - bytes) / bytesPerSec)} left`);
  return `lvsaudit: reading ${parts.join(', ')}`;
}

/** The line on screen now, if any: what clearProgressLine clears. */
let current: ProgressLine | null = null;

/** Takes the line off the screen before another stderr line is written (it comes back at the next refresh). */
export function clearProgressLine(): void {
  current?.clear();
}

export class ProgressLine {
  private readonly files = new Map<string, FileState>();
  private readonly started = Date.now();
  private readonly timer: NodeJS.Timeout;
  private readonly channel: BroadcastChannel;
  /** Every byte read in this run, over every pass: the rate. */
  private readTotal = 0;
  private drawn = false;

  private constructor(private readonly out: NodeJS.WriteStream) {
    const name = `lvsaudit-progress-${process.pid}-${this.started}`;
    process.env[PROGRESS_CHANNEL_ENV] = name;
    this.channel = new BroadcastChannel(name);
    this.channel.onmessage = (e: unknown): void => this.update((e as { data: ReadProgress }).data);
    this.channel.unref();
    setReadProgressHook((p) => this.update(p));
    this.timer = setInterval(() => this.draw(), REFRESH_MS);
    this.timer.unref();
    current = this;
  }

  clear(): void {
    if (this.drawn) this.out.write('\r\x1b[K');
    this.drawn = false;
  }

  /** A progress line when it is wanted (stderr a terminal, not --quiet); else null, and nothing is hooked. */
  static start(o: ProgressOptions = {}): ProgressLine | null {
    const out = o.stream ?? process.stderr;
    if (o.quiet === true || o.allowed === false || out.isTTY !== true) return null;
    return new ProgressLine(out);
  }

  private update(p: ReadProgress): void {
    let f = this.files.get(p.file);
    if (f === undefined) {
      f = { reader: p.reader, bytes: 0, frames: 0, size: sizeOf(p.file), readers: new Set([p.reader]) };
      this.files.set(p.file, f);
    } else if (f.reader !== p.reader) {
      // A reader not seen before is a new opening of the file (the next pass): it takes over.
      // Reports of the readers it replaced (threads reading the same file) are not counted.
      if (f.readers.has(p.reader)) return;
      f.readers.add(p.reader);
      f.reader = p.reader;
      f.bytes = 0;
      f.frames = 0;
    }
    if (p.bytes > f.bytes) this.readTotal += p.bytes - f.bytes;
    f.bytes = p.bytes;
    f.frames = p.frames;
  }

  private draw(): void {
    const elapsed = Date.now() - this.started;
    if (elapsed < SHOW_AFTER_MS || this.files.size === 0) return;
    let bytes = 0;
    let frames = 0;
    let total: number | null = 0;
    for (const f of this.files.values()) {
      bytes += f.bytes;
      frames += f.frames;
      total = total === null || f.size === null ? null : total + f.size;
    }
    const rate = this.readTotal / (elapsed / 1000);
    const line = progressText(bytes, total, frames, rate);
    const width = this.out.columns ?? 100;
    this.out.write(`\r${line.length >= width ? line.slice(0, width - 1) : line}\x1b[K`);
    this.drawn = true;
  }

  /** Removes the line and every hook. */
  stop(): void {
    clearInterval(this.timer);
    setReadProgressHook(null);
    this.channel.close();
    delete process.env[PROGRESS_CHANNEL_ENV];
    if (current === this) current = null;
    this.clear();
  }
}

/** Runs `work` with a progress line (when wanted), cleared however the work ends. */
export async function withProgress<T>(o: ProgressOptions, work: () => Promise<T>): Promise<T> {
  const line = ProgressLine.start(o);
  try {
    return await work();
  } finally {
    line?.stop();
  }
}
