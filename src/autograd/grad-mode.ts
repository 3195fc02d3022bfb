/** Whether operations record the graph. noGrad(fn) turns recording off inside fn (torch.no_grad). */
let disabledDepth = 0;

export function isGradEnabled(): boolean {
  return disabledDepth === 0;
}

export function noGrad<T>(fn: () => T): T {
  disabledDepth++;
  try {
    return fn();
  } finally {
    disabledDepth--;
  }
}
