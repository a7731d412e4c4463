#!/usr/bin/env node
// Entry point of the `stable-kernels` command: the built CLI (dist/ is built
// by `npm run build`, which `npm ci` and `npm pack` run through `prepare`).
import '../dist/cli/main.js';
