/**
 * The keys a JSON text repeats inside one object. JSON.parse keeps the last and says
 * nothing, but a log line `{"name":"a","name":"b"}` means different things to different
 * parsers (jq keeps the last, some keep the first, strict ones refuse the line).
 */

/** Each repeated key as `path.key` (path `$` for the top level); [] when none. Throws on text that is not JSON. */
export function duplicateJsonKeys(text: string): string[] {
  const repeated: string[] = [];
  let at = 0;

  const fail = (what: string): never => {
    throw new SyntaxError(`${what} at ${at} in ${text.slice(0, 200)}`);
  };
  const skipSpace = () => {
    while (at < text.length && ' \t\r\n'.includes(text[at]!)) at++;
  };
  const readString = (): string => {
    if (text[at] !== '"') fail('expected a string');
    const start = at++;
    while (at < text.length && text[at] !== '"') at += text[at] === '\\' ? 2 : 1;
    if (at >= text.length) fail('unterminated string');
    at++;
    return JSON.parse(text.slice(start, at)) as string;
  };
  const readValue = (path: string): void => {
    skipSpace();
    const c = text[at];
    if (c === '{') readObject(path);
    else if (c === '[') readArray(path);
    else if (c === '"') readString();
    else {
      const literal = /^(-?\d+(\.\d+)?([eE][+-]?\d+)?|true|false|null)/.exec(text.slice(at, at + 40));
      if (!literal) fail('expected a value');
      at += literal![0].length;
    }
  };
  const readObject = (path: string): void => {
    at++;
    const seen = new Set<string>();
    skipSpace();
    if (text[at] === '}') {
      at++;
      return;
    }
    for (;;) {
      skipSpace();
      const key = readString();
      if (seen.has(key)) repeated.push(`${path}.${key}`);
      seen.add(key);
      skipSpace();
      if (text[at++] !== ':') fail('expected ":"');
      readValue(`${path}.${key}`);
      skipSpace();
      const next = text[at++];
      if (next === '}') return;
      if (next !== ',') fail('expected "," or "}"');
    }
  };
  const readArray = (path: string): void => {
    at++;
    skipSpace();
    if (text[at] === ']') {
      at++;
      return;
    }
    for (let i = 0; ; i++) {
      readValue(`${path}[${i}]`);
      skipSpace();
      const next = text[at++];
      if (next === ']') return;
      if (next !== ',') fail('expected "," or "]"');
    }
  };

  readValue('$');
  skipSpace();
  if (at !== text.length) fail('trailing text');
  return repeated;
}
