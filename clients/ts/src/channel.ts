// A push-to-pull queue: a live feed pushes, a `for await` pulls. Past
// `highWater` items not yet read it asks its source to pause (the feeds
// close their connection and resume by sequence number once drained), so
// a slow reader never grows memory without bound.

export class Channel<T> implements AsyncIterableIterator<T> {
  private items: T[] = [];
  private waiters: { resolve: (r: IteratorResult<T>) => void; reject: (e: unknown) => void }[] = [];
  private failure: { error: unknown } | undefined;
  private ended = false;
  private paused = false;

  constructor(
    private readonly onClose: () => void,
    private readonly onPause: () => void = () => {},
    private readonly onResume: () => void = () => {},
    private readonly highWater = 1024,
  ) {}

  /** Whether the reader is gone or the feed ended. */
  get closed(): boolean {
    return this.ended || this.failure !== undefined;
  }

  push(item: T): void {
    if (this.closed) return;
    const w = this.waiters.shift();
    if (w) {
      w.resolve({ value: item, done: false });
      return;
    }
    this.items.push(item);
    if (!this.paused && this.items.length >= this.highWater) {
      this.paused = true;
      this.onPause();
    }
  }

  fail(error: unknown): void {
    if (this.closed) return;
    this.failure = { error };
    for (const w of this.waiters.splice(0)) w.reject(error);
    this.onClose();
  }

  next(): Promise<IteratorResult<T>> {
    if (this.items.length > 0) {
      const item = this.items.shift() as T;
      if (this.paused && this.items.length <= this.highWater / 4) {
        this.paused = false;
        this.onResume();
      }
      return Promise.resolve({ value: item, done: false });
    }
    if (this.failure) return Promise.reject(this.failure.error);
    if (this.ended) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  return(): Promise<IteratorResult<T>> {
    if (!this.closed) {
      this.ended = true;
      this.items = [];
      for (const w of this.waiters.splice(0)) w.resolve({ value: undefined, done: true });
      this.onClose();
    }
    return Promise.resolve({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<T> {
    return this;
  }
}
