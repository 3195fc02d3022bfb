/**
 * Checkpoints on the qgrad container: a save/load round trip restores bit-identical state and
 * outputs; damaged or foreign files (truncated, a flipped data byte, wrong magic, another kind,
 * another architecture, a missing file) fail with an error naming the file, and the model is
 * left exactly as it was.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fromArray, Generator, io, noGrad } from '../../src/index.js';
import { mlp, mnistCnn, type Module } from '../../src/nn/index.js';
import { errorOf } from '../helpers/assert.js';
import { setValues, snapshot, vals, values } from './ref.js';
import { CHECKPOINT_KIND, loadCheckpoint, loadContainer, saveCheckpoint, saveContainer } from '../../src/node.js';

let dir = '';
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'qgrad-nn-ckpt-'));
});
afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const X = vals(1, 2 * 28 * 28, 0, 1);
const outputs = (m: Module): number[] => noGrad(() => values(m.eval().call(fromArray(X, [2, 1, 28, 28]))));

/** A BN CNN whose buffers are not at their defaults, so restoring them is observable. */
function trainedLike(seed: number, channels = 3): Module {
  const m = mnistCnn({ channels, batchNorm: true, generator: new Generator(seed) });
  for (const [name, t] of m.namedBuffers()) setValues(t, vals(seed + name.length, t.size, 0.5, 1.5));
  return m;
}

