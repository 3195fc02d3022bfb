/**
 * Int8 model files on disk (Node only). The format itself (Int8Model.toBytes / fromBytes, format.ts)
 * is pure bytes and runs in a browser too: the playground's downloads are the same files.
 */
import { readFileSync } from 'node:fs';
import { writeFileAtomic } from '../../io/atomic.js';
import { Int8Model, type Int8ModelOptions } from './engine.js';
import { Int8GraphModel } from './graph-engine.js';

/** Write the model file atomically (an interrupted save leaves any previous file intact). */
export function saveInt8Model(model: Int8Model, path: string): void {
  writeFileAtomic(path, model.toBytes());
}

/** Read and validate a model file; every format error is a FileFormatError naming `path`. */
export function loadInt8Model(path: string, options: Int8ModelOptions = {}): Int8Model {
  return Int8Model.fromBytes(readFileSync(path), path, options);
}

/** Write a graph model file (format version 2, docs/formats.md) atomically. */
export function saveInt8GraphModel(model: Int8GraphModel, path: string): void {
  writeFileAtomic(path, model.toBytes());
}

/** Read a version 2 (graph) or version 1 (chain) int8 model file; errors name `path`. */
export function loadInt8GraphModel(path: string, options: Int8ModelOptions = {}): Int8GraphModel {
  return Int8GraphModel.fromBytes(readFileSync(path), path, options);
}
