/**
 * Command-line flags for the examples, on node:util's parseArgs, validated before any work starts.
 *
 * A flag table (FlagSpec per name) says each flag's kind, meaning and default; `parse(spec, argv)`
 * is pure (no I/O, no exit): it returns the typed values, or `{ help: true }`, or throws a
 * CliError whose message is one line naming the flag, what it accepts and what it got.
 * `runCli` is the thin impure wrapper the scripts call: it prints `--help` and exits 0, prints
 * an error as one line (no stack trace) and exits 2, and checks that output locations can be
 * written (by creating and removing a probe file) before the job starts.
 *
 * Why not a plain `--k v` loop: that is what let `--quick=yes` read as false, `--epochs 0.5` run
 * one epoch and `--optimizer foo` train with SGD (issue 11). Exit code 2 is the usual one for
 * usage errors (getopt, argparse).
 */
import { parseArgs } from 'node:util';
import { existsSync, mkdirSync, writeFileSync, unlinkSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

export type FlagSpec =
  | { kind: 'boolean'; help: string; default: boolean }
  /** An integer in [min, max]; `default` undefined means the script derives it (defaultText says how). */
  | { kind: 'int'; help: string; min?: number; max?: number; default?: number; defaultText?: string }
  /** A finite number; positive: > 0. */
  | { kind: 'number'; help: string; positive?: boolean; default?: number; defaultText?: string }
  | { kind: 'choice'; help: string; choices: readonly string[]; default: string }
  /** A list of bit widths: '8,4,2', '2-4', '8-1', '1-3,8', each in [min, max], duplicates dropped. */
  | { kind: 'bits'; help: string; min: number; max: number; default?: string; defaultText?: string }
  /** A directory the job writes into (created if missing; must be writable). */
  | { kind: 'dir'; help: string; default: string }
  /** A file the job writes (its directory is created if missing and must be writable). */
  | { kind: 'file'; help: string; default: string }
  /** A file the job reads: must exist when given; `default` undefined means the script finds one. */
  | { kind: 'input'; help: string; default?: string; defaultText?: string };

export type Spec = Record<string, FlagSpec>;

type ValueOf<F extends FlagSpec> =
  F extends { kind: 'boolean' } ? boolean
  : F extends { kind: 'int' | 'number' } ? (F extends { default: number } ? number : number | undefined)
  : F extends { kind: 'bits' } ? (F extends { default: string } ? number[] : number[] | undefined)
  : F extends { kind: 'input' } ? (F extends { default: string } ? string : string | undefined)
  : string;

export type Values<S extends Spec> = { [K in keyof S]: ValueOf<S[K]> };

export type ParseResult<S extends Spec> = { help: true } | { help: false; values: Values<S> };

/** A usage error: its message is the whole one-line report. */
export class CliError extends Error {
  override name = 'CliError';
}

const BOOLEAN_WORDS = /^(true|false|yes|no|on|off|0|1)$/i;
const NEGATIVE_NUMBER = /^-(\d|\.\d)/;

/** Parses and validates argv against the flag table. Pure: throws CliError, never exits. */
export function parse<S extends Spec>(spec: S, argv: readonly string[]): ParseResult<S> {
  const names = Object.keys(spec);
  const known = () => names.map((n) => (spec[n].kind === 'boolean' ? `--[no-]${n}` : `--${n}`)).join(' ') + ' --help';
  // --help wins over everything else, as in most tools: `cmd --bogus --help` still shows help.
  const end = argv.indexOf('--');
  const flagsPart = end < 0 ? argv : argv.slice(0, end);
  if (flagsPart.includes('--help') || flagsPart.includes('-h')) return { help: true };

  // Pre-pass for the two cases parseArgs reports obscurely: a switch given a value as the next
  // word (`--bn false`) and a negative number as the next word (`--epochs -1`, "ambiguous").
  const args: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const name = a.startsWith('--') && !a.includes('=') ? a.slice(2) : null;
    const f = name !== null ? spec[name] : undefined;
    const next = argv[i + 1];
    if (f?.kind === 'boolean' && next !== undefined && BOOLEAN_WORDS.test(next)) {
      throw new CliError(`${a} is a switch and takes no value: write ${a} or --no-${name}, not '${a} ${next}'`);
    }
    if (f && f.kind !== 'boolean' && next !== undefined && NEGATIVE_NUMBER.test(next)) {
      args.push(`${a}=${next}`);
      i++;
      continue;
    }
    args.push(a);
  }

  const options: Record<string, { type: 'boolean' | 'string' }> = {};
  for (const n of names) options[n] = { type: spec[n].kind === 'boolean' ? 'boolean' : 'string' };
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({ args, options, strict: true, allowPositionals: false, allowNegative: true, tokens: true });
  } catch (e) {
    const err = e as Error & { code?: string };
    const first = err.message.split('\n')[0];
    const opt = /'(-[^' ]+)/.exec(first)?.[1] ?? '';
    if (err.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') throw new CliError(`unknown flag ${opt}; known flags: ${known()}`);
    if (err.code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL') {
      const word = /argument '([^']*)'/.exec(first)?.[1] ?? '';
      throw new CliError(`unexpected argument '${word}': every setting is a --flag (see --help)`);
    }
    if (err.code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
      if (/does not take an argument/.test(first)) throw new CliError(`${opt} is a switch and takes no value: write ${opt} or --no-${opt.slice(2)}`);
      if (/argument missing/.test(first)) throw new CliError(`${opt} needs a value (${describe(spec[opt.slice(2)])})`);
    }
    throw new CliError(first);
  }

  // A flag given twice is more likely a mistake than an intended override.
  const seen = new Set<string>();
  for (const t of parsed.tokens ?? []) {
    if (t.kind !== 'option') continue;
    if (seen.has(t.name)) throw new CliError(`--${t.name} is given more than once`);
    seen.add(t.name);
  }
  const values: Record<string, unknown> = {};
  for (const n of names) {
    const f = spec[n];
    const given = (parsed.values as Record<string, string | boolean | undefined>)[n];
    values[n] = given === undefined ? defaultValue(f) : convert(n, f, given);
  }
  return { help: false, values: values as Values<S> };
}

