import { createRequire } from 'node:module';

/** gracevisor's version, read from package.json once. */
export const VERSION: string = (createRequire(import.meta.url)('../package.json') as { version: string }).version;
