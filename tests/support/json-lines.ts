import type { Readable } from 'node:stream';

/** Calls `onJson` with every line of `stream` that parses as JSON (a child process's stdout); other lines are skipped. */
export function onJsonLines(stream: Readable, onJson: (value: any) => void): void {
  let buf = '';
  stream.on('data', (d: Buffer) => {
    buf += d.toString();
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      let value: unknown;
      try {
        value = JSON.parse(line);
      } catch {
        continue;
      }
      onJson(value);
    }
  });
}
