/**
 * The PyTorch peer as a long-lived child process (bench/peers/torch_bench.py --serve): each
 * request runs ONE sample of a named case in PyTorch and answers its milliseconds, timed inside
 * Python. bench/run.ts puts it in the same round-robin as the qgrad columns, so the two are
 * sampled alternately (qgrad, torch, qgrad, torch, ...) and compared pair by pair. Optional: where
 * /usr/bin/python3 or torch is missing, `startTorchPeer` returns the reason and the bench goes on.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createInterface, type Interface } from 'node:readline';
import { join } from 'node:path';

export interface TorchPeer {
  version: string;
  threads: number;
  cases: Set<string>;
  /** One sample of `name`, in ms as PyTorch timed it. */
  sample(name: string): Promise<number>;
  close(): void;
}

export async function startTorchPeer(root: string, threads = 1, python = '/usr/bin/python3'): Promise<TorchPeer | { error: string }> {
  let child: ChildProcessWithoutNullStreams;
  try {
    child = spawn(python, [join(root, 'bench/peers/torch_bench.py'), '--serve', String(threads)], { stdio: 'pipe' });
  } catch (e) {
    return { error: `PyTorch peer not started (${(e as Error).message})` };
  }
  let stderr = '';
  child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
  const lines: Interface = createInterface({ input: child.stdout });
  const waiting: ((line: string | null) => void)[] = [];
  lines.on('line', (l) => waiting.shift()?.(l));
  const ended = new Promise<void>((res) => {
    child.on('error', () => res());
    child.on('close', () => res());
  });
  void ended.then(() => { while (waiting.length) waiting.shift()!(null); });
  const next = () => new Promise<string | null>((res) => waiting.push(res));
  const hello = await next();
  if (hello === null) {
    return { error: `PyTorch not available (${python} bench/peers/torch_bench.py --serve: ${stderr.trim().split('\n').at(-1) || 'could not start or exited'})` };
  }
  const info = JSON.parse(hello) as { torch: string; threads: number; cases: string[] };
  return {
    version: info.torch,
    threads: info.threads,
    cases: new Set(info.cases),
    async sample(name: string): Promise<number> {
      const answer = next();
      child.stdin.write(`${name}\n`);
      const line = await answer;
      if (line === null) throw new Error(`PyTorch peer exited: ${stderr.trim().split('\n').at(-1) ?? ''}`);
      const r = JSON.parse(line) as { ms?: number; error?: string };
      if (r.ms === undefined) throw new Error(`PyTorch peer: ${r.error ?? line}`);
      return r.ms;
    },
    close() {
      child.stdin.end();
    },
  };
}
