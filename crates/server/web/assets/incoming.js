// The incoming-call screen: it rings (a tone and vibration where the device allows) on every
// open device of the callee, and stops as soon as one of them answers or the call ends. It is
// a modal dialog (WAI-ARIA's pattern): focus moves in and stays in, Escape declines wherever
// the focus is, and focus returns where it was when the dialog closes. A patient can answer
// the recording question here, before the provider may start a recording.
import { h, trapFocus } from './dom.js';
import { consentChoice } from './consent.js';

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

/** `onAccept(callId, callType, consent)`; `onDecline(callId)`; both may throw. */
export function incomingView({ client, role, config, onAccept, onDecline }) {
  const ring = ringtone();
  // Who rings: the caller's name from the server, else their role word.
  const caller = (state) => state.fromName || (role === 'patient' ? 'Your provider' : 'Your patient');
  const text = h('p', { id: 'incoming-text', dataset: { testid: 'incoming-text' } });
  const accept = h('button', { type: 'button', class: 'accept', dataset: { testid: 'accept-call' } }, 'Answer');
  const decline = h('button', { type: 'button', class: 'danger', dataset: { testid: 'decline-call' } }, 'Decline');
  const consent = role === 'patient' ? consentChoice(config, 'answer') : null;
  const el = h(
    'section',
    { class: 'incoming', role: 'alertdialog', 'aria-modal': 'true', 'aria-labelledby': 'incoming-heading', 'aria-describedby': 'incoming-text', dataset: { testid: 'incoming-call' }, hidden: true },
    h('div', { class: 'incoming-card' }, h('h2', { id: 'incoming-heading' }, 'Incoming call'), text, consent?.el, h('div', { class: 'row answer-buttons' }, accept, decline)),
  );
  let shownFor = null;
  let returnFocus = null;
  trapFocus(el, () => !el.hidden);

  accept.addEventListener('click', async () => {
    const { callId, callType } = client.state;
    ring.stop();
    accept.disabled = decline.disabled = true;
    try {
      await onAccept(callId, callType, consent?.value() ?? null);
    } finally {
      accept.disabled = decline.disabled = false;
    }
  });
  decline.addEventListener('click', async () => {
    const { callId } = client.state;
    ring.stop();
    accept.disabled = decline.disabled = true;
    try {
      await onDecline(callId);
    } finally {
      accept.disabled = decline.disabled = false;
    }
  });
  // Escape declines wherever the focus is while the dialog is open.
  document.addEventListener('keydown', (e) => {
    if (e.key === 'Escape' && !el.hidden && !decline.disabled) {
      e.preventDefault();
      decline.click();
    }
  });

  function update(state) {
    const ringing = state.phase === 'ringing';
    el.hidden = !ringing;
    el.dataset.ringing = String(ringing);
    if (ringing) {
      const kind = state.callType === 'audio' ? 'audio' : 'video';
      text.textContent = `${caller(state)} is calling you (${kind} call).`;
      accept.textContent = kind === 'audio' ? 'Answer with sound' : 'Answer with video';
      if (shownFor !== state.callId) {
        shownFor = state.callId;
        consent?.reset();
        returnFocus = document.activeElement;
        ring.start();
        accept.focus();
      }
    } else if (shownFor) {
      shownFor = null;
      ring.stop();
      // Back where the person was, unless the call screen took over (it focuses itself).
      if (returnFocus?.isConnected && returnFocus.getClientRects().length) returnFocus.focus();
      returnFocus = null;
    }
  }

  return { el, update, isRinging: () => ring.ringing };
}
