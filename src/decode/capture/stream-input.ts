/**
 * Captures that can be read only once: standard input (`-`), a FIFO, a pipe from process
 * substitution (`<(zcat …)`, a /dev/fd/N path), a socket. `verify` reads every capture more
 * than once — pass 1 samples its head (correlate/prepare.ts, possibly in widening stages), pass
 * 2 reads all of it — so for such an input the bytes read while it is sampled are kept, and
 * every opening reads the kept head first, then the rest of the same stream. Once the last
 * pass begins (`lastPass`), the kept bytes are let go as that reading passes them, and nothing
 * more is kept: memory is the head the sample needed, then flat.
 *
 * The inputs a run reads this way are registered by path (`keepStreamHeads`) for the run's
 * duration; CaptureReader.open reads a registered path through its StreamInput, so the readers
 * of pass 1 and pass 2 need not know where their bytes come from.
 */
import { statSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { InputError } from '../../errors.js';
import { CaptureError } from './errors.js';

/**
 * Most bytes kept of one input's head while pass 1 samples it. A sample is a bounded number of
 * records of the service, but a stream mostly of other traffic holds them far apart: past this,
 * the run stops with an error that says to give the capture as a file.
 */
export const MAX_KEPT_HEAD = 256 * 1024 * 1024;

/** Bytes asked of a FIFO per read (a pipe's buffer holds 64 KiB). */
const FIFO_READ = 64 * 1024;

const EMPTY = Buffer.alloc(0);

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** Whether `path` names an input that cannot be read twice: `-`, a FIFO, a socket or a
 *  character device (a terminal, /dev/stdin on a pipe resolves to the FIFO itself). */
export function isOneShot(path: string): boolean {
  if (path === '-') return true;
  try {
    const st = statSync(path);
    return st.isFIFO() || st.isSocket() || st.isCharacterDevice();
  } catch {
    // A missing file is reported by the reader that opens it.
    return false;
  }
}

/** The bytes of a FIFO (or any path opened once), in fresh buffers: they may be kept. */
async function* fifoBytes(path: string): AsyncGenerator<Buffer> {
  let fh;
  try {
    fh = await open(path, 'r');
  } catch (e) {
    throw new CaptureError(path, 0, `cannot open: ${errorText(e)}`);
  }
  try {
    for (;;) {
      const b = Buffer.allocUnsafe(FIFO_READ);
      const n = (await fh.read(b, 0, FIFO_READ, null)).bytesRead;
      if (n === 0) return;
      yield b.subarray(0, n);
    }
  } finally {
    await fh.close();
  }
}

/** Standard input as buffers (a string chunk would mean an encoding was set on it elsewhere). */
async function* stdinBytes(): AsyncGenerator<Buffer> {
  for await (const b of process.stdin as AsyncIterable<Buffer | string>) yield typeof b === 'string' ? Buffer.from(b) : b;
}

/** One input read once from its source and as often as asked from its kept head. */
export class StreamInput {
  /** Chunks read so far and not let go (all of them until lastPass). */
  private kept: Buffer[] = [];
  private keptBytes = 0;
  private keeping = true;
  private ended = false;
  private failure: CaptureError | null = null;
  /** The read from the source in flight: one at a time, whoever asked for it. */
  private inflight: Promise<void> | null = null;
  private readonly source: AsyncIterator<Buffer>;

  constructor(
    readonly name: string,
    source: AsyncIterable<Buffer>,
  ) {
    this.source = source[Symbol.asyncIterator]();
  }

  /** From now on the kept bytes are let go as they are read, and nothing more is kept. Only
   *  one reading may follow (pass 2 reads each capture once). */
  lastPass(): void {
    this.keeping = false;
  }

  /** Bytes read from the source and kept, for the tests and the bound. */
  get keptSize(): number {
    return this.keptBytes;
  }

  private more(): Promise<void> {
    this.inflight ??= (async (): Promise<void> => {
      try {
        const r = await this.source.next();
        if (r.done) {
          this.ended = true;
          return;
        }
        if (this.keeping && this.keptBytes + r.value.length > MAX_KEPT_HEAD) {
          throw new CaptureError(
            this.name,
            this.keptBytes,
            `the sample of pass 1 needs more than ${MAX_KEPT_HEAD >> 20} MiB of this stream kept (few packets of the service in it): give the capture as a file`,
          );
        }
        this.kept.push(r.value);
        this.keptBytes += r.value.length;
      } catch (e) {
        this.ended = true;
        this.failure = e instanceof CaptureError ? e : new CaptureError(this.name, this.keptBytes, `read error: ${errorText(e)}`);
      } finally {
        this.inflight = null;
      }
    })();
    return this.inflight;
  }

  /** The input from its first byte: the kept head, then the rest of the stream. */
  async *bytes(): AsyncGenerator<Buffer> {
    let i = 0;
    for (;;) {
      if (i < this.kept.length) {
        const b = this.kept[i]!;
        if (!this.keeping) {
          this.kept[i] = EMPTY;
          this.keptBytes -= b.length;
        }
        i++;
        yield b;
        continue;
      }
      if (this.ended) {
        if (this.failure !== null) throw this.failure;
        return;
      }
      if (!this.keeping && i > 0) {
        // Every kept chunk has been read on and let go: start the list over.
        this.kept = [];
        i = 0;
      }
      await this.more();
    }
  }
}

/** The inputs of a run that can be read only once, by path, for the run's duration. */
const registered = new Map<string, StreamInput>();

/** The registered StreamInput of `path`, if it is one (CaptureReader.open asks). */
export function streamInputOf(path: string): StreamInput | undefined {
  return registered.get(path);
}

/** A run's one-shot inputs: `lastPass` before its last reading, `release` when it is done. */
export class KeptStreams {
  constructor(readonly inputs: readonly StreamInput[]) {}

  get size(): number {
    return this.inputs.length;
  }

  lastPass(): void {
    for (const s of this.inputs) s.lastPass();
  }

  release(): void {
    for (const s of this.inputs) if (registered.get(s.name) === s) registered.delete(s.name);
  }
}

/**
 * The one-shot inputs among `paths` (isOneShot), each once; InputError (a usage error) when one
 * is given twice: `-` twice, or one FIFO twice, would have two readers take turns at one stream.
 */
export function oneShotInputs(paths: readonly string[]): string[] {
  const seen = new Set<string>();
  for (const p of paths) {
    if (!isOneShot(p)) continue;
    if (seen.has(p)) {
      throw new InputError(p === '-' ? "'-' (standard input) is given twice: only one capture can be read from standard input" : `${p}: given twice, and it is a stream that can be read only once`);
    }
    seen.add(p);
  }
  return [...seen];
}

/**
 * Registers every one-shot input among `paths` (isOneShot) so that each can be opened several
 * times (see the header). A path may be given once (oneShotInputs).
 */
export function keepStreamHeads(paths: readonly string[]): KeptStreams {
  const inputs: StreamInput[] = [];
  for (const p of oneShotInputs(paths)) {
    const s = new StreamInput(p, p === '-' ? stdinBytes() : fifoBytes(p));
    registerStreamInput(s);
    inputs.push(s);
  }
  return new KeptStreams(inputs);
}

/** Makes CaptureReader.open read `s.name` through `s` (keepStreamHeads; tests with a source of
 *  their own); returns what undoes it. */
export function registerStreamInput(s: StreamInput): () => void {
  if (registered.has(s.name)) throw new InputError(`${s.name}: already being read by another run in this process`);
  registered.set(s.name, s);
  return () => {
    if (registered.get(s.name) === s) registered.delete(s.name);
  };
}
