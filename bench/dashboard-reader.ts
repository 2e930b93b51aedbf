/**
 * A dashboard's live view, as bench/dashboard.ts needs it: a child process that holds `GET /ui/api/live`
 * open and counts the events (and the drops the node reports) until told to stop; then it answers them.
 */
import { request } from 'node:http';

const [url, token] = process.argv.slice(2) as [string, string];
let events = 0;
let dropped = 0;
let frames = 0;
let buffer = '';
let opened = 0;

const req = request(`${url}/ui/api/live`, { headers: { authorization: `Bearer ${token}` } }, (res) => {
  if (res.statusCode !== 200) throw new Error(`live stream answered ${res.statusCode}`);
  res.setEncoding('utf8');
  res.on('data', (chunk: string) => {
    buffer += chunk;
    let end: number;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const frame = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const data = /^data: (.*)$/m.exec(frame)?.[1];
      if (data === undefined) continue;
      const parsed = JSON.parse(data) as { dropped: number; events: unknown[] };
      frames++;
      events += parsed.events.length;
      dropped += parsed.dropped;
    }
  });
  opened = performance.now();
  process.send!({ ready: true });
});
req.end();

process.on('message', () => {
  process.send!({ events, dropped, frames, openMs: performance.now() - opened });
  req.destroy();
  process.disconnect();
});
