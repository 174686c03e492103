import { PACKAGE } from './package-root.js';

/** The package version, from package.json so there is one place to bump it. */
export const VERSION: string = PACKAGE.version;
