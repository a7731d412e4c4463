/**
 * Parts of the library that land while the benchmarks already exist
 * (LayerNorm, the GPT Trainer, the hand-written wasm backend) are found at run
 * time: a module is imported only if its file is there, so the benchmarks run
 * — and type-check — before and after it lands.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';

const SRC = fileURLToPath(new URL('../../src/', import.meta.url));

/**
 * Imports the first of `candidates` (paths under src/, without extension)
 * that exists, or undefined. A module that exists but fails to load (a
 * half-written file in a working tree) is reported through `error`, so one
 * missing kernel costs its cases, not the whole run.
 */
export async function importOptional<T>(candidates: readonly string[]): Promise<{ module: T; path: string; error?: undefined } | { module?: undefined; path: string; error: string } | undefined> {
  for (const c of candidates) {
    for (const ext of ['.ts', '.js']) {
      const file = SRC + c + ext;
      if (existsSync(file)) {
        try {
          const module = (await import(pathToFileURL(file).href)) as T;
          return { module, path: `src/${c}${ext}` };
        } catch (e) {
          return { path: `src/${c}${ext}`, error: `src/${c}${ext} failed to load: ${(e as Error).message}` };
        }
      }
    }
  }
  return undefined;
}

/** Names in `names` that `module` does not export as functions. */
export function missingFunctions(module: object, names: readonly string[]): string[] {
  return names.filter((n) => typeof (module as Record<string, unknown>)[n] !== 'function');
}
