/**
 * A pool of worker threads that run exported functions of the gemm wasm module over the same
 * shared memory, so one product can be split across cores with no copying.
 *
 * A task is a function applied to `units` independent units (panels of C, images, ...), cut into
 * chunks. The calling thread posts the task, then claims chunks from a shared atomic counter
 * itself, as do the workers that wake up in time; so a worker the OS schedules late (a busy
 * machine) costs nothing: the caller simply does more chunks. When no chunk is left the caller
 * withdraws the task from workers that never started it and waits only for those still inside a
 * chunk. Main-thread blocking uses Atomics.wait, which Node allows.
 *
 * Workers are unref'd, so an idle pool never keeps a process (or a test runner) alive, and start
 * in the background: until one reports ready, calls run without it.
 */
import type { Worker } from 'node:worker_threads';

/** The Worker class of node:worker_threads, passed in so this module imports nothing from Node. */
export type WorkerConstructor = typeof Worker;

// Control block (Int32): the task, shared by all, then one 16-int slot per worker.
const T_OP = 0, T_NEXT = 1, T_UNITS = 2, T_CHUNK = 3, T_LO = 4, T_HI = 5, T_SCALE = 6, T_ERROR = 7, T_BY_WORKERS = 8, T_ARGS = 16;
export const MAX_ARGS = 16;
const SLOTS = T_ARGS + MAX_ARGS;
const SLOT_INTS = 16;
// Per worker slot: its state and whether it has started.
const S_STATE = 0, S_READY = 1;
const IDLE = 0, POSTED = 1, RUNNING = 2;

/**
 * The chunk loop both sides run: claim chunk c, set the range arguments to
 * [c * chunk, min(units, (c + 1) * chunk)) * scale, call. Written once, as source, so the worker
 * (below) and the caller run the very same code.
 */
const CHUNK_LOOP = `(ctl, fns, isWorker) => {
  const op = ctl[${T_OP}], units = ctl[${T_UNITS}], chunk = ctl[${T_CHUNK}], lo = ctl[${T_LO}], hi = ctl[${T_HI}], scale = ctl[${T_SCALE}];
  const a = Array.from(ctl.subarray(${T_ARGS}, ${T_ARGS + MAX_ARGS}));
  const fn = fns[op];
  for (;;) {
    const c = Atomics.add(ctl, ${T_NEXT}, 1);
    const start = c * chunk;
    if (start >= units) return;
    if (isWorker) Atomics.add(ctl, ${T_BY_WORKERS}, 1);
    a[lo] = start * scale;
    a[hi] = Math.min(units, start + chunk) * scale;
    fn(a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], a[9], a[10], a[11], a[12], a[13], a[14], a[15]);
  }
}`;

// eslint-disable-next-line @typescript-eslint/no-implied-eval
const runChunks = new Function(`return ${CHUNK_LOOP}`)() as (ctl: Int32Array, fns: ((...a: number[]) => void)[], isWorker: boolean) => void;

/**
 * The worker's whole program, evaluated as a CommonJS script (so it needs no file of its own and
 * no TypeScript loader). `ops` lists the wasm exports by opcode.
 */
const WORKER_SOURCE = `
const { workerData } = require('node:worker_threads');
const { module, memory, control, slot, ops } = workerData;
const ctl = new Int32Array(control);
const me = ${SLOTS} + slot * ${SLOT_INTS};
const exports = new WebAssembly.Instance(module, { env: { memory } }).exports;
const fns = ops.map((name) => exports[name]);
const runChunks = ${CHUNK_LOOP};
Atomics.store(ctl, me + ${S_READY}, 1);
for (;;) {
  Atomics.wait(ctl, me + ${S_STATE}, ${IDLE});
  // The caller may have withdrawn the task (state back to IDLE) before we woke.
  if (Atomics.compareExchange(ctl, me + ${S_STATE}, ${POSTED}, ${RUNNING}) !== ${POSTED}) continue;
  try {
    runChunks(ctl, fns, true);
  } catch (e) {
    Atomics.store(ctl, ${T_ERROR}, 1);
  }
  Atomics.store(ctl, me + ${S_STATE}, ${IDLE});
  Atomics.notify(ctl, me + ${S_STATE});
}
`;

