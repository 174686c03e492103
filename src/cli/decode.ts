/**
 * `lvsaudit decode [--json | --summary] [--[no-]reassemble] [--toa-kind K[,K]] [-c COUNT] [FILTER] CAPTURE...`
 *
 * Argument rule (FILTER vs CAPTURE): the last argument is always a capture; going backwards
 * from it, every argument that is `-`, an existing file, or a name ending in .pcap, .pcapng,
 * .cap, .dmp or .gz is a capture too; the arguments before those form the FILTER (joined by
 * spaces). `--filter EXPR` gives the filter explicitly, and then every argument is a capture.
 */
import { fstatSync, statSync, writeSync } from 'node:fs';
import type { Command } from 'commander';
import { CaptureError, oneShotInputs, type CaptureWarning } from '../decode/capture/index.js';
import { FilterError, compileFilter, type PacketPredicate } from '../decode/filter.js';
import type { JsonPrinter } from '../decode/print/json.js';
import { ByteSink } from '../decode/print/sink.js';
import type { TextPrinter } from '../decode/print/text.js';
import { forEachPacket } from '../decode/stream.js';
import { summarizeParallel } from '../decode/parallel/index.js';
import { DecodeSummary, formatSummary } from '../decode/summary.js';
import type { Packet } from '../decode/packet.js';
import { InputError } from '../errors.js';
import { DEFAULT_REASSEMBLY_LIMITS, Reassembler, type Reassembled } from '../decode/reassembly/reassembler.js';
import { reassembledText, reportJson, reportText } from '../decode/print/reassembly.js';
import { collectGuePort, parseToaKinds } from './options.js';
import { clearProgressLine, ProgressLine } from './progress.js';
import type { CommandRegistrar } from './registrar.js';

const CAPTURE_NAME = /\.(pcap|pcapng|cap|dmp|gz)$/i;

function isFile(p: string): boolean {
  try {
    return statSync(p).isFile() || statSync(p).isFIFO();
  } catch {
    return false;
  }
}

/** Splits positional arguments into FILTER text and capture paths (rule in the header comment). */
export function splitDecodeArgs(args: readonly string[], exists: (p: string) => boolean = isFile): { filter: string; captures: string[] } {
  if (args.length === 0) return { filter: '', captures: [] };
  let i = args.length - 1;
  while (i > 0) {
    const a = args[i - 1]!;
    if (a === '-' || CAPTURE_NAME.test(a) || exists(a)) i--;
    else break;
  }
  return { filter: args.slice(0, i).join(' '), captures: args.slice(i) };
}

function parseCount(text: string): number {
  if (!/^\d+$/.test(text) || Number(text) < 1) throw new InputError(`-c: '${text}' is not a positive packet count`);
  return Number(text);
}

export interface DecodeOptions {
  json?: boolean;
  summary?: boolean;
  toaKind?: number[];
  guePort?: number[];
  count?: number;
  filter?: string;
  /** Reassemble IP fragments for display; default: on with --json, off for text. */
  reassemble?: boolean;
  quiet?: boolean;
}

/**
 * Output in large buffers (ByteSink). A file or /dev/null takes blocking writes. A pipe or a
 * terminal is written through the stream, which queues what the reader has not taken yet:
 * `pace` then holds the capture read back until the queue drains, so a slow reader (`| jq`,
 * `| less`) slows the run instead of the output piling up in memory. A closed pipe (`| head`)
 * stops the read.
 */
class Output {
  closed = false;
  /** The stream's queue is over its high-water mark: the read waits for 'drain'. */
  private full = false;
  private drained: Promise<void> | null = null;
  readonly sink: ByteSink;
  constructor(private readonly stream: NodeJS.WriteStream) {
    stream.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'EPIPE') this.closed = true;
      else throw e;
    });
    if (stdoutIsFile()) {
      // Files and /dev/null take blocking writes: write straight to fd 1 and reuse one buffer.
      this.sink = new ByteSink((b) => writeAll(1, b), 1 << 18, true);
    } else {
      this.sink = new ByteSink((b) => {
        if (!this.closed && !stream.write(b)) this.full = true;
      });
    }
  }
  line(s: string): void {
    this.sink.utf8(s);
    this.sink.byte(10);
  }
  flush(): void {
    this.sink.flush();
  }
  /** ReadOptions.pace: null while the stream takes more, else the moment it has drained (or
   *  closed: a closed pipe never drains). */
  readonly pace = (): Promise<void> | null => {
    if (!this.full || this.closed) return null;
    this.drained ??= new Promise<void>((resolve) => {
      const go = (): void => {
        this.stream.off('drain', go);
        this.stream.off('close', go);
        this.stream.off('error', go);
        this.full = false;
        this.drained = null;
        resolve();
      };
      this.stream.on('drain', go);
      this.stream.on('close', go);
      this.stream.on('error', go);
    });
    return this.drained;
  };
}

