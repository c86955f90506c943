/**
 * ComfyUI's PromptQueue: a Python heapq of queue entries plus the running set. The heap is kept
 * with heapq's exact sift rules because GET /queue shows the raw heap list (not sorted), and
 * clients must cope with that order (T11).
 */
export type QueueEntry = [number, string, Record<string, unknown>, Record<string, unknown>, string[]];

function less(a: QueueEntry, b: QueueEntry): boolean {
  if (a[0] !== b[0]) return a[0] < b[0];
  return a[1] < b[1];
}

function siftDown(heap: QueueEntry[], start: number, pos: number): void {
  const item = heap[pos]!;
  while (pos > start) {
    const parentPos = (pos - 1) >> 1;
    const parent = heap[parentPos]!;
    if (!less(item, parent)) break;
    heap[pos] = parent;
    pos = parentPos;
  }
  heap[pos] = item;
}

function siftUp(heap: QueueEntry[], pos: number): void {
  const end = heap.length;
  const start = pos;
  const item = heap[pos]!;
  let child = 2 * pos + 1;
  while (child < end) {
    const right = child + 1;
    if (right < end && !less(heap[child]!, heap[right]!)) child = right;
    heap[pos] = heap[child]!;
    pos = child;
    child = 2 * pos + 1;
  }
  heap[pos] = item;
  siftDown(heap, start, pos);
}

export class PromptQueue {
  private heap: QueueEntry[] = [];
  private running: QueueEntry | null = null;

  constructor(private readonly onChange: () => void) {}

  put(entry: QueueEntry): void {
    this.heap.push(entry);
    siftDown(this.heap, 0, this.heap.length - 1);
    this.onChange();
  }

  /** The worker takes the smallest entry; it still counts as remaining while it runs. */
  take(): QueueEntry | null {
    const last = this.heap.pop();
    if (!last) return null;
    let item = last;
    if (this.heap.length > 0) {
      item = this.heap[0]!;
      this.heap[0] = last;
      siftUp(this.heap, 0);
    }
    this.running = item;
    this.onChange();
    return item;
  }

  /** task_done: the running entry leaves (the caller stores history first). */
  finishRunning(): void {
    this.running = null;
    this.onChange();
  }

  remaining(): number {
    return this.heap.length + (this.running ? 1 : 0);
  }

  runningEntry(): QueueEntry | null {
    return this.running;
  }

  pendingRaw(): QueueEntry[] {
    return this.heap;
  }

  clearPending(): void {
    this.heap = [];
    this.onChange();
  }

  /** Removes the first pending entry (heap order) with this id; returns whether one was found. */
  deletePending(promptId: string): boolean {
    const index = this.heap.findIndex((entry) => entry[1] === promptId);
    if (index < 0) return false;
    if (this.heap.length === 1) {
      this.heap = [];
    } else {
      this.heap.splice(index, 1);
      for (let i = (this.heap.length >> 1) - 1; i >= 0; i--) siftUp(this.heap, i);
    }
    this.onChange();
    return true;
  }

  reset(): void {
    this.heap = [];
    this.running = null;
  }
}
