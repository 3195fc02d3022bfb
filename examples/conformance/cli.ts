/**
 * The conformance kit's command line (the only part that touches files):
 *
 *   npx tsx examples/conformance/cli.ts vectors --convention pytorch [--rounding halfEven] --bits 8,4 [--seed 1] --out dir
 *       writes dir/vectors.json and dir/vectors.bin (docs/conformance.md documents both)
 *   npx tsx examples/conformance/cli.ts check --vectors dir --outputs file.json [--max 20]
 *       compares another implementation's outputs with the vectors; exit 1 on any mismatch
 *   npx tsx examples/conformance/cli.ts suite --kernel NAME [--seed N] [--runs N]
 *       runs the property suites on one of the kernels below and prints the report; exit 1 on failure
 *
 * Bad flags: one line on stderr naming the flag and what it allows, exit 2.
 */
import { existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

import {
  checkOutputs,
  decodeVectors,
  encodeVectors,
  formatCheck,
  formatReport,
  generateVectors,
  runConformance,
  validateOutputs,
  type KernelsUnderTest,
  type VectorSet,
} from '../../src/testing/index.js';
import { KERNELS } from './kernels.js';
import { writeFileAtomic } from '../../src/node.js';

/** A bad flag or input file: reported in one line, exit 2. */
class UsageError extends Error {}

const USAGE = 'usage: cli.ts vectors --convention pytorch|tflite [--rounding halfEven|halfAwayFromZero] --bits 8,4 [--seed N] --out DIR | check --vectors DIR --outputs FILE [--max N] | suite --kernel NAME [--seed N] [--runs N]';

function intFlag(name: string, v: string | undefined, min: number, max: number, fallback: number): number {
  if (v === undefined) return fallback;
  if (!/^\d+$/.test(v) || Number(v) < min || Number(v) > max) throw new UsageError(`--${name} must be an integer in ${min}..${max}, got ${JSON.stringify(v)}`);
  return Number(v);
}

function vectors(args: string[]): number {
  const { values } = parseArgs({ args, options: { convention: { type: 'string' }, rounding: { type: 'string' }, bits: { type: 'string' }, seed: { type: 'string' }, out: { type: 'string' } }, strict: true });
  const convention = values.convention;
  if (convention !== 'pytorch' && convention !== 'tflite') throw new UsageError(`--convention must be pytorch or tflite, got ${JSON.stringify(convention ?? null)}`);
  const rounding = values.rounding;
  if (rounding !== undefined && rounding !== 'halfEven' && rounding !== 'halfAwayFromZero') {
    throw new UsageError(`--rounding must be halfEven or halfAwayFromZero, got ${JSON.stringify(rounding)}`);
  }
  if (values.bits === undefined || !/^\d+(,\d+)*$/.test(values.bits)) throw new UsageError(`--bits must be a comma-separated list of integers in 1..16, e.g. 8,4, got ${JSON.stringify(values.bits ?? null)}`);
  const bits = values.bits.split(',').map(Number);
  const bad = bits.find((b) => b < 1 || b > 16);
  if (bad !== undefined) throw new UsageError(`--bits must be a comma-separated list of integers in 1..16, got ${bad}`);
  if (new Set(bits).size !== bits.length) throw new UsageError(`--bits lists a width twice: ${values.bits}`);
  const seed = intFlag('seed', values.seed, 0, 0xffffffff, 1);
  if (values.out === undefined || values.out === '') throw new UsageError('--out must name the directory to write vectors.json and vectors.bin into');
  if (existsSync(values.out) && !statSync(values.out).isDirectory()) throw new UsageError(`--out ${values.out} exists and is not a directory`);
  const set = generateVectors({ convention, rounding, bits, seed });
  mkdirSync(values.out, { recursive: true });
  writeFileAtomic(join(values.out, 'vectors.json'), JSON.stringify(set) + '\n');
  writeFileAtomic(join(values.out, 'vectors.bin'), encodeVectors(set));
  const ties = set.quant.filter((q) => q.flags.includes('tie')).length;
  console.log(`wrote ${values.out}/vectors.{json,bin}: ${set.groups.length} groups, ${set.quant.length} quant records (${ties} exact ties), ${set.requantize.length} requantize records (${set.convention}, ${set.rounding}, bits ${set.bits.join(',')})`);
  return 0;
}

function readVectors(dir: string): VectorSet {
  const bin = join(dir, 'vectors.bin');
  const json = join(dir, 'vectors.json');
  if (existsSync(bin)) return decodeVectors(readFileSync(bin), bin);
  if (existsSync(json)) return JSON.parse(readFileSync(json, 'utf8')) as VectorSet;
  throw new UsageError(`--vectors ${dir} holds neither vectors.bin nor vectors.json`);
}

function check(args: string[]): number {
  const { values } = parseArgs({ args, options: { vectors: { type: 'string' }, outputs: { type: 'string' }, max: { type: 'string' } }, strict: true });
  if (!values.vectors) throw new UsageError('--vectors must name a directory written by the vectors command');
  if (!values.outputs) throw new UsageError('--outputs must name a JSON file of the implementation\'s outputs');
  const max = intFlag('max', values.max, 0, 1e9, 20);
  if (!existsSync(values.outputs)) throw new UsageError(`--outputs ${values.outputs} does not exist`);
  const set = readVectors(values.vectors);
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(values.outputs, 'utf8'));
  } catch (e) {
    throw new UsageError(`--outputs ${values.outputs} is not JSON: ${(e as Error).message}`);
  }
  const result = checkOutputs(set, validateOutputs(parsed, values.outputs));
  console.log(formatCheck(result, max));
  return result.mismatches.length ? 1 : 0;
}

async function suite(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: { kernel: { type: 'string' }, seed: { type: 'string' }, runs: { type: 'string' } }, strict: true });
  const names = Object.keys(KERNELS);
  if (values.kernel === undefined || !names.includes(values.kernel)) throw new UsageError(`--kernel must be one of ${names.join(', ')}, got ${JSON.stringify(values.kernel ?? null)}`);
  const seed = intFlag('seed', values.seed, 0, 0x7fffffff, 20261206);
  const numRuns = intFlag('runs', values.runs, 1, 100000, 200);
  const impl: KernelsUnderTest = await KERNELS[values.kernel]();
  const report = runConformance(impl, { seed, numRuns });
  console.log(formatReport(report));
  return report.passed ? 0 : 1;
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === 'vectors') return vectors(rest);
  if (command === 'check') return check(rest);
  if (command === 'suite') return suite(rest);
  throw new UsageError(`the command must be vectors, check or suite, got ${JSON.stringify(command ?? null)}; ${USAGE}`);
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: unknown) => {
    // Bad flags and unreadable input files alike: one line, exit 2 (1 is kept for "does not conform").
    console.error(`conformance: ${(e as Error).message.split('\n')[0]}`);
    process.exit(2);
  },
);
