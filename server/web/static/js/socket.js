// The WebSocket protocol (docs/api.md): this page is a satellite of the hub, through the web server's
// bridge. JSON {type, data} events both ways; binary messages are audio (mic frames up, answer down).
import { jarvis, stats } from "./jarvis.js";
import { satelliteId, settings } from "./settings.js";

let ws = null;
let wsBackoff = 500;

const isOpen = () => ws !== null && ws.readyState === WebSocket.OPEN;

export function send(type, data) {
  if (!isOpen()) return false;
  ws.send(JSON.stringify({ type, data: data || {} }));
  return true;
}
jarvis.send = send;

export function sendAudio(buf) {
  if (!isOpen()) return false;
  ws.send(buf);
  return true;
}

// run-pipeline's data: from which stage, in the chosen language and voice.
export function pipelineData(start, extra) {
  const d = { start_stage: start, end_stage: "tts", language: settings.language, ...(extra || {}) };
  if (settings.voice) d.voice = settings.voice;
  return d;
}

// Connects, and reconnects with a backoff after a loss. handlers: onEvent(type, data), onAudio(buffer),
// onClose() when the connection is gone, then onDown() unless it was closed for a lost login.
export function connect(handlers) {
  const proto = location.protocol === "https:" ? "wss:" : "ws:";
  const name = /Mobi|Android/i.test(navigator.userAgent) ? "Phone" : "Browser";
  ws = new WebSocket(`${proto}//${location.host}/api/ws?satellite_id=${encodeURIComponent(satelliteId)}&name=${name}`);
  ws.binaryType = "arraybuffer";
  jarvis.ws = ws;
  ws.onopen = () => { wsBackoff = 500; };
  ws.onmessage = (ev) => {
    stats.wsMessages++;
    if (ev.data instanceof ArrayBuffer) {
      stats.audioBytesReceived += ev.data.byteLength;
      stats.audioChunksReceived++;
      handlers.onAudio(ev.data);
      return;
    }
    let msg;
    try { msg = JSON.parse(ev.data); } catch (e) { return; }
    handlers.onEvent(msg.type, msg.data || {});
  };
  ws.onclose = (ev) => {
    handlers.onClose();
    if (ev.code === 4401 || ev.code === 1008) { location.replace("/login"); return; }
    handlers.onDown();
    stats.reconnects++;
    setTimeout(() => connect(handlers), wsBackoff);
    wsBackoff = Math.min(wsBackoff * 2, 8000);
  };
}
