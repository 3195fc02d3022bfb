/**
 * The exporters and the safetensors codec must run in a browser: bundling them for the browser
 * (esbuild, node builtins left external) must reach no `node:` import. The files that do need Node
 * (src/nn/safetensors-file.ts, examples/lib/onnx.ts) are deliberately separate.
 */
import { build } from 'esbuild';
import { describe, expect, it } from 'vitest';

describe('Node-free modules', () => {
  it.each(['src/quant/export/index.ts', 'src/io/safetensors.ts', 'src/nn/safetensors.ts'])('%s imports nothing from node:', async (entry) => {
    const r = await build({ entryPoints: [entry], bundle: true, platform: 'browser', format: 'esm', write: false, outdir: 'unused', metafile: true, logLevel: 'silent', external: ['node:*'] });
    const users = Object.entries(r.metafile.inputs).filter(([, v]) => v.imports.some((i) => i.path.startsWith('node:'))).map(([k]) => k);
    expect(users).toEqual([]);
    // and the check is not vacuous: the Node-only file is caught
    if (entry === 'src/nn/safetensors.ts') {
      const file = await build({ entryPoints: ['src/nn/safetensors-file.ts'], bundle: true, platform: 'browser', format: 'esm', write: false, outdir: 'unused', metafile: true, logLevel: 'silent', external: ['node:*'] });
      expect(Object.values(file.metafile.inputs).some((v) => v.imports.some((i) => i.path.startsWith('node:')))).toBe(true);
    }
  });
});
