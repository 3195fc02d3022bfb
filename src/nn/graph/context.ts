/**
 * The one piece of global state tracing needs: the tracer that is recording now, if any.
 *
 * Tensor ops never look at it (they stay as fast and simple as before). Only two places do:
 * Module.call (to record a leaf module as one call_module node) and the functional ops of
 * `qf` (functional.ts), which record a call_function node. Everything else a forward does runs
 * unobserved, and the tracer notices that when an unrecorded tensor reaches a recorded call.
 */
import type { Tensor } from '../../tensor/tensor.js';
/**
 * What the tracer needs of a module: its class name for error messages. Structural, so that this
 * file need not import module.ts (which imports this one to reach the active tracer).
 */
export interface TracedModule {
  readonly constructor: { readonly name: string };
}

/** What a functional op tells the tracer: its name, tensor inputs and plain attributes. */
export interface FunctionCall {
  fn: FunctionName;
  inputs: Tensor[];
  attrs: Record<string, number | number[]>;
}

/** Functional ops the tracer records (and that prepareQAT / convert know how to quantize). */
export type FunctionName = 'add' | 'mul' | 'cat' | 'flatten' | 'reshape' | 'globalAvgPool' | 'clamp' | 'relu';

export interface TraceHooks {
  /** Called by Module.call; returns the module's output (recording it when the module is a leaf). */
  callModule(m: TracedModule, inputs: Tensor[], run: () => Tensor): Tensor;
  /** Called by each qf op after computing its output. */
  callFunction(call: FunctionCall, output: Tensor): Tensor;
}

let active: TraceHooks | null = null;

export function activeTracer(): TraceHooks | null {
  return active;
}

/** Runs fn with `hooks` recording (or with recording off when hooks is null), restoring the previous state after. */
export function withTracer<T>(hooks: TraceHooks | null, fn: () => T): T {
  const prev = active;
  active = hooks;
  try {
    return fn();
  } finally {
    active = prev;
  }
}
