/**
 * Argument validation shared by every public entry point.
 *
 * Every error names the argument, what was expected and what was received,
 * with shapes written as `[B, T, C] = [2, 3, 4]` where the letters are known,
 * so a user can fix the call without reading the source.
 */

/** Thrown when an argument has the wrong shape, length, type or value. */
export class ArgumentError extends Error {
  override name = 'ArgumentError';
}

/** Thrown when a backend cannot start; the message says what is missing and how to get it. */
export class BackendUnavailableError extends Error {
  override name = 'BackendUnavailableError';
  constructor(readonly backend: string, message: string) {
    super(message);
  }
}

export function fmtShape(shape: readonly number[], letters?: readonly string[]): string {
  const dims = `[${shape.join(', ')}]`;
  if (!letters || letters.length !== shape.length) return dims;
  return `[${letters.join(', ')}] = ${dims}`;
}

/**
 * Rejects option keys the function does not know. A misspelt option
 * (`casual: true`) silently ignored is a wrong answer nobody notices.
 */
export function checkOptions(fn: string, options: object | undefined, allowed: readonly string[]): void {
  if (options === undefined || options === null) return;
  if (typeof options !== 'object') {
    throw new ArgumentError(`${fn}: options must be an object, got ${typeof options}`);
  }
  for (const key of Object.keys(options)) {
    if (!allowed.includes(key)) {
      throw new ArgumentError(
        `${fn}: unknown option '${key}'; known options are ${allowed.map((k) => `'${k}'`).join(', ')}`,
      );
    }
  }
}

export function checkOneOf<T extends string>(fn: string, name: string, value: unknown, allowed: readonly T[]): T {
  if (!allowed.includes(value as T)) {
    throw new ArgumentError(
      `${fn}: option '${name}' must be one of ${allowed.map((v) => `'${v}'`).join(', ')}, got ${JSON.stringify(value)}`,
    );
  }
  return value as T;
}

export function checkFiniteNumber(fn: string, name: string, value: unknown, range?: { min?: number; max?: number; minExclusive?: boolean }): number {
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw new ArgumentError(`${fn}: '${name}' must be a finite number, got ${String(value)}`);
  }
  if (range?.min !== undefined) {
    const bad = range.minExclusive ? value <= range.min : value < range.min;
    if (bad) throw new ArgumentError(`${fn}: '${name}' must be ${range.minExclusive ? '>' : '>='} ${range.min}, got ${value}`);
  }
  if (range?.max !== undefined && value > range.max) {
    throw new ArgumentError(`${fn}: '${name}' must be <= ${range.max}, got ${value}`);
  }
  return value;
}

export function checkBoolean(fn: string, name: string, value: unknown): boolean {
  if (typeof value !== 'boolean') {
    throw new ArgumentError(`${fn}: '${name}' must be a boolean, got ${JSON.stringify(value)}`);
  }
  return value;
}

export function checkDimension(fn: string, name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) {
    throw new ArgumentError(`${fn}: '${name}' must be a non-negative integer, got ${String(value)}`);
  }
  return value;
}
