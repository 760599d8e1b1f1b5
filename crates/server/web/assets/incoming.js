// The incoming-call screen: it rings (a tone and vibration where the device allows) on every
// open device of the callee, and stops as soon as one of them answers or the call ends.
import { h } from './dom.js';

/** A soft two-tone ring made with Web Audio (no audio file, nothing to fetch). */
function ringtone() {
  let ctx = null;
  let timer = null;
  function beep() {
    try {
      ctx ??= new AudioContext();
      const now = ctx.currentTime;
      for (const [i, f] of [440, 554].entries()) {
        const osc = ctx.createOscillator();
        const gain = ctx.createGain();
        osc.frequency.value = f;
        gain.gain.setValueAtTime(0.0001, now + i * 0.4);
        gain.gain.exponentialRampToValueAtTime(0.15, now + i * 0.4 + 0.05);
        gain.gain.exponentialRampToValueAtTime(0.0001, now + i * 0.4 + 0.35);
        osc.connect(gain).connect(ctx.destination);
        osc.start(now + i * 0.4);
        osc.stop(now + i * 0.4 + 0.4);
      }
      navigator.vibrate?.([300, 100, 300]);
    } catch {
      /* no audio output: the screen still rings */
    }
  }
  return {
    start() {
      if (timer) return;
      beep();
      timer = setInterval(beep, 2000);
    },
    stop() {
      clearInterval(timer);
      timer = null;
      navigator.vibrate?.(0);
      if (ctx) void ctx.close().catch(() => undefined);
      ctx = null;
    },
    get ringing() {
      return timer !== null;
    },
  };
}

export function incomingView({ client, role, onAccept, announce }) {
  const ring = ringtone();
  const caller = role === 'patient' ? 'Your provider' : 'Someone';
  const text = h('p', { id: 'incoming-text', dataset: { testid: 'incoming-text' } });
  const accept = h('button', { type: 'button', class: 'accept', dataset: { testid: 'accept-call' } }, 'Accept');
  const decline = h('button', { type: 'button', class: 'danger', dataset: { testid: 'decline-call' } }, 'Decline');
  const el = h(
    'section',
    { class: 'incoming', role: 'alertdialog', 'aria-modal': 'true', 'aria-labelledby': 'incoming-heading', 'aria-describedby': 'incoming-text', dataset: { testid: 'incoming-call' }, hidden: true },
    h('div', { class: 'incoming-card' }, h('h2', { id: 'incoming-heading' }, 'Incoming call'), text, h('div', { class: 'row' }, accept, decline)),
  );
  let shownFor = null;

  accept.addEventListener('click', async () => {
    const { callId, callType } = client.state;
    ring.stop();
    accept.disabled = decline.disabled = true;
    try {
      await onAccept(callId, callType);
    } finally {
      accept.disabled = decline.disabled = false;
    }
  });
  decline.addEventListener('click', async () => {
    const { callId } = client.state;
    ring.stop();
    accept.disabled = decline.disabled = true;
    try {
      await client.decline(callId);
      announce('You declined the call.');
    } catch (err) {
      announce(`Could not decline: ${err.message}`);
    } finally {
      accept.disabled = decline.disabled = false;
    }
  });
  el.addEventListener('keydown', (e) => {
    if (e.key === 'Escape') decline.click();
  });

  function update(state) {
    const ringing = state.phase === 'ringing';
    el.hidden = !ringing;
    el.dataset.ringing = String(ringing);
    if (ringing) {
      text.textContent = `${caller} is calling you (${state.callType === 'audio' ? 'audio' : 'video'} call).`;
      if (shownFor !== state.callId) {
        shownFor = state.callId;
        ring.start();
        announce(`Incoming ${state.callType === 'audio' ? 'audio' : 'video'} call.`);
        accept.focus();
      }
    } else if (shownFor) {
      shownFor = null;
      ring.stop();
      if (state.endReason === 'answered on another device') announce('The call was answered on another device.');
    }
  }

  return { el, update, isRinging: () => ring.ringing };
}
