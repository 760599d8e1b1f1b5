// A raw Engine.IO v4 / Socket.IO v4 client over the npm `ws` package, for sending what a
// real client never would. Each connection keeps the frames it received and how it ended.
import WebSocket from 'ws';
import { sleep } from '../signaling/helpers.mjs';

export const wsUrl = (server) => `ws://127.0.0.1:${server.port}/socket.io/?EIO=4&transport=websocket`;

/** Opens a WebSocket; resolves once open (or rejects). Answers pings unless `pong: false`. */
export function openRaw(server, { url = wsUrl(server), pong = true } = {}) {
  const ws = new WebSocket(url, { maxPayload: 64 << 20 });
  const frames = [];
  let closed = null;
  const waiters = new Set();
  const wake = () => {
    for (const w of [...waiters]) w();
  };
  ws.on('message', (data, isBinary) => {
    const text = isBinary ? null : data.toString();
    if (pong && text === '2') ws.send('3');
    frames.push(isBinary ? data : text);
    wake();
  });
  ws.on('close', (code) => {
    closed = { code, at: Date.now() };
    wake();
  });
  ws.on('error', () => {
    if (!closed) closed = { code: 'error', at: Date.now() };
    wake();
  });
  const raw = {
    ws,
    frames,
    get closed() {
      return closed;
    },
    send(data) {
      if (ws.readyState === WebSocket.OPEN) ws.send(data);
    },
    /** The first received frame (from `from` on) matching `pred`, or null after `ms`. */
    wait(pred, ms = 3000, from = 0) {
      return new Promise((resolve) => {
        const check = () => {
          const hit = frames.slice(from).find((f) => typeof f === 'string' && pred(f));
          if (hit !== undefined || closed) {
            waiters.delete(check);
            clearTimeout(timer);
            resolve(hit ?? null);
            return true;
          }
          return false;
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          resolve(null);
        }, ms);
        if (!check()) waiters.add(check);
      });
    },
    /** Resolves when the server closed the connection, or null after `ms`. */
    async closedWithin(ms) {
      const end = Date.now() + ms;
      while (!closed && Date.now() < end) await sleep(50);
      return closed;
    },
    close() {
      ws.terminate();
    },
  };
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve(raw));
    ws.once('error', reject);
  });
}

/** Engine.IO open, then a Socket.IO CONNECT to /webrtc with `auth`; the server's answer. */
export async function rawHandshake(server, auth, opts) {
  const raw = await openRaw(server, opts);
  const open = await raw.wait((f) => f.startsWith('0{'));
  if (!open) throw new Error(`no Engine.IO open: ${JSON.stringify(raw.frames)}`);
  raw.send(`40/webrtc,${JSON.stringify(auth)}`);
  const answer = await raw.wait((f) => f.startsWith('40/webrtc') || f.startsWith('44/webrtc'));
  return { raw, answer, open: JSON.parse(open.slice(1)) };
}
