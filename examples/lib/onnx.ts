/**
 * Writes a trained model's two ONNX files next to the other outputs of a run:
 *   <dir>/<name>-float.onnx   the float model (exportFloatOnnx: a Sequential or any traceable model)
 *   <dir>/<name>-int8.onnx    the converted integer model in QDQ form: a chain file (format version 1,
 *                             the CNN) through exportInt8Onnx, a graph file (version 2, the ResNet)
 *                             through exportInt8GraphOnnx
 * The int8 model is read back from its .qgrd file, so the ONNX file describes exactly what was saved.
 * docs/onnx.md shows how to run them with onnxruntime (Node, web, Python).
 */
import { join } from 'node:path';

import type { Module } from '../../src/nn/index.js';
import { exportFloatOnnx, exportInt8GraphOnnx, exportInt8Onnx } from '../../src/quant/index.js';
import { int8SpecFromContainer } from '../../src/quant/int8/format.js';
import { graphSpecFromContainer } from '../../src/quant/int8/graph-format.js';
import { loadContainer, writeFileAtomic } from '../../src/node.js';

export function writeOnnxModels(dir: string, name: string, floatModel: Module, int8ModelPath: string): { float: string; int8: string } {
  const float = join(dir, `${name}-float.onnx`);
  const int8 = join(dir, `${name}-int8.onnx`);
  const container = loadContainer(int8ModelPath);
  const int8Bytes = container.meta.formatVersion === 1
    ? exportInt8Onnx(int8SpecFromContainer(container, int8ModelPath), { name: `${name}-int8` })
    : exportInt8GraphOnnx(graphSpecFromContainer(container, int8ModelPath), { name: `${name}-int8` });
  writeFileAtomic(float, exportFloatOnnx(floatModel, { inputShape: [1, 28, 28], name: `${name}-float` }));
  writeFileAtomic(int8, int8Bytes);
  console.log(`wrote ${float} and ${int8}`);
  return { float, int8 };
}
