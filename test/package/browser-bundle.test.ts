/**
 * Every browser entry of the package bundles for the browser: esbuild follows each one's whole
 * import graph (dependencies included) with platform 'browser', and a plugin records every import of
 * a Node built-in (node:fs, path, crypto, module, worker_threads, ...) that the browser field of its
 * package does not map away. The entries must have none;
 * the ./node entry is the control that shows the check can fail.
 */
import { builtinModules } from 'node:module';
import { join } from 'node:path';
import { build, type Plugin } from 'esbuild';
import { describe, expect, it } from 'vitest';
import pkg from '../../package.json' with { type: 'json' };

const root = join(import.meta.dirname, '../..');
const builtins = new Set(builtinModules.flatMap((m) => [m, `node:${m}`]));

/** Bundles `entry` for the browser; returns the Node built-ins its import graph asks for, with who asks. */
async function nodeImportsOf(entry: string): Promise<string[]> {
  const found: string[] = [];
  const catchBuiltins: Plugin = {
    name: 'catch-node-builtins',
    setup(b) {
      b.onResolve({ filter: /.*/ }, async (args) => {
        if (args.pluginData === 'inner' || !builtins.has(args.path)) return undefined;
        // A package may map a built-in away for browsers ("browser": { "fs": false }, as protobufjs
        // does for its guarded require): ask esbuild's own resolver first.
        const r = await b.resolve(args.path, { kind: args.kind, importer: args.importer, resolveDir: args.resolveDir, pluginData: 'inner' });
        if (r.errors.length === 0 && !r.external) return undefined; // mapped away: esbuild resolves it itself
        found.push(`${args.path} (imported by ${args.importer.replace(root, '')})`);
        return { path: args.path, external: true };
      });
    },
  };
  await build({
    entryPoints: [join(root, entry)], bundle: true, write: false, platform: 'browser', format: 'esm',
    target: 'es2022', logLevel: 'silent', plugins: [catchBuiltins],
  });
  return found;
}

const exportsMap = pkg.exports as Record<string, { source: string } | string>;
const browserEntries = ['.', './quant', './numerics', './gpu', './testing'];

describe('browser entries bundle without Node built-ins', () => {
  it('the package lists exactly these entries plus ./node', () => {
    expect(Object.keys(exportsMap).filter((k) => k !== './package.json').sort()).toEqual([...browserEntries, './node'].sort());
  });

  for (const name of browserEntries) {
    it(`${name} (${(exportsMap[name] as { source: string }).source})`, async () => {
      expect(await nodeImportsOf((exportsMap[name] as { source: string }).source)).toEqual([]);
    }, 60_000);
  }

  it('the check sees Node built-ins: ./node imports fs', async () => {
    const found = await nodeImportsOf((exportsMap['./node'] as { source: string }).source);
    expect(found.some((f) => f.startsWith('node:fs '))).toBe(true);
  }, 60_000);
});
