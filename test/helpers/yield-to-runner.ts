/**
 * Lets the test worker read the runner's replies between tests.
 *
 * The worker reports progress to the runner over RPC and gives up on a reply after 60 s (a
 * limit vitest does not expose). Tests in one file run back to back without the event loop
 * reaching its poll phase, so a file of synchronous tests (spawnSync over a corpus, large
 * decodes) that together outlast 60 s on a loaded CI machine leaves the reply unread and the
 * run fails with "Timeout calling onTaskUpdate" though every test passed. A timer turn then an
 * immediate puts one poll phase between every two tests.
 */
import { beforeEach } from 'vitest';

beforeEach(async () => {
  await new Promise<void>((resolve) => setTimeout(resolve, 0));
  await new Promise<void>((resolve) => setImmediate(resolve));
});