describe('saveCheckpoint / loadCheckpoint', () => {
  it('round trip: another model loads identical state and gives identical outputs; meta comes back', () => {
    const path = join(dir, 'round-trip.qgrd');
    const a = trainedLike(10);
    saveCheckpoint(path, a, { epoch: 3, accuracy: 0.5, note: 'unit test' });
    const b = trainedLike(11);
    expect(outputs(b)).not.toEqual(outputs(a));
    const meta = loadCheckpoint(path, b);
    expect(meta).toEqual({ epoch: 3, accuracy: 0.5, note: 'unit test', model: 'Sequential' });
    expect(snapshot(b)).toEqual(snapshot(a));
    expect(outputs(b)).toEqual(outputs(a));
  });

  it('stores every parameter and buffer under its state-dict name, with kind qgrad.checkpoint', () => {
    const path = join(dir, 'layout.qgrd');
    const a = trainedLike(12);
    saveCheckpoint(path, a);
    const c = loadContainer(path);
    expect(c.kind).toBe(CHECKPOINT_KIND);
    expect(Object.keys(c.arrays).sort()).toEqual([...a.stateDict().keys()].sort());
    for (const [k, t] of a.stateDict()) {
      expect(c.arrays[k].shape, k).toEqual(t.shape);
      expect(Array.from(c.arrays[k].data), k).toEqual(values(t));
    }
  });

  it('overwrites atomically: the new state replaces the old and no temp files are left', () => {
    const folder = mkdtempSync(join(dir, 'overwrite-'));
    const path = join(folder, 'model.qgrd');
    const a = trainedLike(13), b = trainedLike(14);
    saveCheckpoint(path, a);
    saveCheckpoint(path, b);
    expect(readdirSync(folder)).toEqual(['model.qgrd']);
    const c = trainedLike(15);
    loadCheckpoint(path, c);
    expect(snapshot(c)).toEqual(snapshot(b));
  });

  describe('damaged or foreign files: an error naming the file, the model untouched', () => {
    let good = '';
    let bytes: Uint8Array = new Uint8Array();
    beforeAll(() => {
      good = join(dir, 'good.qgrd');
      saveCheckpoint(good, trainedLike(20));
      bytes = readFileSync(good);
    });

    function expectLoadFails(path: string, pattern: RegExp, target: Module = trainedLike(21)): Error {
      const before = snapshot(target);
      let error: unknown;
      try {
        loadCheckpoint(path, target);
      } catch (e) {
        error = e;
      }
      expect(error, 'loadCheckpoint should throw').toBeInstanceOf(Error);
      const msg = (error as Error).message;
      expect(msg.startsWith(path), `message names the file: ${msg}`).toBe(true);
      expect(msg).toMatch(pattern);
      expect(snapshot(target)).toEqual(before);
      return error as Error;
    }

    function damaged(name: string, edit: (b: Uint8Array) => Uint8Array): string {
      const path = join(dir, name);
      writeFileSync(path, edit(Uint8Array.from(bytes)));
      return path;
    }

    it('a file truncated in the data section', () => {
      const e = expectLoadFails(damaged('truncated.qgrd', (b) => b.subarray(0, b.length - 100)), /checksum mismatch|truncated|bytes/);
      expect(e).toBeInstanceOf(io.FileFormatError);
    });

    it('a file truncated to a few bytes', () => {
      expect(expectLoadFails(damaged('stub.qgrd', (b) => b.subarray(0, 10)), /truncated/)).toBeInstanceOf(io.FileFormatError);
    });

    it('one flipped bit in the data section', () => {
      const path = damaged('flipped.qgrd', (b) => {
        const headerLength = new DataView(b.buffer, b.byteOffset).getUint32(8, true);
        const dataStart = Math.ceil((12 + headerLength) / 8) * 8;
        expect(dataStart + 40).toBeLessThan(b.length - 4);
        b[dataStart + 37] ^= 0x04;
        return b;
      });
      expect(expectLoadFails(path, /checksum mismatch/)).toBeInstanceOf(io.FileFormatError);
    });

    it('wrong magic', () => {
      const path = damaged('magic.qgrd', (b) => {
        b.set([0x50, 0x4b, 0x03, 0x04], 0);
        return b;
      });
      expect(expectLoadFails(path, /not a qgrad file/)).toBeInstanceOf(io.FileFormatError);
    });

    it('a container of another kind', () => {
      const path = join(dir, 'other-kind.qgrd');
      saveContainer(path, { kind: 'qgrad.int8-model', meta: {}, arrays: { w: { dtype: 'int8', shape: [2], data: Int8Array.from([1, -1]) } } });
      expectLoadFails(path, /holds a 'qgrad\.int8-model', not a qgrad\.checkpoint/);
    });

    it('a checkpoint with an array of a dtype a float model cannot hold', () => {
      const path = join(dir, 'int8-array.qgrd');
      saveContainer(path, { kind: CHECKPOINT_KIND, meta: {}, arrays: { '0.weight': { dtype: 'uint8', shape: [1], data: Uint8Array.from([1]) } } });
      expectLoadFails(path, /'0\.weight' has dtype uint8/);
    });

    it('a checkpoint of a different architecture (other layers): missing and unexpected keys', () => {
      const path = join(dir, 'mlp.qgrd');
      saveCheckpoint(path, mlp([784, 16, 10], new Generator(1)));
      expectLoadFails(path, /missing keys: .*1\.running_mean.*unexpected keys: .*2\.weight/s);
    });

    it('a checkpoint of the same layers with other sizes: the key and both shapes', () => {
      const path = join(dir, 'wider.qgrd');
      saveCheckpoint(path, trainedLike(22, 4));
      expectLoadFails(path, /'0\.weight' has shape \[4, 1, 3, 3\] in the state but \[3, 1, 3, 3\] in the model/);
    });

    it('a missing file', () => {
      const path = join(dir, 'does-not-exist.qgrd');
      const m = trainedLike(23);
      const before = snapshot(m);
      expect(errorOf(() => loadCheckpoint(path, m))).toContain(path);
      expect(snapshot(m)).toEqual(before);
    });

    it('the intact file still loads (the damage, not the setup, caused the failures)', () => {
      const m = trainedLike(24);
      loadCheckpoint(good, m);
      expect(snapshot(m)).toEqual(snapshot(trainedLike(20)));
    });
  });
});
