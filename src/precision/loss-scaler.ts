/**
 * Dynamic loss scaling for mixed-precision training.
 *
 * Small gradients underflow to zero when stored in float16 (below 2^−24 ≈
 * 6e−8 everything is lost, below 2^−14 precision drops). Multiplying the
 * loss by a scale S multiplies every gradient by S (the chain rule is
 * linear), lifting them into float16's range; the optimizer then sees the
 * gradients divided by S again. If S is too large some gradient overflows
 * to Inf/NaN: the step is skipped and S shrinks. If no overflow happens for
 * a while, S grows, so it hovers just below the overflow point.
 *
 * Defaults are exactly PyTorch's `torch.amp.GradScaler` (checked against its
 * `_amp_foreach_non_finite_check_and_unscale_` and `_amp_update_scale_`
 * kernels):
 *   - the scale is a float32 value, initially 2^16;
 *   - unscaling multiplies each gradient by inv = float32(1 / S), the
 *     reciprocal computed in float64 and rounded once to float32
 *     (`scale.double().reciprocal().float()`); the finiteness test looks at the
 *     value *before* the multiplication, and every tensor is unscaled even
 *     after a non-finite value was found;
 *   - a non-finite gradient anywhere: skip the optimizer step,
 *     S ← float32(S · backoff) (0.5), growth counter ← 0;
 *   - otherwise the counter counts successful steps; when it reaches the
 *     growth interval (2000), S ← float32(S · growth) (2) unless that is not
 *     finite (then S stays), and the counter ← 0.
 *
 * Options beyond PyTorch (all off by default):
 *   - `hysteresis` h (Megatron-LM `DynamicGradScaler`, DeepSpeed
 *     `delayed_shift`): a tracker starts at h and drops by one per non-finite
 *     step; the scale backs off only when it reaches 0 or below. Overflowing
 *     steps are skipped either way, and each resets the growth counter.
 *     `hysteresisReset: 'growth'` (Megatron, default) refills the tracker only
 *     when the scale grows; 'finiteStep' (Apex `update_scale_hysteresis`,
 *     DeepSpeed `consecutive_hysteresis`) refills it after every finite step.
 *     With h = 1 both give PyTorch's behaviour.
 *   - `minScale`: backoff never goes below it (Megatron `min_scale`);
 *   - `maxScale`: growth never goes above it (ColossalAI `max_scale`).
 */
import { ArgumentError, checkOptions } from '../errors.js';

export interface LossScalerOptions {
  /** Initial scale (rounded to float32). Default 2^16 = 65536. */
  initScale?: number;
  /** Multiplier after `growthInterval` consecutive finite steps; > 1. Default 2. */
  growthFactor?: number;
  /** Multiplier after a non-finite step; in (0, 1). Default 0.5. */
  backoffFactor?: number;
  /** Consecutive finite steps before growing; positive integer. Default 2000. */
  growthInterval?: number;
  /** Non-finite steps tolerated before backing off; positive integer. Default 1 (PyTorch: every one). */
  hysteresis?: number;
  /** When the hysteresis tracker refills: on 'growth' (Megatron, default) or after every 'finiteStep' (Apex, DeepSpeed consecutive_hysteresis). */
  hysteresisReset?: 'growth' | 'finiteStep';
  /** Lower bound for backoff. Default 0 (none, as PyTorch). */
  minScale?: number;
  /** Upper bound for growth. Default Infinity (none; PyTorch stops only at float32's limit). */
  maxScale?: number;
  /** Most recent history entries kept. Default 10,000; Infinity keeps all. */
  historyLimit?: number;
}

/** Where the first non-finite gradient value was found. */
export interface NonFiniteCulprit {
  /** Name of the gradient tensor (its key in the record). */
  tensor: string;
  /** Flat index of the value in that tensor. */
  index: number;
  /** The value: NaN, Infinity or -Infinity. */
  value: number;
}

/** What `unscaleAndCheck` found. */
export interface UnscaleResult {
  /** True when every gradient value was finite. */
  finite: boolean;
  /** The first non-finite value in key order, then index order. */
  culprit?: NonFiniteCulprit;
}

