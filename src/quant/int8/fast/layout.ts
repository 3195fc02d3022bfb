/**
 * Where everything of the int8 fast path lives in kernel memory: the activation values (one image
 * each, [Hs, Ws, pairs] int16 with a zero border) and a byte image of the constants (packed
 * weights, tap tables, output-stage constants).
 *
 * Sizes are computed with plain arithmetic on safe integers (no `| 0`, `& ~15` or `>>`, which wrap
 * at 2^31) and checked against MEMORY_LIMIT before anything sized by them is allocated: a model
 * whose layout would exceed it does not take the fast path (FastProgram.plan returns the reason)
 * and runs on the reference engine.
 */

import type { Pool2dGeometry } from '../kernels.js';
import type { ConvKernelSpec, TapPairSpec, WinogradKernelSpec } from './kernels.js';

/** Bytes of wasm memory a model may use: the kernels' address space is 1 GiB, less 1 MiB of headroom. */
export const MEMORY_LIMIT = 2 ** 30 - 2 ** 20;

/** Rounds up to a multiple of 16 bytes, exactly for any safe integer. */
export const align16 = (n: number): number => Math.ceil(n / 16) * 16;

/** An activation tensor of one image in kernel memory: [C, H, W] as channel pairs with a zero border. */
export interface Value {
  C: number;
  H: number;
  W: number;
  /** Border (rows above and below, columns left and right). */
  padH: number;
  padW: number;
  Hs: number;
  Ws: number;
  pairs: number;
  /** Bytes of one pixel (its channel pairs), and of one image (a multiple of 16). */
  pixBytes: number;
  imageBytes: number;
  /**
   * 0: channel pairs. d > 0 (single-channel inputs only): column pairs, the word of pixel (h, w)
   * holds (x[h, w], x[h, w + d]) so that a conv with dilation d along W multiplies two taps per word.
   */
  colPairs: number;
  /**
   * 0: pixel-major as above. P > 0 (the tap pairs of a single-channel conv, ./conv-op.ts): P planes
   * [H, W] of one word per pixel, planeBytes apart (pixBytes 4, pairs 1).
   */
  planes: number;
  planeBytes: number;
  /** Byte offset of the chunk's first image in kernel memory. */
  base: number;
  /** Bytes past the last image that kernels may read (never use). */
  slack: number;
}

export interface ConvOp {
  kind: 'conv';
  /** Index of its kernel function (conv<fn>) and its constants. */
  fn: number;
  spec: ConvKernelSpec;
  in: number;
  out: number;
  quads: number;
  nQuads: number;
  outOffs: number;
  tiles: number;
  nTiles: number;
}

export interface LinearOp {
  kind: 'linear';
  fn: number;
  spec: ConvKernelSpec;
  in: number;
  out: number;
  tiles: number;
  nTiles: number;
  /** Per-chunk tables: the base of each quad of 4 images, the output offset of each image. */
  quads: number;
  outOffs: number;
}

/** A 3x3 conv2d + 2x2 max pool as Winograd F(2x2, 3x3): one tile of the transform per pooling window. */
export interface WinoOp {
  kind: 'wino';
  fn: number;
  spec: WinogradKernelSpec;
  in: number;
  out: number;
  /** Pooled output size (tiles per image PH·PW), 16-byte channel groups, patch origin in the input image. */
  PH: number;
  PW: number;
  groups: number;
  origin: number;
  /** Transformed input (16 planes of xiBytes), the 2 KiB product scratch, per-tile output offsets. */
  v: number;
  scratch: number;
  outOffs: number;
  tiles: number;
  nTiles: number;
}

/** A max pool on int16 values, with the reference's window geometry. */
export interface PoolOp extends Omit<Pool2dGeometry, 'planes' | 'H' | 'W'> {
  kind: 'pool';
  in: number;
  out: number;
}

/** The tap pairs of a single-channel conv's input (kernels.ts im2col), before that conv. */
export interface Im2colOp {
  kind: 'im2col';
  spec: TapPairSpec;
  in: number;
  out: number;
  /** Byte offset in an input image of output pixel (0, 0)'s receptive field; bytes from one output row's to the next's. */
  origin: number;
  srcRow: number;
  OH: number;
  OW: number;
}

export type Op = ConvOp | LinearOp | WinoOp | PoolOp | Im2colOp | { kind: 'relu'; value: number };

/** A byte image of the constants (packed weights, tables) and the layout of everything in kernel memory. */
export class Layout {
  bytes = 64; // the first 64 bytes stay unused
  private readonly blocks: { at: number; data: Int32Array }[] = [];
  /** Reserve `n` bytes (16-aligned). */
  reserve(n: number): number {
    const at = this.bytes;
    this.bytes = align16(at + n);
    return at;
  }
  /** Reserve and fill an Int32Array block. */
  put(data: Int32Array): number {
    const at = this.reserve(data.byteLength);
    this.blocks.push({ at, data });
    return at;
  }
  copyTo(memory: ArrayBuffer): void {
    const i32 = new Int32Array(memory);
    for (const { at, data } of this.blocks) i32.set(data, at >> 2);
  }
}