function defaultValue(f: FlagSpec): unknown {
  if (f.kind === 'bits') return f.default === undefined ? undefined : parseBitList(f.default, f.min, f.max, 'default');
  return f.default;
}

function convert(name: string, f: FlagSpec, v: string | boolean): unknown {
  const flag = `--${name}`;
  if (f.kind === 'boolean') return v as boolean;
  const s = v as string;
  switch (f.kind) {
    case 'int': {
      const lo = f.min ?? Number.MIN_SAFE_INTEGER, hi = f.max ?? Number.MAX_SAFE_INTEGER;
      const n = /^[+-]?\d+$/.test(s.trim()) ? Number(s) : NaN;
      if (!Number.isSafeInteger(n) || n < lo || n > hi) throw new CliError(`${flag} must be ${describe(f)}, got '${s}'`);
      return n;
    }
    case 'number': {
      const n = s.trim() === '' ? NaN : Number(s);
      if (!Number.isFinite(n) || (f.positive && !(n > 0))) throw new CliError(`${flag} must be ${describe(f)}, got '${s}'`);
      return n;
    }
    case 'choice':
      if (!f.choices.includes(s)) throw new CliError(`${flag} must be one of ${f.choices.join(', ')}; got '${s}'`);
      return s;
    case 'bits':
      return parseBitList(s, f.min, f.max, flag);
    case 'dir':
    case 'file':
      if (s.trim() === '') throw new CliError(`${flag} needs a non-empty path`);
      return s;
    case 'input':
      if (s.trim() === '') throw new CliError(`${flag} needs a non-empty path`);
      if (!existsSync(s) || !statSync(s).isFile()) throw new CliError(`${flag}: no such file '${s}'`);
      return s;
  }
}

/**
 * '8,4,2' -> [8, 4, 2]; '2-4' -> [2, 3, 4]; '4-2' -> [4, 3, 2]; '1-3,8,2' -> [1, 2, 3, 8]: the order
 * given (the sweep runs in that order), each width once, every width an integer in [min, max].
 */
export function parseBitList(s: string, min: number, max: number, flag = '--bits'): number[] {
  const out: number[] = [];
  const int = (t: string): number => {
    const n = /^\d+$/.test(t) ? Number(t) : NaN;
    if (!Number.isSafeInteger(n) || n < min || n > max) {
      throw new CliError(`${flag}: '${t}' is not a bit width in ${min}..${max} (write a list like 8,4,2 or a range like 2-4), in '${s}'`);
    }
    return n;
  };
  for (const item of s.split(',')) {
    const t = item.trim();
    if (t === '') throw new CliError(`${flag}: empty item in '${s}' (write a list like 8,4,2 or a range like 2-4)`);
    const m = /^(\d+)\s*-\s*(\d+)$/.exec(t);
    if (m) {
      const a = int(m[1]), b = int(m[2]);
      const step = a <= b ? 1 : -1;
      for (let k = a; k !== b + step; k += step) if (!out.includes(k)) out.push(k);
    } else {
      const k = int(t);
      if (!out.includes(k)) out.push(k);
    }
  }
  return out;
}