export type LossScalerReason =
  /** finite step, scale unchanged */
  | 'finite'
  /** finite step that completed a growth interval: scale × growthFactor */
  | 'growth'
  /** a growth interval completed but the scale was capped by maxScale or float32's range */
  | 'growth-capped'
  /** non-finite step: scale × backoffFactor (not below minScale) */
  | 'backoff'
  /** non-finite step tolerated by hysteresis: scale unchanged */
  | 'hysteresis';

/** One `update()` (one training step). JSON-serialisable. */
export interface LossScalerHistoryEntry {
  /** 0-based index of the update. */
  step: number;
  /** The scale that was used for this step. */
  scale: number;
  /** The scale after the update. */
  newScale: number;
  /** True when the optimizer step was (to be) skipped. */
  skipped: boolean;
  reason: LossScalerReason;
  /** Tensor holding the first non-finite value, when known. */
  tensor?: string;
  /** Its flat index. */
  index?: number;
  /** 'NaN', 'Infinity' or '-Infinity' (a string, so the entry survives JSON). */
  value?: string;
}

/** Everything needed to resume; plain JSON (no NaN, no Infinity). */
export interface LossScalerState {
  version: 1;
  scale: number;
  growthTracker: number;
  hysteresisTracker: number;
  step: number;
  options: {
    initScale: number;
    growthFactor: number;
    backoffFactor: number;
    growthInterval: number;
    hysteresis: number;
    hysteresisReset: 'growth' | 'finiteStep';
    minScale: number;
    /** null = no bound */
    maxScale: number | null;
    /** null = keep all */
    historyLimit: number | null;
  };
  history: LossScalerHistoryEntry[];
}

/** Result of `step()`. */
export interface LossScalerStepResult {
  skipped: boolean;
  culprit?: NonFiniteCulprit;
  /** The scale used for this step. */
  scale: number;
  /** The scale for the next step. */
  newScale: number;
}

export type GradientRecord = Record<string, Float32Array | Float64Array>;

const OPTION_KEYS = ['initScale', 'growthFactor', 'backoffFactor', 'growthInterval', 'hysteresis', 'hysteresisReset', 'minScale', 'maxScale', 'historyLimit'] as const;

type ResolvedOptions = Required<LossScalerOptions>;

function positiveFinite(name: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) {
    throw new ArgumentError(`DynamicLossScaler: option '${name}' must be a finite number > 0, got ${String(v)}`);
  }
  return v;
}

function positiveInteger(name: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) {
    throw new ArgumentError(`DynamicLossScaler: option '${name}' must be a positive integer, got ${String(v)}`);
  }
  return v;
}

function resolveOptions(o: LossScalerOptions | undefined): ResolvedOptions {
  checkOptions('DynamicLossScaler', o, OPTION_KEYS);
  const initScale = Math.fround(positiveFinite('initScale', o?.initScale ?? 65536));
  if (initScale === 0 || !Number.isFinite(initScale)) {
    throw new ArgumentError(`DynamicLossScaler: option 'initScale' must be a positive float32 value, got ${String(o?.initScale)} (rounds to ${initScale})`);
  }
  const growthFactor = positiveFinite('growthFactor', o?.growthFactor ?? 2);
  if (growthFactor <= 1) throw new ArgumentError(`DynamicLossScaler: option 'growthFactor' must be > 1, got ${growthFactor}`);
  const backoffFactor = positiveFinite('backoffFactor', o?.backoffFactor ?? 0.5);
  if (backoffFactor >= 1) throw new ArgumentError(`DynamicLossScaler: option 'backoffFactor' must be in (0, 1), got ${backoffFactor}`);
  const growthInterval = positiveInteger('growthInterval', o?.growthInterval ?? 2000);
  const hysteresis = positiveInteger('hysteresis', o?.hysteresis ?? 1);
  const hysteresisReset = o?.hysteresisReset ?? 'growth';
  if (hysteresisReset !== 'growth' && hysteresisReset !== 'finiteStep') {
    throw new ArgumentError(`DynamicLossScaler: option 'hysteresisReset' must be 'growth' or 'finiteStep', got ${JSON.stringify(hysteresisReset)}`);
  }
  const minScale = o?.minScale ?? 0;
  if (typeof minScale !== 'number' || !Number.isFinite(minScale) || minScale < 0 || minScale > initScale) {
    throw new ArgumentError(`DynamicLossScaler: option 'minScale' must be a finite number in [0, initScale = ${initScale}], got ${String(minScale)}`);
  }
  const maxScale = o?.maxScale ?? Infinity;
  if (typeof maxScale !== 'number' || Number.isNaN(maxScale) || maxScale < initScale) {
    throw new ArgumentError(`DynamicLossScaler: option 'maxScale' must be a number ≥ initScale = ${initScale} (Infinity for none), got ${String(maxScale)}`);
  }
  const historyLimit = o?.historyLimit ?? 10_000;
  if (typeof historyLimit !== 'number' || !(historyLimit === Infinity || (Number.isInteger(historyLimit) && historyLimit >= 0))) {
    throw new ArgumentError(`DynamicLossScaler: option 'historyLimit' must be a non-negative integer or Infinity, got ${String(historyLimit)}`);
  }
  return { initScale, growthFactor, backoffFactor, growthInterval, hysteresis, hysteresisReset, minScale: Math.fround(minScale), maxScale, historyLimit };
}

