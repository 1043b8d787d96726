#!/usr/bin/env node
// `gpum`, the GPU Market command line. Runs the TypeScript sources directly through tsx (a dependency),
// so there is no build step to remember and nothing is downloaded: `npm ci` links this file as
// node_modules/.bin/gpum and `npx gpum` runs it.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../src/main.ts');
process.exitCode = await main(process.argv);