function stdoutIsFile(): boolean {
  try {
    const st = fstatSync(1);
    return st.isFile() || (st.isCharacterDevice() && !process.stdout.isTTY);
  } catch {
    return false;
  }
}

function writeAll(fd: number, b: Buffer): void {
  for (let off = 0; off < b.length; ) off += writeSync(fd, b, off, b.length - off);
}

function compile(filter: string): PacketPredicate | null {
  if (filter.trim() === '') return null;
  try {
    return compileFilter(filter);
  } catch (e) {
    if (e instanceof FilterError) throw new InputError(`filter '${filter}': ${e.message}`);
    throw e;
  }
}

/** Runs decode over the captures; resolves to the exit code (always 0: decode has no findings). */
export async function runDecode(captures: readonly string[], opts: DecodeOptions): Promise<number> {
  if (captures.length === 0) throw new InputError('decode: no CAPTURE given');
  // A second '-' would read an exhausted standard input.
  oneShotInputs(captures);
  const match = compile(opts.filter ?? '');
  const limit = opts.count ?? Infinity;
  const out = new Output(process.stdout);
  const summary = opts.summary ? new DecodeSummary() : null;
  // The printers are loaded only when they print: --summary starts that much sooner.
  const text: TextPrinter | null = !opts.json && !opts.summary ? new (await import('../decode/print/text.js')).TextPrinter() : null;
  const json: JsonPrinter | null = opts.json && !opts.summary ? new (await import('../decode/print/json.js')).JsonPrinter() : null;
  const decode = { ...(opts.toaKind ? { toaKinds: opts.toaKind } : {}), ...(opts.guePort ? { guePorts: opts.guePort } : {}) };
  // --summary counts frames as captured; reassembly only adds to what a frame prints.
  const reasm = summary === null && (opts.reassemble ?? opts.json === true) ? new Reassembler(DEFAULT_REASSEMBLY_LIMITS, decode) : null;
  let shown = 0;
  const onWarning = (w: CaptureWarning): void => {
    clearProgressLine();
    process.stderr.write(`lvsaudit: warning: ${w.file}: offset ${w.offset}: ${w.message}\n`);
    summary?.warning(w);
  };
  const onPacket = (p: Packet): boolean => {
    // Every frame goes to the reassembler, shown or not: a filter picks frames, not fragments.
    const datagram: Reassembled | null = reasm !== null ? reasm.offer(p) : null;
    if (match !== null && !match(p)) return !out.closed;
    shown++;
    if (summary !== null) summary.add(p);
    else if (json !== null) json.write(p, out.sink, datagram);
    else out.line(datagram === null ? text!.format(p) : text!.format(p) + reassembledText(datagram));
    return shown < limit && !out.closed;
  };
  // Packets printed to the terminal would write over the line: then only --summary shows it.
  const progress = ProgressLine.start({ quiet: opts.quiet === true, allowed: summary !== null || process.stdout.isTTY !== true });
  for (const capture of captures) {
    if (shown >= limit || out.closed) break;
    reasm?.startCapture(capture);
    try {
      // --summary of a whole big classic pcap: split over threads when that provably gives
      // the serial answer (src/decode/parallel); otherwise, or on any doubt, the serial read.
      if (summary !== null && limit === Infinity) {
        const debug = process.env.LVSAUDIT_PARALLEL_DEBUG ? (l: string): void => void process.stderr.write(l + '\n') : undefined;
        const done = await summarizeParallel(capture, summary, { decode, filter: opts.filter ?? '', onWarning, ...(debug ? { debug } : {}) });
        if (done.parallel) continue;
      }
      await forEachPacket(capture, onPacket, { decode, onWarning, pace: out.pace });
    } catch (e) {
      progress?.stop();
      out.flush();
      if (e instanceof CaptureError) throw new InputError(e.message);
      throw e;
    }
    // Datagrams not reassembled, once the capture was read to its end (after -c they would
    // only be the ones the count cut).
    if (reasm !== null) {
      const reports = reasm.finish();
      if (shown < limit && !out.closed) {
        for (const r of reports) out.line(opts.json ? reportJson(r) : reportText(r, DEFAULT_REASSEMBLY_LIMITS.timeoutSec));
        if (reasm.omitted > 0) {
          out.line(opts.json
            ? JSON.stringify({ capture, reassembly: { result: 'omitted', count: reasm.omitted } })
            : `${capture}: reassembly: ${reasm.omitted} more datagrams not reassembled (reports past the first ${DEFAULT_REASSEMBLY_LIMITS.maxReports} not kept)`);
        }
      }
      reasm.omitted = 0;
    }
  }
  progress?.stop();
  out.flush();
  if (summary !== null) {
    const r = summary.report();
    if (opts.json) out.line(JSON.stringify(r));
    else out.line(formatSummary(r).trimEnd());
    out.flush();
    process.stderr.write(`lvsaudit: decoded ${r.frames} packets in ${r.seconds.toFixed(3)} s (${Math.round(r.packetsPerSecond)} packets/s)\n`);
  }
  if (process.env.LVSAUDIT_REPORT_RSS) {
    // Peak resident set for the benchmark when /usr/bin/time is not available (KiB on Linux).
    process.stderr.write(`lvsaudit: maxrss ${process.resourceUsage().maxRSS} KiB\n`);
  }
  return 0;
}

