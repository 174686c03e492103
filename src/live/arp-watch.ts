/**
 * `lvsaudit arp --watch`: runs the watcher engine (src/verify/arp/watch) over a live interface
 * (libpcap through the optional `cap` binding; receive only, nothing is ever sent), a capture
 * file replayed, or a capture file followed while another program writes it (`--follow`).
 * Prints one line per event, keeps the station table in a state file, the events' frames in an
 * evidence ring; SIGINT/SIGTERM stop it (state flushed), SIGHUP reopens the event log.
 */
import { closeSync, openSync, readSync, fstatSync, writeSync } from 'node:fs';
import { CaptureError, CaptureParser, type CaptureWarning } from '../decode/capture/index.js';
import { loadCap, interfaceMac } from '../decode/capture/cap-port.js';
import { Decoder } from '../decode/decoder.js';
import { frameTimeNs, LinkType, type Frame } from '../decode/frame.js';
import type { Packet } from '../decode/packet.js';
import { forEachPacket } from '../decode/stream.js';
import { EnvironmentError, InputError } from '../errors.js';
import { fillArpRecord, fillNdpRecord, mergeCopies, newArpRecord, byTime, type ArpRecord } from '../verify/arp/records.js';
import { ArpWatcher } from '../verify/arp/watch/detector.js';
import { eventJson, eventText } from '../verify/arp/watch/format.js';
import { loadState, saveState, stateJson } from '../verify/arp/watch/state.js';
import { ERROR_EVENTS, type WatchEvent, type WatchEventKind } from '../verify/arp/watch/types.js';
import { EvidenceRing } from './evidence-ring.js';

export interface ArpWatchOptions {
  /** Live capture on this interface. */
  iface?: string;
  /** Captures to replay, as [file, point]; with `follow`, exactly one. */
  files?: ReadonlyArray<readonly [string, string]>;
  follow?: boolean;
  vips: readonly string[];
  directorMacs: readonly string[];
  realServers: readonly string[];
  state?: string;
  evidence?: string;
  evidenceBytes?: number;
  maxStations?: number;
  /** Stop after this many seconds (live and follow). */
  durationSec?: number;
  format: 'text' | 'json';
  /** Event log file (appended; reopened on SIGHUP); default stdout. */
  output?: string;
  /** Seconds between state-file writes while running (default 30). */
  stateIntervalSec?: number;
  /** Poll period of --follow at the end of the file (default 200 ms). */
  followPollMs?: number;
  /** Called once capture has started (tests wait for it). */
  onStarted?: () => void;
}

export interface ArpWatchSummary {
  records: number;
  events: Record<WatchEventKind, number>;
  errorEvents: number;
  stations: number;
  dropped: number;
}

/** Where event lines go: stdout, or a file appended to and reopened on SIGHUP. */
class EventLog {
  private fd: number | null = null;
  constructor(
    private readonly file: string | undefined,
    private readonly format: 'text' | 'json',
  ) {
    this.reopen();
  }

  reopen(): void {
    if (this.file === undefined) return;
    if (this.fd !== null) closeSync(this.fd);
    try {
      this.fd = openSync(this.file, 'a');
    } catch (e) {
      throw new InputError(`--output ${this.file}: cannot open: ${(e as Error).message}`);
    }
  }

  write(e: WatchEvent): void {
    const line = this.format === 'json' ? eventJson(e) : eventText(e);
    if (this.fd === null) process.stdout.write(line);
    else writeSync(this.fd, line);
  }

  close(): void {
    if (this.fd !== null) closeSync(this.fd);
    this.fd = null;
  }
}

/** Stops the run on SIGINT/SIGTERM or when the duration is over; SIGHUP calls `onHup`. */
class RunControl {
  stopped = false;
  private wake: (() => void) | null = null;
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly handlers: Array<[NodeJS.Signals, () => void]> = [];

  constructor(durationSec: number | undefined, onHup: () => void) {
    const stop = (): void => this.stop();
    this.handlers.push(['SIGINT', stop], ['SIGTERM', stop], ['SIGHUP', onHup]);
    for (const [sig, h] of this.handlers) process.on(sig, h);
    if (durationSec !== undefined) this.timers.push(setTimeout(stop, durationSec * 1000));
  }

  every(ms: number, fn: () => void): void {
    this.timers.push(setInterval(fn, ms));
  }

  stop(): void {
    this.stopped = true;
    this.wake?.();
  }

  /** Resolves after `ms`, or at once when stopped. */
  sleep(ms: number): Promise<void> {
    if (this.stopped) return Promise.resolve();
    return new Promise((resolve) => {
      const t = setTimeout(done, ms);
      const self = this;
      function done(): void {
        clearTimeout(t);
        self.wake = null;
        resolve();
      }
      this.wake = done;
    });
  }

