/**
 * Confusion matrix and per-class accuracy of a classifier's predictions: which digits a quantized
 * model loses, not only how many. matrix[t][p] counts test images of true class t predicted as p;
 * per-class accuracy is the diagonal over each row's total (recall), null for a class with no
 * images (0/0 is not 0%).
 */
export function confusionMatrix(labels: ArrayLike<number>, predictions: ArrayLike<number>, classes: number): number[][] {
  if (labels.length !== predictions.length) throw new Error(`confusionMatrix: ${labels.length} labels but ${predictions.length} predictions`);
  const m = Array.from({ length: classes }, () => new Array<number>(classes).fill(0));
  for (let i = 0; i < labels.length; i++) {
    const t = labels[i], p = predictions[i];
    if (!(t >= 0 && t < classes && p >= 0 && p < classes && Number.isInteger(t) && Number.isInteger(p))) {
      throw new Error(`confusionMatrix: example ${i} has label ${t} and prediction ${p}, outside 0..${classes - 1}`);
    }
    m[t][p]++;
  }
  return m;
}

export function perClassAccuracy(matrix: number[][]): (number | null)[] {
  return matrix.map((row, t) => {
    const total = row.reduce((a, b) => a + b, 0);
    return total === 0 ? null : row[t] / total;
  });
}

/** What results.json stores per model. */
export function classReport(labels: ArrayLike<number>, predictions: ArrayLike<number>, classes = 10) {
  const confusion = confusionMatrix(labels, predictions, classes);
  const correct = confusion.reduce((a, row, t) => a + row[t], 0);
  return { accuracy: correct / Math.max(labels.length, 1), perClassAccuracy: perClassAccuracy(confusion), confusion };
}
