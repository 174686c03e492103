/**
 * A capture reader of the feeder thread (./feeder.ts): like PointReader, but what
 * it queues for each kept packet is a packed entry (./record-wire.ts), written straight
 * from the decoded packet, instead of a PacketRecord object that would only be packed again.
 * The merge (../read/stream.ts mergeQueues) copies the head entry into the outgoing batch.
 */
import type { Packet } from '../../decode/packet.js';
import { Entries, keepsEntry, packPacket, type EntryKeep, type RecordPacker, type WireStrings } from './record-wire.js';
import { PointReader, type ReaderOptions } from '../read/stream.js';

/** Entries a queue starts with room for: a 32 KiB slice of small packets. */
const QUEUE_START = 512;

export class PackingReader extends PointReader {
  private readonly entries = new Entries(QUEUE_START);
  private readonly captureId: number;

  constructor(
    file: string,
    point: number,
    /** `keep`, `pool` and `share` are not read: the entry filter is `entryKeep`. */
    opts: ReaderOptions,
    private readonly strings: WireStrings,
    private readonly entryKeep: EntryKeep | null,
  ) {
    super(file, point, opts);
    this.captureId = strings.table.of(file);
  }

  protected override queuePacket(p: Packet): void {
    const n = this.qn;
    // The queue starts over only once drained: the option bytes of its earlier entries have
    // been copied into batches.
    if (n === 0) this.entries.optsLen = 0;
    if (!packPacket(p, this.point, this.opts.tcpOptions !== false, this.entries, n, this.strings, this.captureId)) return;
    if (this.entryKeep !== null && !keepsEntry(this.entries, n, this.strings.table.list, this.entryKeep)) return;
    this.queueT[n] = this.mergeFloor;
    this.qn = n + 1;
  }

  /** Copies the head entry into `packer`'s batch and drops it from the queue. */
  takeInto(packer: RecordPacker): void {
    packer.add(this.entries, this.qi);
    this.advance();
  }
}