  /** Resolves when stopped. */
  async untilStopped(): Promise<void> {
    while (!this.stopped) await this.sleep(60_000);
  }

  dispose(): void {
    for (const t of this.timers) clearTimeout(t);
    for (const [sig, h] of this.handlers) process.off(sig, h);
  }
}

/**
 * Feeds ARP packets from the reused Packet view to the watcher: one record object is reused,
 * so a packet costs no allocation unless it causes an event.
 */
class Feeder {
  private readonly rec = newArpRecord();
  private seq = 0;

  constructor(
    private readonly watcher: ArpWatcher,
    private readonly emit: (events: readonly WatchEvent[]) => void,
  ) {}

  packet(p: Packet, point: string): void {
    const r = recordOf(this.rec, p, point, this.seq, this.watcher);
    if (r === null) return;
    this.seq++;
    const events = this.watcher.observe(r, p.buf, p.off, p.end - p.off, p.linkType);
    if (events.length > 0) this.emit(events);
  }
}

/** An ARP packet, or a neighbor solicitation / advertisement, as a record in `r`; else null. */
function recordOf(r: ArpRecord, p: Packet, point: string, seq: number, watcher: ArpWatcher): ArpRecord | null {
  if (p.arp.present) return p.arp.isEthIpv4 ? fillArpRecord(r, p, point, frameTimeNs(p), seq) : null;
  return p.net.icmp.ndTargetOff >= 0 ? fillNdpRecord(r, p, point, frameTimeNs(p), seq, watcher.addrs) : null;
}

function captureError(e: unknown): never {
  if (e instanceof CaptureError) throw new InputError(e.message);
  throw e;
}

const warn = (w: CaptureWarning): void => {
  process.stderr.write(`lvsaudit: warning: ${w.file}: offset ${w.offset}: ${w.message}\n`);
};

/** Several captures of one segment: their ARP packets merged in time, one packet seen at
 *  several points counted once (ARP is rare: the records and their bytes fit in memory). */
async function replayMerged(files: ReadonlyArray<readonly [string, string]>, watcher: ArpWatcher, emit: (events: readonly WatchEvent[]) => void): Promise<void> {
  const recs: ArpRecord[] = [];
  const bytes = new Map<ArpRecord, { b: Buffer; linkType: number }>();
  let seq = 0;
  for (const [file, point] of files) {
    try {
      await forEachPacket(
        file,
        (p) => {
          const r = recordOf(newArpRecord(), p, point, seq, watcher);
          if (r === null) return;
          seq++;
          recs.push(r);
          bytes.set(r, { b: Buffer.from(p.buf.subarray(p.off, p.end)), linkType: p.linkType });
        },
        { onWarning: warn },
      );
    } catch (e) {
      captureError(e);
    }
  }
  for (const r of mergeCopies(recs.sort(byTime))) {
    const f = bytes.get(r)!;
    const events = watcher.observe(r, f.b, 0, f.b.length, f.linkType);
    if (events.length > 0) emit(events);
  }
}

/** Reads `file` as it grows (tcpdump -w still writing), until stopped. */
async function follow(file: string, point: string, feeder: Feeder, ctl: RunControl, pollMs: number, onStarted?: () => void): Promise<void> {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (e) {
    throw new InputError(`${file}: cannot open: ${(e as Error).message}`);
  }
  const decoder = new Decoder();
  const parser = new CaptureParser(file, (f: Frame) => feeder.packet(decoder.decode(f), point), { onWarning: warn });
  const chunk = Buffer.allocUnsafe(1024 * 1024);
  let pos = 0;
  onStarted?.();
  try {
    while (!ctl.stopped) {
      const n = readSync(fd, chunk, 0, chunk.length, pos);
      if (n > 0) {
        if (pos === 0 && chunk[0] === 0x1f && chunk[1] === 0x8b) throw new InputError(`${file}: offset 0: gzip cannot be followed (read it without --follow)`);
        pos += n;
        try {
          parser.push(chunk.subarray(0, n));
        } catch (e) {
          captureError(e);
        }
        continue;
      }
      if (fstatSync(fd).size < pos) throw new InputError(`${file}: offset ${pos}: the file shrank while followed (truncated or rotated)`);
      await ctl.sleep(pollMs);
    }
  } finally {
    closeSync(fd);
  }
}

/** Handles kept referenced after close: node-cap's poll may still write into them (see cap-port.ts). */
const retired: unknown[] = [];