/** How long the caller waits for a worker inside a chunk before declaring the pool broken. */
const WORKER_TIMEOUT_MS = 120_000;

export interface Task {
  /** Opcode: index into the pool's `ops`. */
  op: number;
  /** Arguments of the export; args[lo] and args[hi] are overwritten with each chunk's range. */
  args: readonly number[];
  lo: number;
  hi: number;
  /** Units of work, and units per chunk. */
  units: number;
  chunk: number;
  /** Range arguments are unit indices times this (e.g. images -> output positions). */
  scale: number;
}

export class WorkerPool {
  private readonly workers: Worker[] = [];
  private readonly ctl: Int32Array;
  private broken = false;

  /** Starts `size` workers; each instantiates `module` over `memory` with import env.memory. */
  constructor(WorkerClass: WorkerConstructor, module: WebAssembly.Module, memory: WebAssembly.Memory, readonly size: number, readonly ops: readonly string[]) {
    const control = new SharedArrayBuffer((SLOTS + size * SLOT_INTS) * 4);
    this.ctl = new Int32Array(control);
    for (let slot = 0; slot < size; slot++) {
      const w = new WorkerClass(WORKER_SOURCE, { eval: true, workerData: { module, memory, control, slot, ops } });
      w.unref();
      // A worker that dies is never posted to again (its chunk, if any, trips the timeout).
      const dead = () => Atomics.store(this.ctl, SLOTS + slot * SLOT_INTS + S_READY, 0);
      w.on('error', dead);
      w.on('exit', dead);
      this.workers.push(w);
    }
  }

  /** Workers that have started and can take a task. */
  readyCount(): number {
    if (this.broken) return 0;
    let n = 0;
    for (let s = 0; s < this.size; s++) if (Atomics.load(this.ctl, SLOTS + s * SLOT_INTS + S_READY) === 1) n++;
    return n;
  }

  /** Chunks the workers have run so far (the rest ran on the calling thread). */
  workerChunks(): number {
    return Atomics.load(this.ctl, T_BY_WORKERS);
  }

  /** Runs the task to completion on the calling thread and whichever ready workers join in. */
  run(task: Task, fns: ((...a: number[]) => void)[]): void {
    const c = this.ctl;
    c[T_OP] = task.op;
    c[T_UNITS] = task.units;
    c[T_CHUNK] = task.chunk;
    c[T_LO] = task.lo;
    c[T_HI] = task.hi;
    c[T_SCALE] = task.scale;
    c[T_ERROR] = 0;
    for (let i = 0; i < MAX_ARGS; i++) c[T_ARGS + i] = task.args[i] ?? 0;
    Atomics.store(c, T_NEXT, 0);
    const posted: number[] = [];
    for (let s = 0; s < this.size; s++) {
      const at = SLOTS + s * SLOT_INTS;
      if (Atomics.load(c, at + S_READY) !== 1) continue;
      Atomics.store(c, at + S_STATE, POSTED);
      Atomics.notify(c, at + S_STATE);
      posted.push(at);
    }
    let callerError: unknown = null;
    try {
      runChunks(c, fns, false);
    } catch (e) {
      callerError = e;
      Atomics.store(c, T_NEXT, task.units); // stop the workers claiming more
    }
    for (const at of posted) {
      // Withdraw the task if this worker has not picked it up; otherwise wait for it.
      if (Atomics.compareExchange(c, at + S_STATE, POSTED, IDLE) === POSTED) continue;
      const deadline = Date.now() + WORKER_TIMEOUT_MS;
      while (Atomics.load(c, at + S_STATE) !== IDLE) {
        if (Date.now() > deadline) {
          this.broken = true;
          throw new Error('qgrad cpu threads: a worker did not finish its chunk; threads are now disabled for this process');
        }
        Atomics.wait(c, at + S_STATE, RUNNING, 1000);
      }
    }
    if (callerError) throw callerError;
    if (c[T_ERROR] !== 0) throw new Error('qgrad cpu threads: a worker trapped while running a kernel');
  }

  /** Stops the workers (tests and benchmarks; an unref'd pool needs no shutdown at exit). */
  async terminate(): Promise<void> {
    this.broken = true;
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}
