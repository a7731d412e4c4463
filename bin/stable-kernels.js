#!/usr/bin/env node
// Entry point of the `stable-kernels` command (built to dist/ by `npm run build`,
// which `npm ci` runs through the `prepare` script).
import { main } from '../dist/cli/index.js';

const code = await main(process.argv);
// dawn.node and worker pools are shut down by the commands themselves; exit
// explicitly so a lingering native handle can never keep the process alive
process.exit(code);
