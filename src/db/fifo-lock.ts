/**
 * Runs async work one piece at a time, in arrival order, waking exactly one waiter per
 * release. The store puts its SQLite operations through one of these because Kysely's
 * SQLite connection mutex wakes every waiter on each release (they all re-check and all
 * but one wait again): with thousands of job actors writing at once that is quadratic, and
 * it was the store's main cost. With this in front, Kysely's mutex never has a queue.
 */
export class FifoLock {
  #busy = false;
  readonly #waiters: Array<() => void> = [];
  #head = 0;

  async run<T>(work: () => Promise<T>): Promise<T> {
    if (this.#busy) {
      await new Promise<void>((resolve) => this.#waiters.push(resolve));
    } else {
      this.#busy = true;
    }
    try {
      return await work();
    } finally {
      this.#release();
    }
  }

  get waiting(): number {
    return this.#waiters.length - this.#head;
  }

  #release(): void {
    if (this.#head < this.#waiters.length) {
      const next = this.#waiters[this.#head] as () => void;
      this.#head += 1;
      // Compact now and then so a long-lived lock does not keep every resolver it ever held.
      if (this.#head > 1024 && this.#head * 2 > this.#waiters.length) {
        this.#waiters.splice(0, this.#head);
        this.#head = 0;
      }
      // Ownership passes straight to the next waiter; `#busy` stays true.
      next();
    } else {
      this.#busy = false;
    }
  }
}
