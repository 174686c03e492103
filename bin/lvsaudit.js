#!/usr/bin/env node
// Thin launcher: the CLI lives in dist/ (compiled from src/ by `npm install` / `npm run build`).
import { main } from '../dist/cli/main.js';

// `lvsaudit decode big.pcap | head` closes the pipe early: that ends the run quietly, as in tcpdump.
process.stdout.on('error', (err) => {
  if (err.code === 'EPIPE') process.exit(0);
  throw err;
});

process.exitCode = await main(process.argv.slice(2));