/** Validates a record of named gradient arrays (shared with clip.ts); returns its entries. */
export function checkGradRecord(fn: string, grads: unknown): [string, Float32Array | Float64Array][] {
  if (grads === null || typeof grads !== 'object' || Array.isArray(grads) || ArrayBuffer.isView(grads)) {
    throw new ArgumentError(`${fn}: 'grads' must be a record { name: Float32Array | Float64Array }, got ${grads === null ? 'null' : Array.isArray(grads) ? 'an array' : typeof grads}`);
  }
  const entries = Object.entries(grads as Record<string, unknown>);
  for (const [name, g] of entries) {
    if (!(g instanceof Float32Array || g instanceof Float64Array)) {
      throw new ArgumentError(`${fn}: grads['${name}'] must be a Float32Array or Float64Array, got ${g === null ? 'null' : typeof g === 'object' ? (g as object).constructor?.name : typeof g}`);
    }
  }
  return entries as [string, Float32Array | Float64Array][];
}

/**
 * PyTorch-compatible dynamic loss scaler over named gradient arrays.
 *
 * Typical step:
 * ```ts
 * const scaler = new DynamicLossScaler();
 * // forward in low precision; backward from dLoss = scaler.scale instead of 1
 * const r = scaler.step(grads, () => optimizer.step(grads)); // unscale, check, step or skip, update
 * if (r.skipped) console.log('overflow in', r.culprit?.tensor);
 * ```
 * or, with clipping between unscaling and the step (clip the *unscaled* gradients):
 * ```ts
 * const check = scaler.unscaleAndCheck(grads);
 * if (check.finite) { clipGradNorm(grads, 1.0); optimizer.step(grads); }
 * scaler.update(check);
 * ```
 */
export class DynamicLossScaler {
  #o: ResolvedOptions;
  #scale: number;
  #growthTracker = 0;
  #hysteresisTracker: number;
  #step = 0;
  #history: LossScalerHistoryEntry[] = [];
  /** The result of unscaleAndCheck since the last update(), if any. */
  #pending: UnscaleResult | undefined;

  constructor(options?: LossScalerOptions) {
    this.#o = resolveOptions(options);
    this.#scale = this.#o.initScale;
    this.#hysteresisTracker = this.#o.hysteresis;
  }

  /** The current scale: multiply the loss (or the loss gradient seed) by it. */
  get scale(): number {
    return this.#scale;
  }

  /** Consecutive finite steps since the last growth or overflow. */
  get growthTracker(): number {
    return this.#growthTracker;
  }

  /** Non-finite steps still tolerated before the next backoff. */
  get hysteresisTracker(): number {
    return this.#hysteresisTracker;
  }

  /** Number of update() calls so far. */
  get stepCount(): number {
    return this.#step;
  }