/** Live capture on `iface`, until stopped. Receive only. */
async function live(iface: string, feeder: Feeder, watcher: ArpWatcher, emit: (events: readonly WatchEvent[]) => void, ctl: RunControl, onStarted?: () => void): Promise<void> {
  interfaceMac(iface);
  const { Cap } = await loadCap('arp --watch --iface');
  const cap = new Cap();
  const buf = Buffer.alloc(65535);
  let link: string;
  try {
    link = cap.open(iface, 'arp or (vlan and arp)', 4 * 1024 * 1024, buf);
    cap.setMinBytes?.(0);
  } catch (e) {
    throw new EnvironmentError(`arp --watch: cannot capture on ${iface} (${(e as Error).message}); needs root or CAP_NET_RAW`);
  }
  retired.push(cap, buf);
  try {
    if (link !== 'ETHERNET') throw new EnvironmentError(`arp --watch: ${iface} is not an Ethernet interface (${link})`);
    const decoder = new Decoder();
    // One frame object for every packet; libpcap through `cap` gives no timestamp, so the
    // wall clock at delivery stands in (immediate mode: delivery follows arrival closely).
    const frame: Frame = { capture: iface, frame: 0, buf, off: 0, caplen: 0, len: 0, tsSec: 0, tsNsec: 0, linkType: LinkType.ETHERNET, interfaceId: 0, direction: null, comment: null, fileOffset: 0 };
    cap.on('packet', (nbytes: number) => {
      if (ctl.stopped) return;
      const ms = performance.timeOrigin + performance.now();
      frame.frame++;
      frame.caplen = frame.len = nbytes;
      frame.tsSec = Math.floor(ms / 1000);
      frame.tsNsec = Math.min(999_999_999, Math.round((ms - frame.tsSec * 1000) * 1e6));
      feeder.packet(decoder.decode(frame), 'live');
    });
    ctl.every(200, () => {
      const events = watcher.tick((performance.timeOrigin + performance.now()) * 1e6);
      if (events.length > 0) emit(events);
    });
    onStarted?.();
    await ctl.untilStopped();
  } finally {
    cap.close();
  }
}

/** Runs the watcher until the input ends (replay) or it is stopped; returns what it saw. */
export async function runArpWatch(opts: ArpWatchOptions): Promise<ArpWatchSummary> {
  const watcher = new ArpWatcher({ vips: opts.vips, directorMacs: opts.directorMacs, realServers: opts.realServers, maxStations: opts.maxStations });
  if (opts.state !== undefined) {
    const prev = loadState(opts.state, watcher.addrs);
    if (prev !== null) watcher.restore(prev.stations, prev.dropped);
  }
  const flushState = (): void => {
    if (opts.state !== undefined) saveState(opts.state, stateJson(watcher.stations.values(), watcher.dropped, Date.now(), watcher.addrs));
  };
  // Written once at the start too: a state file that cannot be written is found now, not after
  // hours of watching.
  flushState();
  const log = new EventLog(opts.output, opts.format);
  const ring = opts.evidence !== undefined ? new EvidenceRing(opts.evidence, opts.evidenceBytes) : null;
  let errorEvents = 0;
  const emit = (events: readonly WatchEvent[]): void => {
    for (const e of events) {
      if (ERROR_EVENTS.has(e.kind)) errorEvents++;
      log.write(e);
      ring?.write(e);
    }
  };
  const ctl = new RunControl(opts.durationSec, () => log.reopen());
  const feeder = new Feeder(watcher, emit);
  try {
    ctl.every((opts.stateIntervalSec ?? 30) * 1000, flushState);
    if (opts.iface !== undefined) await live(opts.iface, feeder, watcher, emit, ctl, opts.onStarted);
    else {
      const files = opts.files ?? [];
      if (files.length === 0) throw new InputError('arp --watch needs --iface IF or --file FILE');
      if (opts.follow) {
        if (files.length !== 1) throw new InputError('arp --watch --follow reads exactly one --file');
        await follow(files[0]![0], files[0]![1], feeder, ctl, opts.followPollMs ?? 200, opts.onStarted);
      } else if (files.length === 1) {
        opts.onStarted?.();
        const [file, point] = files[0]!;
        try {
          await forEachPacket(file, (p) => feeder.packet(p, point), { onWarning: warn });
        } catch (e) {
          captureError(e);
        }
      } else {
        opts.onStarted?.();
        await replayMerged(files, watcher, emit);
      }
    }
  } finally {
    ctl.dispose();
    try {
      flushState();
    } finally {
      log.close();
    }
  }
  return { records: watcher.records, events: { ...watcher.counts }, errorEvents, stations: watcher.stations.size, dropped: watcher.dropped };
}
