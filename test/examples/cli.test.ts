/**
 * The examples' command line (examples/lib/cli.ts, flag tables in examples/lib/flags.ts): every
 * failure issue 11 reproduced is a one-line CliError naming the flag, before any work; valid
 * input parses to what the help promises. Two subprocess runs check the real script's exit codes.
 */
import { getDefaultDevice } from '../../src/index.js';
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync, readdirSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CliError, parse, parseBitList, usage, checkWritableDir, type Spec } from '../../examples/lib/cli.js';
import { MNIST_QUANT_FLAGS, MNIST_TRAIN_FLAGS, MLP_TOY_FLAGS } from '../../examples/lib/flags.js';

function values<S extends Spec>(spec: S, argv: string[]) {
  const r = parse(spec, argv);
  if (r.help) throw new Error('unexpected help');
  return r.values;
}
function error(spec: Spec, argv: string[]): string {
  try {
    parse(spec, argv);
  } catch (e) {
    expect(e).toBeInstanceOf(CliError);
    const m = (e as Error).message;
    expect(m).not.toContain('\n');
    return m;
  }
  throw new Error(`no error for ${argv.join(' ')}`);
}

describe('parse: the failures of issue 11 are one-line errors naming the flag', () => {
  it.each([
    [['--epochs', '-1'], /--epochs must be an integer in 1\.\.1000, got '-1'/],
    [['--epochs=-1'], /--epochs must be an integer in 1\.\.1000, got '-1'/],
    [['--epochs', '0.5'], /--epochs must be an integer.*'0\.5'/],
    [['--epochs', '0'], /--epochs .*'0'/],
    [['--epochs', '1e3x'], /--epochs/],
    [['--bits', '8-0'], /--bits: '0' is not a bit width in 1\.\.8/],
    [['--bits', '9'], /--bits: '9' is not a bit width in 1\.\.8/],
    [['--bits', '8,,4'], /--bits: empty item/],
    [['--bits', '2.5'], /--bits: '2\.5'/],
    [['--quick=yes'], /--quick is a switch and takes no value: write --quick or --no-quick/],
    [['--retrain', 'false'], /--retrain is a switch .* not '--retrain false'/],
    [['--observer', 'bogus'], /--observer must be one of minmax, movingAverage, histogram; got 'bogus'/],
    [['--calibration', 'bogus'], /--calibration must be one of max, percentile, mse, kl; got 'bogus'/],
    [['--device', 'tpu'], /--device must be one of wasm, cpu, gpu; got 'tpu'/],
    [['--lr', '0'], /--lr must be a positive number, got '0'/],
    [['--lr', 'abc'], /--lr must be a positive number/],
    [['--lr', ''], /--lr must be a positive number/],
    [['--qat-images', '-5'], /--qat-images must be a positive integer, got '-5'/],
    [['--seed', '1.5'], /--seed must be an integer in 0\.\./],
    [['--epochs'], /--epochs needs a value/],
    [['--bogus'], /unknown flag --bogus; known flags: .*--\[no-\]quick.*--bits/],
    [['-x'], /unknown flag -x/],
    [['stray'], /unexpected argument 'stray'/],
    [['--epochs', '2', '--epochs', '3'], /--epochs is given more than once/],
    [['--no-epochs'], /unknown flag --no-epochs/],
  ])('mnist-quant %j', (argv, re) => {
    expect(error(MNIST_QUANT_FLAGS, argv as string[])).toMatch(re);
  });

  it('mnist-train: --optimizer foo, --bn false, --batch 0', () => {
    expect(error(MNIST_TRAIN_FLAGS, ['--optimizer', 'foo'])).toMatch(/--optimizer must be one of auto, sgd, adam; got 'foo'/);
    expect(error(MNIST_TRAIN_FLAGS, ['--bn', 'false'])).toMatch(/--bn is a switch and takes no value: write --bn or --no-bn/);
    expect(error(MNIST_TRAIN_FLAGS, ['--batch', '0'])).toMatch(/--batch must be an integer in 1\.\.60000, got '0'/);
    expect(error(MLP_TOY_FLAGS, ['--steps', '-3'])).toMatch(/--steps must be an integer in 1\.\./);
  });
});

