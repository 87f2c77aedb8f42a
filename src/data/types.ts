/**
 * A labelled data set held in memory.
 * `x` holds n examples one after the other, each in NHWC order (height, width, channels),
 * as float32 values (ubyte images already scaled by 1/255). `y` holds integer labels in [0, numClasses).
 */
export interface Dataset {
  /** Where the data came from, e.g. "mnist", "idx:/data/mnist", "cifar10:/data/cifar", "synthetic". */
  name: string;
  /** Shape of one example: [height, width, channels]. MNIST is [28, 28, 1], CIFAR-10 is [32, 32, 3]. */
  shape: [number, number, number];
  numClasses: number;
  /**
   * True when numClasses was inferred from the labels (the largest training label + 1: IDX files),
   * not given by the data set (MNIST, CIFAR-10: 10; synthetic: classes=) or by --classes.
   */
  classesInferred?: boolean;
  /** Number of examples. */
  n: number;
  x: Float32Array;
  y: Int32Array;
}

/** A training and a test part; the test part may be absent (a folder with only training files). */
export interface DataSplit {
  train: Dataset;
  test: Dataset | null;
}

/** Per-channel normalisation statistics, computed on the training set. */
export interface ChannelStats {
  mean: number[];
  std: number[];
}

export function exampleSize(d: Pick<Dataset, 'shape'>): number {
  return d.shape[0] * d.shape[1] * d.shape[2];
}
