import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { writeFileAtomic } from '../../src/io/atomic.js';

const root = mkdtempSync(join(tmpdir(), 'qgrad-atomic-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

let n = 0;
/** A fresh directory holding `target` with the given old contents. */
function setup(old?: string): { dir: string; target: string } {
  const dir = join(root, `case-${n++}`);
  mkdirSync(dir);
  const target = join(dir, 'model.qgrd');
  if (old !== undefined) writeFileSync(target, old);
  return { dir, target };
}

describe('writeFileAtomic', () => {
  it('creates a file and leaves nothing else behind', () => {
    const { dir, target } = setup();
    writeFileAtomic(target, Uint8Array.from([1, 2, 3]));
    expect(Array.from(readFileSync(target))).toEqual([1, 2, 3]);
    expect(readdirSync(dir)).toEqual(['model.qgrd']);
  });

  it('replaces an existing file with a string or a stream of chunks', () => {
    const { dir, target } = setup('old contents');
    writeFileAtomic(target, 'new ✓');
    expect(readFileSync(target, 'utf8')).toBe('new ✓');
    function* chunks() {
      yield new TextEncoder().encode('ab');
      yield new Uint8Array(0);
      yield new TextEncoder().encode('cd');
    }
    writeFileAtomic(target, chunks());
    expect(readFileSync(target, 'utf8')).toBe('abcd');
    expect(readdirSync(dir)).toEqual(['model.qgrd']);
  });

  it('keeps the old file intact when the data source fails midway, and removes the temp file', () => {
    const { dir, target } = setup('old contents');
    const boom = new Error('data source failed');
    let yielded = false;
    function* failing() {
      yield new Uint8Array(64 * 1024).fill(7); // something really is written to the temp file first
      yielded = true;
      throw boom;
    }
    expect(() => writeFileAtomic(target, failing())).toThrow(boom);
    expect(yielded).toBe(true);
    expect(readFileSync(target, 'utf8')).toBe('old contents');
    expect(readdirSync(dir)).toEqual(['model.qgrd']);
  });

  it('removes the temp file when the final rename fails', () => {
    const { dir, target } = setup();
    mkdirSync(target); // a non-empty directory cannot be replaced by a file
    writeFileSync(join(target, 'inside'), 'x');
    expect(() => writeFileAtomic(target, 'data')).toThrow(/EISDIR|ENOTEMPTY|EEXIST|EPERM/);
    expect(readdirSync(dir)).toEqual(['model.qgrd']);
    expect(readFileSync(join(target, 'inside'), 'utf8')).toBe('x');
  });

  it('fails cleanly when the directory does not exist', () => {
    const { dir } = setup();
    const target = join(dir, 'gone', 'model.qgrd');
    expect(() => writeFileAtomic(target, 'data')).toThrow(/ENOENT/);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('fails cleanly when its directory disappears during the write', () => {
    const { dir } = setup();
    const sub = join(dir, 'sub');
    mkdirSync(sub);
    const target = join(sub, 'model.qgrd');
    function* removesDir() {
      yield new Uint8Array([1]);
      rmSync(sub, { recursive: true, force: true });
      yield new Uint8Array([2]);
    }
    expect(() => writeFileAtomic(target, removesDir())).toThrow(/ENOENT/);
    expect(readdirSync(dir)).toEqual([]);
  });

  it.skipIf(process.platform === 'win32')('keeps the permission bits of the file it replaces', () => {
    const { target } = setup('secret');
    chmodSync(target, 0o600);
    writeFileAtomic(target, 'new secret');
    expect(statSync(target).mode & 0o777).toBe(0o600);
    writeFileAtomic(target, 'public', { mode: 0o644 });
    expect(statSync(target).mode & 0o777).toBe(0o644);
  });

  it.skipIf(process.platform === 'win32')('a process killed mid-write leaves the old file intact', () => {
    const { dir, target } = setup('old contents');
    const moduleUrl = pathToFileURL(resolve('src/io/atomic.ts')).href;
    const script = `
      import { writeFileAtomic } from ${JSON.stringify(moduleUrl)};
      function* dies() {
        yield new Uint8Array(1024).fill(65);
        process.kill(process.pid, 'SIGKILL');
      }
      writeFileAtomic(${JSON.stringify(target)}, dies());
    `;
    const child = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      cwd: resolve('.'),
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(child.signal).toBe('SIGKILL');
    expect(readFileSync(target, 'utf8')).toBe('old contents');
    // The killed writer's temp file is the only other thing there, and it is a dotfile.
    const others = readdirSync(dir).filter((f) => f !== 'model.qgrd');
    expect(others).toHaveLength(1);
    expect(others[0]).toMatch(/^\.model\.qgrd\.\d+\.[0-9a-f]{12}\.tmp$/);
    expect(readFileSync(join(dir, others[0]!)).length).toBe(1024);
  });
});
