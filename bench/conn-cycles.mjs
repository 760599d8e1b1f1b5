// Resident memory across many Socket.IO connect/disconnect cycles (issue #8's finding).
// Starts the vytalcall binary (VYTALCALL_BIN, default the debug build), then runs ROUNDS
// rounds of CYCLES raw Engine.IO/Socket.IO handshakes each (half with a valid token, half
// refused; MODE=token or MODE=none for only one kind), 20 at a time, pausing PAUSE seconds
// between rounds, and prints the server's RSS after each round. Memory that is only held
// for a while (a closed connection's state is released after the Socket.IO connect
// timeout) is reused by the next round, so RSS levels off; a leak keeps growing each round.
//
//   node bench/conn-cycles.mjs [CYCLES=10000] [ROUNDS=3] [PAUSE=20]
// (from the repository root, after `cd e2e && npm ci`; EXTRA_ENV='{"K":"V"}' sets server env)
import { startServer } from '../e2e/attacks/server.mjs';
import { rawHandshake } from '../e2e/attacks/raw.mjs';
import { user, sleep } from '../e2e/signaling/helpers.mjs';

const CYCLES = Number(process.argv[2] ?? 10000);
const ROUNDS = Number(process.argv[3] ?? 3);
const PAUSE = Number(process.argv[4] ?? 20);
const MODE = process.env.MODE ?? 'both';
const env = { RUST_LOG: 'error', RATE_LIMIT_PER_ADDRESS_PER_MINUTE: '0', SIGNALING_MAX_SOCKETS_PER_ADDRESS: '100000', ...(process.env.EXTRA_ENV ? JSON.parse(process.env.EXTRA_ENV) : {}) };
const server = await startServer(env);

async function round() {
  let next = 0;
  await Promise.all(
    Array.from({ length: 20 }, async () => {
      while (next < CYCLES) {
        const i = next++;
        const withToken = MODE === 'token' || (MODE === 'both' && i % 2 === 0);
        const { raw, answer } = await rawHandshake(server, withToken ? { token: user('patient').token } : {});
        if (withToken !== /^40\/webrtc,\{"sid"/.test(answer ?? '')) throw new Error(`unexpected answer ${answer}`);
        raw.close();
      }
    }),
  );
}

try {
  await sleep(500);
  const rss = [server.rssKiB()];
  console.log(`start: RSS ${rss[0]} KiB`);
  for (let r = 1; r <= ROUNDS; r++) {
    const t = Date.now();
    await round();
    const peak = server.rssKiB();
    await sleep(PAUSE * 1000);
    rss.push(server.rssKiB());
    console.log(`round ${r}: ${CYCLES} cycles in ${((Date.now() - t) / 1000 - PAUSE).toFixed(1)} s; RSS ${peak} KiB at the end, ${rss[r]} KiB after ${PAUSE} s`);
  }
  const perCycle = ROUNDS > 1 ? ((rss[ROUNDS] - rss[1]) * 1024) / ((ROUNDS - 1) * CYCLES) : NaN;
  console.log(`# growth after round 1: ${perCycle.toFixed(0)} bytes per cycle over ${(ROUNDS - 1) * CYCLES} cycles`);
} finally {
  await server.stop();
}