function describe(f: FlagSpec | undefined): string {
  if (!f) return 'a value';
  switch (f.kind) {
    case 'boolean':
      return 'a switch';
    case 'int':
      if (f.min !== undefined && f.max !== undefined) return `an integer in ${f.min}..${f.max}`;
      if (f.min !== undefined) return f.min === 1 ? 'a positive integer' : `an integer >= ${f.min}`;
      return 'an integer';
    case 'number':
      return f.positive ? 'a positive number' : 'a finite number';
    case 'choice':
      return `one of ${f.choices.join('|')}`;
    case 'bits':
      return `bit widths in ${f.min}..${f.max}, e.g. 8,4,2 or 2-4`;
    case 'dir':
      return 'a writable directory';
    case 'input':
      return 'an existing file';
    case 'file':
      return 'a file path in a writable directory';
  }
}

/** The --help text: one line per flag with what it takes, its meaning and its default. */
export function usage(command: string, summary: string, spec: Spec): string {
  const rows = Object.entries(spec).map(([n, f]) => {
    const left = f.kind === 'boolean' ? `--[no-]${n}` : `--${n} <${f.kind === 'choice' ? f.choices.join('|') : f.kind === 'bits' ? 'bits' : f.kind === 'dir' || f.kind === 'file' ? 'path' : f.kind === 'int' ? 'int' : 'x'}>`;
    const dflt = 'defaultText' in f && f.defaultText !== undefined ? f.defaultText : f.default === undefined ? '-' : String(f.default);
    return { left, right: `${f.help} (${describe(f)}; default: ${dflt})` };
  });
  rows.push({ left: '-h, --help', right: 'print this help and exit' });
  const w = Math.max(...rows.map((r) => r.left.length)) + 2;
  return `${summary}\n\nusage: ${command} [flags]\n\n${rows.map((r) => `  ${r.left.padEnd(w)}${r.right}`).join('\n')}\n`;
}

/** Fails unless `dir` can be created and written: creates it, writes and removes a probe file. */
export function checkWritableDir(dir: string, flag: string): void {
  try {
    makeDirs(dir);
    if (!statSync(dir).isDirectory()) throw new Error('not a directory');
    const probe = join(dir, `.qgrad-write-probe-${process.pid}`);
    writeFileSync(probe, '');
    unlinkSync(probe);
  } catch (e) {
    throw new CliError(`${flag}: cannot write to '${dir}': ${((e as Error).message ?? String(e)).split('\n')[0]}`);
  }
}

/**
 * mkdir -p, one level at a time. Not mkdirSync(dir, { recursive: true }): on Node 20 that loops
 * forever where mkdir(2) answers ENOENT under an existing parent (e.g. `--out /proc/x`).
 */
function makeDirs(dir: string): void {
  const missing: string[] = [];
  for (let p = resolve(dir); !existsSync(p); p = dirname(p)) {
    missing.push(p);
    if (dirname(p) === p) break;
  }
  for (const d of missing.reverse()) mkdirSync(d);
}

/** Prints one line to stderr and exits 2 (a usage error). */
export function exitUsage(message: string): never {
  process.stderr.write(`error: ${message}\n`);
  process.exit(2);
}

/**
 * What the scripts call: parse, print help (exit 0) or one-line errors (exit 2), check output
 * locations, and return the values.
 */
export function runCli<S extends Spec>(command: string, summary: string, spec: S, argv: readonly string[] = process.argv.slice(2)): Values<S> {
  try {
    const r = parse(spec, argv);
    if (r.help) {
      process.stdout.write(usage(command, summary, spec));
      process.exit(0);
    }
    for (const [n, f] of Object.entries(spec)) {
      const v = (r.values as Record<string, unknown>)[n] as string;
      if (f.kind === 'dir') checkWritableDir(v, `--${n}`);
      if (f.kind === 'file') {
        let isDir = false;
        try {
          isDir = statSync(v).isDirectory();
        } catch {
          /* does not exist yet: fine */
        }
        if (isDir) throw new CliError(`--${n}: '${v}' is a directory; give a file path`);
        checkWritableDir(dirname(v), `--${n}`);
      }
    }
    return r.values;
  } catch (e) {
    if (e instanceof CliError) exitUsage(e.message);
    throw e;
  }
}

/**
 * `--model cnn|resnet` chooses which sweep (and so which flag table) the main job runs, so it is
 * read before the rest: returns the model and the remaining arguments. A bad value is a usage
 * error (one line, exit 2).
 */
export function pickModel(argv: readonly string[]): { model: 'cnn' | 'resnet'; rest: string[] } {
  const rest = [...argv];
  const at = rest.findIndex((a) => a === '--model' || a.startsWith('--model='));
  if (at < 0) return { model: 'cnn', rest };
  const value = rest[at].includes('=') ? rest[at].slice('--model='.length) : rest[at + 1];
  if (value !== 'cnn' && value !== 'resnet') exitUsage(`--model must be one of cnn, resnet; got '${value ?? ''}'`);
  rest.splice(at, rest[at].includes('=') ? 1 : 2);
  return { model: value, rest };
}
