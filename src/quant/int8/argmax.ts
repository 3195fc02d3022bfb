/**
 * The predicted class of each example: the arg-max of its row of logits, the first maximum on
 * ties (as torch.argmax). Shared by the chain and graph int8 engines.
 */
export function argmaxRows(logits: ArrayLike<number>, batch: number, classes: number): Int32Array {
  const out = new Int32Array(batch);
  for (let n = 0; n < batch; n++) {
    let best = 0;
    for (let c = 1; c < classes; c++) if (logits[n * classes + c] > logits[n * classes + best]) best = c;
    out[n] = best;
  }
  return out;
}
