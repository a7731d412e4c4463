/**
 * The process entry of the `stable-kernels` command (bin/stable-kernels.js
 * runs the built copy of this file).
 */
import { main } from './index.js';

const code = await main(process.argv);
// devices and worker pools are shut down by the commands themselves; exit
// explicitly so a lingering native handle (dawn) can never keep the process alive
process.exit(code);
