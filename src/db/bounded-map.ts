/**
 * Caches keyed by text that callers may vary (SQL of IN lists of different lengths, UPDATE
 * shapes) must not grow without end: past `maxEntries`, the oldest entry goes first.
 */
export function setBounded<K, V>(map: Map<K, V>, key: K, value: V, maxEntries: number): void {
  if (!map.has(key) && map.size >= maxEntries) {
    const oldest = map.keys().next();
    if (oldest.done !== true) map.delete(oldest.value);
  }
  map.set(key, value);
}
