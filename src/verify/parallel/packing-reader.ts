/**
 * A capture reader of the feeder thread (./feeder.ts): a PointReader whose head entry the merge
 * copies into the outgoing batch as it is, packed (./record-wire.ts RecordPacker), instead of
 * reading it into a record that would only be packed again.
 */
import type { RecordPacker } from './record-wire.js';
import { PointReader } from '../read/stream.js';

export class PackingReader extends PointReader {
  /** Copies the head entry into `packer`'s batch and drops it from the queue. */
  takeInto(packer: RecordPacker): void {
    packer.add(this.entries, this.qi);
    this.advance();
  }
}
