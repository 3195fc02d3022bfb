// Byte-level file plumbing shared by checkpoints, int8 models and datasets. Browser-safe: the
// functions that touch the file system (writeFileAtomic, loadContainer, saveContainer) are in
// src/node.ts.
export {
  CONTAINER_MAGIC,
  CONTAINER_VERSION,
  decodeContainer,
  encodeContainer,
} from './container.js';
export type { Container, ContainerArray, ContainerDtype, JsonObject, JsonValue } from './container.js';
export { crc32 } from './crc32.js';
export { FileFormatError } from './format-error.js';
export { decodeSafetensors, encodeSafetensors, halfToFloat } from './safetensors.js';
export type { SafetensorsDtype, SafetensorsFile, SafetensorsInput, SafetensorsTensor } from './safetensors.js';
