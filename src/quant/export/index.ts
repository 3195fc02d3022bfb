/**
 * ONNX export (docs/onnx.md): the float model as standard float operators, the converted int8
 * model (chain or graph) in QDQ form. Both return the model's bytes (Node-free); the caller writes the file.
 */
export { exportFloatOnnx, OnnxExportError, type FloatOnnxOptions } from './onnx-float.js';
export { decodeModel, IR_VERSION, OPSET } from './onnx-proto.js';
export { exportInt8Onnx, type Int8OnnxOptions } from './onnx-int8.js';
export { exportInt8GraphOnnx, type Int8GraphOnnxOptions } from './onnx-int8-graph.js';
