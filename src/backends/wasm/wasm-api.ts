/**
 * The slice of the WebAssembly JavaScript API the wasm backend uses, typed
 * here because the project compiles against lib ES2022 and @types/node, which
 * declare no WebAssembly types (they live in the DOM lib). The global object
 * is Node's own; this file only gives it a type.
 */

/** A linear memory; `shared: true` gives a SharedArrayBuffer that is never detached by grow(). */
export interface WasmMemory {
  readonly buffer: SharedArrayBuffer;
  grow(pages: number): number;
}

/** A compiled module (cloneable to worker threads). */
export interface WasmModule {
  readonly __wasmModule?: never;
}

export interface WasmInstance {
  readonly exports: Record<string, unknown>;
}

interface WebAssemblyApi {
  Memory: new (descriptor: { initial: number; maximum: number; shared: boolean }) => WasmMemory;
  Instance: new (module: WasmModule, imports: Record<string, Record<string, unknown>>) => WasmInstance;
  compile(bytes: Uint8Array): Promise<WasmModule>;
  validate(bytes: Uint8Array): boolean;
}

/** Node's global WebAssembly object with the types above. */
export const WA: WebAssemblyApi = (globalThis as unknown as { WebAssembly: WebAssemblyApi }).WebAssembly;