describe('parse: valid input', () => {
  it('defaults: derived ones stay undefined for the script, fixed ones are the table default', () => {
    const v = values(MNIST_QUANT_FLAGS, []);
    expect(v).toEqual({
      quick: false, bits: undefined, epochs: undefined, 'qat-images': undefined, 'calib-images': undefined, lr: undefined,
      device: getDefaultDevice(), seed: 1, observer: 'movingAverage', calibration: 'mse', recipe: 'bn', retrain: false, out: 'runs', weights: 'auto', study: 'none',
      'qat-alpha': 0.05,
    });
  });
  it('switches, negations, = and space forms, negative-looking values where allowed', () => {
    const v = values(MNIST_QUANT_FLAGS, ['--quick', '--no-retrain', '--epochs=3', '--lr', '1e-3', '--bits', '8,4,2', '--out', 'x/y']);
    expect([v.quick, v.retrain, v.epochs, v.lr, v.bits, v.out]).toEqual([true, false, 3, 0.001, [8, 4, 2], 'x/y']);
    expect(values(MNIST_TRAIN_FLAGS, ['--bn']).bn).toBe(true);
    expect(values(MNIST_TRAIN_FLAGS, ['--no-bn']).bn).toBe(false);
    expect(values(MNIST_TRAIN_FLAGS, ['--optimizer', 'adam', '--limit', '100']).limit).toBe(100);
  });
  it('--help and -h win over other (even bad) flags', () => {
    expect(parse(MNIST_QUANT_FLAGS, ['--epochs', '-1', '--help']).help).toBe(true);
    expect(parse(MNIST_QUANT_FLAGS, ['-h']).help).toBe(true);
  });
  it('the help lists every flag with its meaning and default', () => {
    const text = usage('npm start --', 'summary', MNIST_QUANT_FLAGS);
    for (const [name, f] of Object.entries(MNIST_QUANT_FLAGS)) {
      const line = text.split('\n').find((l) => l.includes(f.kind === 'boolean' ? `--[no-]${name} ` : `--${name} <`));
      expect(line, name).toBeDefined();
      expect(line).toContain(f.help);
      expect(line).toMatch(/; default: .+\)$/);
    }
    expect(text).toContain('-h, --help');
  });
});

describe('parseBitList', () => {
  // Oracle: the set of widths written out by hand.
  it.each([
    ['8,4,2', [8, 4, 2]],
    ['2-4', [2, 3, 4]],
    ['4-2', [4, 3, 2]],
    ['8-1', [8, 7, 6, 5, 4, 3, 2, 1]],
    ['1-3,8,2', [1, 2, 3, 8]],
    ['4,4,4', [4]],
    [' 2 - 3 , 5 ', [2, 3, 5]],
    ['5-5', [5]],
  ])('%s', (s, want) => {
    expect(parseBitList(s, 1, 8)).toEqual(want);
  });
  it.each(['', '0', '9', '1-9', 'a', '-2', '1--2', '3,', '2-4-6', '1e1'])('%j is refused', (s) => {
    expect(() => parseBitList(s, 1, 8)).toThrow(CliError);
  });
});

describe('checkWritableDir', () => {
  it('creates a missing directory and leaves no probe behind; refuses a path under a file', () => {
    const root = mkdtempSync(join(tmpdir(), 'qgrad-cli-'));
    try {
      checkWritableDir(join(root, 'a', 'b'), '--out');
      expect(readdirSync(join(root, 'a', 'b'))).toEqual([]);
      writeFileSync(join(root, 'file'), 'x');
      // mkdir answers ENOENT under /proc: an error, not the endless loop of recursive mkdirSync
      if (existsSync('/proc/self')) expect(() => checkWritableDir('/proc/qgrad-nope/sub', '--out')).toThrow(/--out: cannot write to '\/proc\/qgrad-nope\/sub': ENOENT/);
      expect(() => checkWritableDir(join(root, 'file', 'sub'), '--out')).toThrow(/--out: cannot write to/);
      if (process.getuid?.() !== 0) {
        // root ignores permissions, so this case only says something for other users
        mkdirReadOnly(join(root, 'ro'));
        expect(() => checkWritableDir(join(root, 'ro'), '--out')).toThrow(/--out: cannot write to .*ro/);
      }
    } finally {
      chmodSync(root, 0o700);
      rmSync(root, { recursive: true, force: true });
    }
  });
});

function mkdirReadOnly(p: string): void {
  checkWritableDir(p, 'setup');
  chmodSync(p, 0o500);
}

describe('the real script (subprocess)', () => {
  const run = (args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', 'examples/mnist-quant.ts', ...args], { encoding: 'utf8', timeout: 30_000 });
  it('--epochs -1 exits 2 with one line and no stack trace, before any work', () => {
    const r = run(['--epochs', '-1', '--out', join(tmpdir(), 'qgrad-cli-never-written')]);
    expect(r.status).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr.trim().split('\n')).toEqual([`error: --epochs must be an integer in 1..1000, got '-1'`]);
  });
  it('--help exits 0 and lists the flags', () => {
    const r = run(['--help']);
    expect(r.status).toBe(0);
    for (const name of Object.keys(MNIST_QUANT_FLAGS)) expect(r.stdout).toContain(`${name}`);
    expect(r.stderr).toBe('');
  });
});
