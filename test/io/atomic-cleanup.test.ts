/**
 * Saves clean up their own stale temp files (issue 11 item 8): after a successful save, temp files
 * of the SAME target left by killed saves (modified before this process started, made by a process
 * that no longer exists, or by an earlier process with this pid) are removed; temp files of other
 * targets, of live writers, recent ones and unrelated names are kept.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { writeFileAtomic } from '../../src/io/atomic.js';

const dir = mkdtempSync(join(tmpdir(), 'qgrad-atomic-clean-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

it('removes stale temps of the same target only', () => {
  const deadPid = spawnSync(process.execPath, ['-e', '0']).pid!; // has exited
  const livePid = process.ppid; // alive while this test runs
  const hex = 'a1b2c3d4e5f6';
  const hourAgo = new Date(Date.now() - 3600_000);
  const make = (name: string, old = true) => {
    writeFileSync(join(dir, name), 'x'.repeat(1000));
    if (old) utimesSync(join(dir, name), hourAgo, hourAgo);
  };
  const stale = [`.model.qgrd.${deadPid}.${hex}.tmp`, `.model.qgrd.${process.pid}.${hex}.tmp`];
  const kept = [
    `.model.qgrd.${livePid}.${hex}.tmp`, // a live writer (it may still rename it)
    `.other.qgrd.${deadPid}.${hex}.tmp`, // another target
    `.model.qgrd.bak.${deadPid}.${hex}.tmp`, // a target named model.qgrd.bak
    `.model.qgrd.${deadPid}.nothex.tmp`, // not our naming
    'model.qgrd.tmp',
  ];
  for (const n of [...stale, ...kept]) make(n);
  const recent = `.model.qgrd.${deadPid}.ffffffffffff.tmp`; // modified after this process started
  make(recent, false);

  writeFileAtomic(join(dir, 'model.qgrd'), 'new contents');
  const left = readdirSync(dir).sort();
  expect(left).toEqual(['model.qgrd', ...kept, recent].sort());
});
