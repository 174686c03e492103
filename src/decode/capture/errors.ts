/**
 * Errors and warnings of the capture readers. A CaptureError ends the read (the input
 * cannot be trusted past that byte); a CaptureWarning is something the user should know
 * about while every complete frame was still delivered (a capture cut mid-write).
 */

export class CaptureError extends Error {
  readonly file: string;
  /** Byte offset in the (decompressed) capture where the problem starts. */
  readonly offset: number;
  /** What is wrong, without the file/offset prefix. */
  readonly detail: string;

  constructor(file: string, offset: number, detail: string) {
    // One line: the CLI prints the message as-is and corpus files can hold newlines in names.
    super(`${file}: offset ${offset}: ${detail}`.replace(/[\r\n]+/g, ' '));
    this.name = 'CaptureError';
    this.file = file;
    this.offset = offset;
    this.detail = detail;
  }
}

export type CaptureWarningCode = 'capture.truncated-file' | 'capture.malformed';

export interface CaptureWarning {
  file: string;
  offset: number;
  code: CaptureWarningCode;
  message: string;
}

/**
 * The words of the one `capture.truncated-file` warning for a file that ends inside a record,
 * from every reader of it (the serial parser, the byte ranges of decode --summary): `reason`
 * is what else cut the input (a gzip stream that ends early), if anything.
 */
export function cutRecordMessage(present: number, wanted: number, reason?: string): string {
  return `${reason ? `${reason}; ` : ''}capture ends inside a record: ${present} of ${wanted} bytes present`;
}
