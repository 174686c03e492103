/** `npx vite-node test/arp/write-fixtures.ts`: regenerates fixtures/arp/*.pcap. */
import { writeFixtures } from './fixture-gen.js';

for (const f of writeFixtures()) console.log(`wrote ${f}`);
