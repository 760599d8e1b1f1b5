'use strict';
// Minimal reference signaling server on the original stack (express + socket.io 4 +
// jsonwebtoken), with vytalcall's relay rules, used only by bench/run for side-by-side
// figures. It keeps everything in memory and persists nothing (vytalcall stores every join,
// leave and denied relay, and audits them; this server does none of that).
//
//   JWT_SECRET=... PORT=3901 node server.js
const http = require('http');
const express = require('express');
const { Server } = require('socket.io');
const jwt = require('jsonwebtoken');

const secret = process.env.JWT_SECRET;
if (!secret) {
  console.error('JWT_SECRET is required');
  process.exit(2);
}
const port = Number(process.env.PORT || 3901);
const host = process.env.HOST || '127.0.0.1';

const app = express();
app.get('/healthz', (_req, res) => res.json({ status: 'ok' }));
const server = http.createServer(app);
const io = new Server(server, { maxHttpBufferSize: 128 * 1024, cors: { origin: false } });
const nsp = io.of('/webrtc');

// callId -> Map(userId -> Set(socketId)) of the sockets that joined the call.
const calls = new Map();
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

nsp.use((socket, next) => {
  const token = socket.handshake.auth && socket.handshake.auth.token;
  if (typeof token !== 'string' || token === '') return next(new Error('unauthorized: missing bearer token'));
  try {
    const claims = jwt.verify(token, secret, { algorithms: ['HS256'], clockTolerance: 30 });
    if (!claims.sub || !claims.role) return next(new Error('unauthorized: missing claim'));
    socket.data.userId = String(claims.sub);
    socket.data.role = claims.role;
    socket.data.calls = new Set();
    next();
  } catch (e) {
    next(new Error('unauthorized: ' + e.message));
  }
});

function fail(socket, event, ack, code, message) {
  const error = { code, message };
  if (typeof ack === 'function') ack({ error });
  else socket.emit('error', { event, error });
}

function joinedSockets(callId, exceptUser, onlyUser) {
  const members = calls.get(callId);
  const out = [];
  if (!members) return out;
  for (const [user, sockets] of members) {
    if (user === exceptUser) continue;
    if (onlyUser !== undefined && user !== onlyUser) continue;
    for (const id of sockets) out.push(id);
  }
  return out;
}

function leave(socket, callId, reason) {
  const members = calls.get(callId);
  if (!members) return;
  const userId = socket.data.userId;
  const mine = members.get(userId);
  if (mine) {
    mine.delete(socket.id);
    if (mine.size === 0) members.delete(userId);
  }
  if (members.size === 0) calls.delete(callId);
  socket.data.calls.delete(callId);
  socket.leave(callId);
  nsp.to(callId).emit('participant-left', { callId, userId, reason });
}

nsp.on('connection', (socket) => {
  const userId = socket.data.userId;
  socket.join('user:' + userId);

  socket.on('join-call', (body, ack) => {
    const callId = body && body.callId;
    if (typeof callId !== 'string' || !UUID.test(callId)) return fail(socket, 'join-call', ack, 'invalid-payload', 'callId: must be a UUID');
    let members = calls.get(callId);
    if (!members) calls.set(callId, (members = new Map()));
    if (!members.has(userId)) members.set(userId, new Set());
    members.get(userId).add(socket.id);
    socket.data.calls.add(callId);
    socket.join(callId);
    const videoEnabled = body.videoEnabled !== false;
    const audioEnabled = body.audioEnabled !== false;
    socket.to(callId).except('user:' + userId).emit('participant-joined', { callId, userId, videoEnabled, audioEnabled, reconnected: false });
    const participants = [...members.keys()];
    socket.emit('room-participants', { callId, participants });
    if (typeof ack === 'function') ack({ ok: true, callId, roomId: callId, status: 'active', participants, resumed: false });
  });

  // Like vytalcall, relayed bodies are rebuilt from their known fields only.
  function relay(event, field, valid, rebuild) {
    socket.on(event, (body, ack) => {
      const callId = body && body.callId;
      if (typeof callId !== 'string' || !socket.data.calls.has(callId)) return fail(socket, event, ack, 'not-joined', 'join the call first');
      if (!valid(body[field])) return fail(socket, event, ack, 'invalid-payload', field + ': invalid');
      const target = body.targetUserId;
      const to = joinedSockets(callId, userId, target === undefined || target === null ? undefined : target);
      if (target !== undefined && target !== null && to.length === 0) return fail(socket, event, ack, 'target-not-in-call', 'targetUserId is not in the call');
      if (to.length > 0) nsp.to(to).emit(event, { callId, [field]: rebuild(body[field]), fromUserId: userId });
      if (typeof ack === 'function') ack({ ok: true, callId });
    });
  }
  const desc = (kinds) => (d) => d && kinds.includes(d.type) && typeof d.sdp === 'string' && d.sdp.length > 0;
  const description = (d) => ({ type: d.type, sdp: d.sdp });
  const candidate = (c) => ({
    candidate: c.candidate,
    sdpMid: c.sdpMid ?? null,
    sdpMLineIndex: c.sdpMLineIndex ?? null,
    usernameFragment: c.usernameFragment ?? null,
  });
  relay('offer', 'offer', desc(['offer']), description);
  relay('answer', 'answer', desc(['answer', 'pranswer']), description);
  relay(
    'ice-candidate',
    'candidate',
    (c) => c && typeof c.candidate === 'string' && (c.sdpMid != null || c.sdpMLineIndex != null),
    candidate,
  );

  socket.on('update-media', (body, ack) => {
    const callId = body && body.callId;
    if (typeof callId !== 'string' || !socket.data.calls.has(callId)) return fail(socket, 'update-media', ack, 'not-joined', 'join the call first');
    const media = {
      videoEnabled: body.videoEnabled !== false,
      audioEnabled: body.audioEnabled !== false,
      screenShareEnabled: body.screenShareEnabled === true,
    };
    socket.to(callId).emit('participant-media-updated', { callId, userId, ...media });
    if (typeof ack === 'function') ack({ ok: true, callId, ...media });
  });

  socket.on('connection-quality', (body, ack) => {
    const callId = body && body.callId;
    if (typeof callId !== 'string' || !socket.data.calls.has(callId)) return fail(socket, 'connection-quality', ack, 'not-joined', 'join the call first');
    const m = body.metrics || {};
    let warning = null;
    let suggestion = null;
    if (m.packetLoss > 5 || m.latency > 300) {
      warning = 'poor connection';
      suggestion = 'turn off video';
      socket.emit('quality-warning', { callId, warning, suggestion, metrics: m });
    }
    if (typeof ack === 'function') ack({ ok: true, callId, stored: true, warning, suggestion });
  });

  socket.on('leave-call', (body, ack) => {
    const callId = body && body.callId;
    if (typeof callId !== 'string' || !socket.data.calls.has(callId)) return fail(socket, 'leave-call', ack, 'not-joined', 'join the call first');
    leave(socket, callId, (body && body.reason) || 'left');
    if (typeof ack === 'function') ack({ ok: true, callId });
  });

  socket.on('disconnect', () => {
    for (const callId of [...socket.data.calls]) leave(socket, callId, 'disconnected');
  });
});

server.listen(port, host, () => console.log(`reference-node listening on ${host}:${port}`));
