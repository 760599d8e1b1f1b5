// How many sockets one patient can hold, with the real socket.io-client: the per-user and
// per-address caps refuse the excess in the handshake with a connect_error that says why (an
// address at its cap is refused before its token is even read), places come back when
// sockets close (abruptly too), and handshakes spend the same per-address allowance as REST.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { user, connect, closeAll, sleep, ask, fakeSdp } from '../signaling/helpers.mjs';
import { startServer } from './server.mjs';
import { rawHandshake } from './raw.mjs';

/** The connect_error message of a refused connection (fails the test if it connects). */
async function refusal(server, who, opts) {
  try {
    const s = await connect(server, who, opts);
    s.close();
  } catch (err) {
    return err.message;
  }
  assert.fail(`${who.role} ${who.id} connected, but should have been refused`);
}

/** Connects, retrying while the server still counts sockets that are closing. */
async function connectWhenFree(server, who, withinMs = 15000) {
  const deadline = Date.now() + withinMs;
  for (;;) {
    try {
      return await connect(server, who);
    } catch (err) {
      if (!/^too-many-connections/.test(err.message) || Date.now() > deadline) throw err;
      await sleep(100);
    }
  }
}

describe('socket caps', () => {
  let server;
  before(async () => {
    server = await startServer({
      SIGNALING_MAX_SOCKETS_PER_USER: '3',
      SIGNALING_MAX_SOCKETS_PER_ADDRESS: '6',
      RATE_LIMIT_PER_ADDRESS_PER_MINUTE: '0',
    });
  });
  after(async () => {
    closeAll();
    await server.stop();
  });

  it('a user holds at most SIGNALING_MAX_SOCKETS_PER_USER sockets; the next is refused saying why; a closed one frees a place', async () => {
    const patient = user('patient');
    const mine = [];
    for (let i = 0; i < 3; i++) mine.push(await connect(server, patient));
    assert.match(await refusal(server, patient), /^too-many-connections: this user already holds 3 connections/);
    // Someone else is not affected by this patient's sockets.
    const other = await connect(server, user('provider'));
    mine.shift().close();
    mine.push(await connectWhenFree(server, patient));
    assert.match(await refusal(server, patient), /^too-many-connections/);
    for (const s of [...mine, other]) s.close();
  });

  it('an address at SIGNALING_MAX_SOCKETS_PER_ADDRESS is refused before its token is read', async () => {
    const held = [];
    for (let i = 0; i < 6; i++) held.push(await connectWhenFree(server, user('patient')));
    assert.match(await refusal(server, user('patient')), /^too-many-connections: this address already holds 6 connections/);
    // A garbage token from a full address gets the cap, not a token check: no work is done.
    assert.match(await refusal(server, user('patient'), { auth: { token: 'not-a-token' } }), /^too-many-connections/);
    for (const s of held) s.close();
    // With the address free again, a bad token is judged as a bad token.
    const deadline = Date.now() + 15000;
    let message;
    do {
      message = await refusal(server, user('patient'), { auth: { token: 'not-a-token' } });
      if (!/^too-many-connections/.test(message)) break;
      await sleep(100);
    } while (Date.now() < deadline);
    assert.match(message, /^unauthorized: /);
  });

  it('sockets that vanish without a goodbye give their places back', async () => {
    const patient = user('patient');
    for (let round = 0; round < 3; round++) {
      const raws = [];
      for (let i = 0; i < 3; i++) {
        let answer;
        const deadline = Date.now() + 15000;
        do {
          const h = await rawHandshake(server, { token: patient.token });
          answer = h.answer ?? '';
          if (answer.startsWith('40/webrtc,{"sid"')) raws.push(h.raw);
          else {
            h.raw.ws.terminate();
            await sleep(100);
          }
        } while (!answer.startsWith('40/webrtc,{"sid"') && Date.now() < deadline);
        assert.match(answer, /^40\/webrtc,\{"sid"/, `round ${round}, socket ${i}`);
      }
      // The TCP connections are cut: no Socket.IO or Engine.IO close is ever sent.
      for (const r of raws) r.ws.terminate();
    }
    const s = await connectWhenFree(server, patient);
    s.close();
  });
});

describe('handshakes and REST share the address allowance', () => {
  let server;
  before(async () => {
    // Six requests a minute: a burst of one, then one more every ten seconds.
    server = await startServer({ RATE_LIMIT_PER_ADDRESS_PER_MINUTE: '6' });
  });
  after(async () => {
    closeAll();
    await server.stop();
  });

  it('a handshake after the allowance is spent is refused as rate-limited, and so is the next request', async () => {
    const patient = user('patient');
    const get = () => fetch(`${server.url}/webrtc/ice-servers`, { headers: { authorization: `Bearer ${patient.token}` } });
    assert.equal((await get()).status, 200, 'the one request of the burst');
    assert.match(await refusal(server, patient), /^rate-limited: too many requests from this address; retry in \d+ s/);
    const r = await get();
    assert.equal(r.status, 429);
    assert.ok(Number(r.headers.get('retry-after')) >= 1);
  });
});

describe('a flood of refusals costs the audit trail a bounded number of entries', () => {
  let server;
  before(async () => {
    server = await startServer({
      SIGNALING_EVENTS_PER_SECOND: '1000',
      SIGNALING_EVENT_BURST: '1000',
      RATE_LIMIT_PER_ADDRESS_PER_MINUTE: '0',
      RATE_LIMIT_PER_USER_PER_MINUTE: '0',
    });
  });
  after(async () => {
    closeAll();
    await server.stop();
  });

  /** The attacker's entries in the trail (newest first). */
  async function entriesOf(who) {
    const admin = user('admin');
    const r = await fetch(`${server.url}/webrtc/audit?limit=500`, { headers: { authorization: `Bearer ${admin.token}` } });
    assert.equal(r.status, 200);
    return (await r.json()).entries.filter((e) => e.actorId === who.id);
  }

  it('offers for random calls: each refused, the first few audited one by one, the rest counted in one summary', async () => {
    const attacker = user('patient');
    const s = await connect(server, attacker);
    const N = 300;
    let refused = 0;
    for (let i = 0; i < N; i++) {
      const r = await ask(s, 'offer', { callId: randomUUID(), offer: { type: 'offer', sdp: fakeSdp('x') }, targetUserId: randomUUID() });
      if (r.error) refused++;
    }
    assert.equal(refused, N, 'every offer is refused');
    const during = await entriesOf(attacker);
    assert.ok(during.length >= 1 && during.length <= 6, `entries while flooding: ${during.length}`);
    assert.ok(during.every((e) => e.outcome === 'denied'));
    s.close();
    // The summary is written as the socket goes.
    let after;
    const deadline = Date.now() + 15000;
    do {
      after = await entriesOf(attacker);
      if (after.some((e) => e.detail.repeated)) break;
      await sleep(100);
    } while (Date.now() < deadline);
    const summaries = after.filter((e) => e.detail.repeated);
    assert.ok(summaries.length >= 1, `a summary entry: ${JSON.stringify(after.map((e) => e.detail))}`);
    assert.ok(after.length <= 8, `at most a handful of entries for ${N} refusals: ${after.length}`);
    const counted = after.reduce((n, e) => n + (e.detail.repeated ?? 1), 0);
    assert.equal(counted, N, 'written and summarised refusals add up to every refusal');
  });
});

describe('client text never becomes a metrics series', () => {
  let server;
  before(async () => {
    server = await startServer({ SIGNALING_EVENTS_PER_SECOND: '1000', SIGNALING_EVENT_BURST: '1000' });
  });
  after(async () => {
    closeAll();
    await server.stop();
  });

  const series = async () =>
    (await (await fetch(`${server.url}/metrics`)).text()).split('\n').filter((l) => l && !l.startsWith('#'));

  it('500 unique event names leave the series count where one unknown name puts it', async () => {
    const s = await connect(server, user('patient'));
    const errors = [];
    s.on('error', (e) => errors.push(e));
    // One unknown name first, so the `unknown` series exists before counting.
    s.emit('warm-up-name', { callId: randomUUID() });
    const deadline = Date.now() + 10000;
    while (errors.length < 1 && Date.now() < deadline) await sleep(50);
    await series(); // the scrape's own series exist from the first scrape on
    const before = await series();
    for (let i = 0; i < 500; i++) s.emit(`evil-${i}-${'x'.repeat(i % 50)}`, { callId: randomUUID() });
    while (errors.length < 501 && Date.now() < deadline + 20000) await sleep(50);
    assert.equal(errors.length, 501, 'every unknown event is answered with an error');
    const after = await series();
    const names = (lines) => new Set(lines.map((l) => l.replace(/\s+\S+$/, '')));
    const added = [...names(after)].filter((n) => !names(before).has(n));
    assert.deepEqual(added.filter((n) => n.includes('evil')), [], 'no series names attacker text');
    assert.ok(names(after).size <= names(before).size + 2, `series ${names(before).size} → ${names(after).size}: ${added}`);
    s.close();
  });
});