export const registerDecode: CommandRegistrar = (program: Command, setExit: (code: number) => void): void => {
  program
    .command('decode')
    .summary('print packets tcpdump-like, as NDJSON, or as protocol counts')
    .description(
      'Decode captures (pcap, pcapng, gzip of either, "-" for stdin).\n' +
        'Arguments: [FILTER] CAPTURE... — the last argument is a capture; going backwards, every argument that is "-",\n' +
        'an existing file or ends in .pcap/.pcapng/.cap/.dmp/.gz is a capture too; the arguments before form the FILTER.\n' +
        'FILTER: host/src host/dst host ADDR|NAME, net CIDR, [tcp|udp] [src|dst] port N|NAME, portrange N-M, ether [src|dst] MAC,\n' +
        'vlan [ID], ip, ip6, arp, tcp, udp, icmp, icmp6, [ip|ip6] protochain N, toa [host A|port N], tunnel, syn, fin, rst, ack, truncated,\n' +
        'malformed, badsum; and/&&, or/||, not/!, parentheses. Address and port primitives also match tunnelled packets\n' +
        'at any depth.',
    )
    .argument('<args...>', '[FILTER] CAPTURE...')
    .option('--json', 'NDJSON: one object per packet with every decoded field')
    .option('--summary', 'only counts per protocol and per problem (packets/s on stderr)')
    .option('--toa-kind <kinds>', 'TCP option kinds read as TOA, comma-separated (default 254,253)', parseToaKinds)
    .option('--gue-port <port>', 'UDP destination port carrying GUE (repeatable; default 6080)', collectGuePort)
    .option('-c, --count <n>', 'stop after COUNT matching packets', parseCount)
    .option('--filter <expr>', 'the FILTER, given explicitly (then every argument is a capture)')
    .option('--reassemble', 'IP fragments: show the reassembled datagram\'s transport on the frame that completes it (default with --json)')
    .option('--no-reassemble', 'do not reassemble IP fragments (--json)')
    .option('-q, --quiet', 'no progress line on a terminal')
    .action(async (args: string[], opts: DecodeOptions) => {
      const split = opts.filter !== undefined ? { filter: opts.filter, captures: args } : splitDecodeArgs(args);
      setExit(await runDecode(split.captures, { ...opts, filter: split.filter }));
    });
};