  /** The options in force (defaults filled in). */
  get options(): Readonly<Required<LossScalerOptions>> {
    return { ...this.#o };
  }

  /** The most recent history entries (oldest first), at most `historyLimit`. */
  get history(): readonly LossScalerHistoryEntry[] {
    return this.#history;
  }

  /** loss · scale (float64 product; the scale is a float32 value). */
  scaleLoss(loss: number): number {
    if (typeof loss !== 'number') throw new ArgumentError(`scaleLoss: 'loss' must be a number, got ${typeof loss}`);
    return loss * this.#scale;
  }

  /**
   * Divides every gradient by the scale in place (multiplies by the float32
   * reciprocal, as PyTorch) and reports the first non-finite value.
   *
   * Mutates `grads` (that is its purpose). Must not be called twice before
   * `update()`: the gradients would be unscaled twice.
   *
   * Special cases: NaN and ±Inf values are reported and still multiplied
   * (they stay non-finite); an empty record is finite; a Float64Array is
   * multiplied in float64 by the same float32 reciprocal.
   */
  unscaleAndCheck(grads: GradientRecord): UnscaleResult {
    if (this.#pending) {
      throw new ArgumentError('unscaleAndCheck: already called since the last update(); the gradients are already unscaled (call update() to finish the step)');
    }
    const entries = checkGradRecord('unscaleAndCheck', grads);
    // PyTorch: inv_scale = scale.double().reciprocal().float()
    const inv = Math.fround(1 / this.#scale);
    let culprit: NonFiniteCulprit | undefined;
    for (const [name, g] of entries) {
      const n = g.length;
      if (culprit === undefined) {
        for (let i = 0; i < n; i++) {
          const v = g[i];
          // v − v is 0 for finite v and NaN for ±Inf and NaN
          if (v - v !== 0) {
            culprit = { tensor: name, index: i, value: v };
            break;
          }
        }
      }
      if (inv !== 1) {
        // a Float32Array store rounds the exact float64 product of two float32
        // values once: the float32 multiplication PyTorch performs
        for (let i = 0; i < n; i++) g[i] *= inv;
      }
    }
    this.#pending = culprit ? { finite: false, culprit } : { finite: true };
    return this.#pending;
  }

  /**
   * Ends the step: updates the scale from whether a non-finite gradient was
   * found and records a history entry. Pass the `unscaleAndCheck` result (its
   * culprit goes into the history) or a boolean `foundNonFinite`.
   */
  update(found?: boolean | UnscaleResult): LossScalerHistoryEntry {
    let result: UnscaleResult;
    if (found === undefined) {
      if (!this.#pending) throw new ArgumentError('update: pass whether a non-finite gradient was found (boolean) or call unscaleAndCheck() first');
      result = this.#pending;
    } else if (typeof found === 'boolean') {
      result = { finite: !found };
    } else if (found !== null && typeof found === 'object' && typeof found.finite === 'boolean') {
      result = found;
    } else {
      throw new ArgumentError(`update: 'found' must be a boolean (true = a non-finite gradient was found) or an unscaleAndCheck() result, got ${String(found)}`);
    }
    this.#pending = undefined;
    const o = this.#o;
    const scale = this.#scale;
    let reason: LossScalerReason;
    if (!result.finite) {
      this.#growthTracker = 0;
      this.#hysteresisTracker -= 1;
      if (this.#hysteresisTracker <= 0) {
        // float32 scale times the (double) factor, stored as float32
        this.#scale = Math.max(Math.fround(scale * o.backoffFactor), o.minScale);
        reason = 'backoff';
      } else {
        reason = 'hysteresis';
      }
    } else {
      const successful = this.#growthTracker + 1;
      if (successful === o.growthInterval) {
        const grown = Math.fround(scale * o.growthFactor);
        const capped = Math.min(grown, o.maxScale);
        // PyTorch: do not grow the scale past float32's range to Inf
        if (Number.isFinite(capped)) this.#scale = capped;
        reason = capped === grown && Number.isFinite(grown) ? 'growth' : 'growth-capped';
        this.#growthTracker = 0;
        if (o.hysteresisReset === 'growth') this.#hysteresisTracker = o.hysteresis;
      } else {
        this.#growthTracker = successful;
        reason = 'finite';
      }
      if (o.hysteresisReset === 'finiteStep') this.#hysteresisTracker = o.hysteresis;
    }
    const entry: LossScalerHistoryEntry = { step: this.#step, scale, newScale: this.#scale, skipped: !result.finite, reason };
    if (result.culprit) {
      entry.tensor = result.culprit.tensor;
      entry.index = result.culprit.index;
      entry.value = String(result.culprit.value);
    }
    this.#step++;
    if (o.historyLimit > 0) {
      this.#history.push(entry);
      if (this.#history.length > o.historyLimit) this.#history.splice(0, this.#history.length - o.historyLimit);
    }
    return entry;
  }

  /**
   * One whole step: unscale and check `grads` (unless `unscaleAndCheck` was
   * already called for this step, whose result is then used), call
   * `applyUpdate()` only if every gradient is finite, then `update()`.
   * A skipped step never calls `applyUpdate`, so parameters and optimizer
   * state stay exactly as they were. If `applyUpdate` throws, the error
   * propagates and the step is left pending (no update is recorded).
   */
  step(grads: GradientRecord, applyUpdate: () => void): LossScalerStepResult {
    if (typeof applyUpdate !== 'function') throw new ArgumentError(`step: 'applyUpdate' must be a function, got ${typeof applyUpdate}`);
    const check = this.#pending ?? this.unscaleAndCheck(grads);
    if (check.finite) applyUpdate();
    const entry = this.update(check);
    const out: LossScalerStepResult = { skipped: !check.finite, scale: entry.scale, newScale: entry.newScale };
    if (check.culprit) out.culprit = check.culprit;
    return out;
  }

  /** A JSON-serialisable snapshot. Throws between unscaleAndCheck and update. */
  state(): LossScalerState {
    if (this.#pending) throw new ArgumentError('state: a step is in progress (unscaleAndCheck was called); call update() first');
    const o = this.#o;
    return {
      version: 1,
      scale: this.#scale,
      growthTracker: this.#growthTracker,
      hysteresisTracker: this.#hysteresisTracker,
      step: this.#step,
      options: {
        initScale: o.initScale,
        growthFactor: o.growthFactor,
        backoffFactor: o.backoffFactor,
        growthInterval: o.growthInterval,
        hysteresis: o.hysteresis,
        hysteresisReset: o.hysteresisReset,
        minScale: o.minScale,
        maxScale: o.maxScale === Infinity ? null : o.maxScale,
        historyLimit: o.historyLimit === Infinity ? null : o.historyLimit,
      },
      history: this.#history.map((e) => ({ ...e })),
    };
  }

  /** Restores a `state()` snapshot (options included), e.g. after JSON.parse. */
  loadState(state: LossScalerState): void {
    if (state === null || typeof state !== 'object' || state.version !== 1 || typeof state.options !== 'object' || state.options === null) {
      throw new ArgumentError(`loadState: 'state' must be an object from DynamicLossScaler.state() (version 1), got ${state === null ? 'null' : typeof state}`);
    }
    const so = state.options;
    const o = resolveOptions({
      initScale: so.initScale,
      growthFactor: so.growthFactor,
      backoffFactor: so.backoffFactor,
      growthInterval: so.growthInterval,
      hysteresis: so.hysteresis,
      hysteresisReset: so.hysteresisReset,
      minScale: so.minScale,
      maxScale: so.maxScale === null ? Infinity : so.maxScale,
      historyLimit: so.historyLimit === null ? Infinity : so.historyLimit,
    });
    const scale = state.scale;
    if (typeof scale !== 'number' || !Number.isFinite(scale) || scale < 0 || Math.fround(scale) !== scale) {
      throw new ArgumentError(`loadState: 'scale' must be a finite non-negative float32 value, got ${String(scale)}`);
    }
    for (const [k, v, min] of [
      ['growthTracker', state.growthTracker, 0],
      ['step', state.step, 0],
    ] as const) {
      if (typeof v !== 'number' || !Number.isInteger(v) || v < min) throw new ArgumentError(`loadState: '${k}' must be a non-negative integer, got ${String(v)}`);
    }
    if (state.growthTracker >= o.growthInterval) {
      throw new ArgumentError(`loadState: 'growthTracker' = ${state.growthTracker} must be below growthInterval = ${o.growthInterval}`);
    }
    if (typeof state.hysteresisTracker !== 'number' || !Number.isInteger(state.hysteresisTracker) || state.hysteresisTracker > o.hysteresis) {
      throw new ArgumentError(`loadState: 'hysteresisTracker' must be an integer ≤ hysteresis = ${o.hysteresis}, got ${String(state.hysteresisTracker)}`);
    }
    if (!Array.isArray(state.history)) throw new ArgumentError(`loadState: 'history' must be an array, got ${typeof state.history}`);
    this.#o = o;
    this.#scale = scale;
    this.#growthTracker = state.growthTracker;
    this.#hysteresisTracker = state.hysteresisTracker;
    this.#step = state.step;
    this.#history = state.history.map((e) => ({ ...e }));
    this.#pending = undefined;
  }
}
