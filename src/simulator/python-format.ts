/**
 * ComfyUI's error texts are Python f-strings, so values appear as Python prints them
 * (`'bogus'`, `['a', 'b']`, `True`, `None`). Clients show these texts to people; keep them alike.
 */
export function pyRepr(value: unknown): string {
  if (value === null || value === undefined) return 'None';
  if (typeof value === 'string') return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
  if (typeof value === 'boolean') return value ? 'True' : 'False';
  if (typeof value === 'number') return String(value);
  if (Array.isArray(value)) return `[${value.map(pyRepr).join(', ')}]`;
  if (typeof value === 'object') {
    const parts = Object.entries(value as Record<string, unknown>).map(([k, v]) => `${pyRepr(k)}: ${pyRepr(v)}`);
    return `{${parts.join(', ')}}`;
  }
  return String(value);
}

/** Python `str(value)`: strings bare, everything else as repr. */
export function pyStr(value: unknown): string {
  return typeof value === 'string' ? value : pyRepr(value);
}

/** Python `str(x)` as used for `prompt_id` (`12345` → "12345", `null` → "None"). */
export function pyIdString(value: unknown): string {
  return pyStr(value);
}
