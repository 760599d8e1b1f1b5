// Camera, microphone and speaker: the app's own getUserMedia for the SDK (the devices the
// person chose, and sound only when the camera cannot be had), the device menu, and a switch
// of device in the middle of a call.
import { h } from './dom.js';

const PREFS_KEY = 'vytalcall.devices';

/** The chosen devices `{ camera, microphone, speaker }` (ids; '' = the browser's default). */
export const prefs = Object.assign({ camera: '', microphone: '', speaker: '' }, safeParse(sessionStorage.getItem(PREFS_KEY)));

function safeParse(text) {
  try {
    const v = JSON.parse(text ?? '{}');
    return v && typeof v === 'object' ? v : {};
  } catch {
    return {};
  }
}

function savePrefs() {
  sessionStorage.setItem(PREFS_KEY, JSON.stringify(prefs));
}

/** A media problem, told in words for the person (the browser's own error goes to the console). */
export class MediaProblem extends Error {
  constructor(message, cause) {
    super(message);
    this.name = 'MediaProblem';
    this.cause = cause;
  }
}

function wanted(kind, on) {
  if (!on) return false;
  const id = kind === 'video' ? prefs.camera : prefs.microphone;
  return id ? { deviceId: { ideal: id } } : true;
}

function words(err, what) {
  const name = err?.name ?? '';
  if (name === 'NotAllowedError' || name === 'SecurityError') return `Your browser did not allow the ${what}. Allow it (the camera or lock icon beside the address), then try again.`;
  if (name === 'NotFoundError' || name === 'OverconstrainedError') return `No ${what} was found on this device.`;
  if (name === 'NotReadableError' || name === 'AbortError') return `The ${what} is in use by another app. Close that app, then try again.`;
  return `The ${what} could not be started.`;
}

/**
 * The SDK's `getUserMedia`: the chosen devices; when the camera is refused or missing, the
 * microphone alone (`onCameraLost(reason)` is told). Without a microphone nothing joins.
 */
export function getUserMediaFor(onCameraLost) {
  return async (c) => {
    const gum = (x) => navigator.mediaDevices.getUserMedia(x);
    try {
      return await gum({ video: wanted('video', c.video), audio: wanted('audio', c.audio) });
    } catch (err) {
      console.warn('getUserMedia failed', err);
      if (!c.video) throw new MediaProblem(words(err, 'microphone'), err);
      try {
        const stream = await gum({ video: false, audio: wanted('audio', c.audio) });
        onCameraLost(err?.name === 'NotAllowedError' || err?.name === 'SecurityError' ? 'Your browser did not allow the camera, so you joined with sound only.' : 'Your camera could not be used, so you joined with sound only.');
        return stream;
      } catch (err2) {
        console.warn('getUserMedia (microphone only) failed', err2);
        throw new MediaProblem(words(err2, 'microphone and camera'), err2);
      }
    }
  };
}

/** Plays remote sound through the chosen speaker where the browser can choose (setSinkId). */
export function applySpeaker(video) {
  if (prefs.speaker && typeof video.setSinkId === 'function') video.setSinkId(prefs.speaker).catch((err) => console.warn('setSinkId failed', err));
}

/**
 * The device menu: one labelled list each for camera, microphone and speaker (the speaker
 * only where the browser can route sound). `onChange(kind, deviceId)` after a choice.
 */
export function deviceMenu({ onChange }) {
  const lists = {};
  const rows = [];
  for (const [kind, label] of [
    ['camera', 'Camera'],
    ['microphone', 'Microphone'],
    ['speaker', 'Speaker'],
  ]) {
    const select = h('select', { id: `device-${kind}`, dataset: { testid: `device-${kind}` } });
    select.addEventListener('change', () => {
      prefs[kind] = select.value;
      savePrefs();
      void onChange(kind, select.value);
    });
    lists[kind] = select;
    rows.push(h('div', { class: 'device-row', dataset: { kind } }, h('label', { for: `device-${kind}` }, label), select));
  }
  const panel = h('div', { class: 'device-menu', id: 'device-menu', role: 'group', 'aria-label': 'Choose your devices', dataset: { testid: 'device-menu' }, hidden: true }, rows);

  async function refresh() {
    let devices = [];
    try {
      devices = await navigator.mediaDevices.enumerateDevices();
    } catch (err) {
      console.warn('enumerateDevices failed', err);
    }
    const byKind = { camera: 'videoinput', microphone: 'audioinput', speaker: 'audiooutput' };
    for (const [kind, select] of Object.entries(lists)) {
      const found = devices.filter((d) => d.kind === byKind[kind] && d.deviceId);
      const options = found.map((d, i) => h('option', { value: d.deviceId }, d.label || `${kind[0].toUpperCase()}${kind.slice(1)} ${i + 1}`));
      select.replaceChildren(...options);
      if (prefs[kind] && found.some((d) => d.deviceId === prefs[kind])) select.value = prefs[kind];
      const canChoose = kind !== 'speaker' || 'setSinkId' in HTMLMediaElement.prototype;
      select.closest('.device-row').hidden = !canChoose || found.length === 0;
    }
  }

  return { panel, refresh, lists };
}

/**
 * Moves the call to another camera or microphone: a new track from that device replaces the
 * old one on every peer connection (no renegotiation), and the SDK is given the new stream.
 */
export async function switchDevice(client, kind, deviceId) {
  const old = client.local;
  if (!old) return;
  const video = kind === 'camera';
  if (video && (client.state.audioOnly || client.state.local.screenShareEnabled)) return;
  const fresh = await navigator.mediaDevices.getUserMedia(video ? { video: { deviceId: { exact: deviceId } } } : { audio: { deviceId: { exact: deviceId } } });
  const track = video ? fresh.getVideoTracks()[0] : fresh.getAudioTracks()[0];
  const previous = video ? old.getVideoTracks()[0] : old.getAudioTracks()[0];
  if (!track) return;
  track.enabled = previous ? previous.enabled : true;
  for (const userId of Object.keys(client.state.participants)) {
    const pc = client.peerConnection(userId);
    const sender = pc?.getSenders().find((s) => s.track && s.track === previous);
    if (sender) await sender.replaceTrack(track);
  }
  client.setLocalStream(new MediaStream([...old.getTracks().filter((t) => t !== previous), track]));
  previous?.stop();
}
