/** Packet printers: tcpdump-like text lines and NDJSON objects over the decoded view. */
export { TextPrinter } from './text.js';
export { JsonPrinter } from './json.js';
export { tcpOptionName, toaText } from './tcp.js';
export { icmpTypeName } from './icmp.js';
export { sllPktTypeName } from './link.js';
