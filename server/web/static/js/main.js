// Jarvis in the browser: a satellite over a WebSocket (see docs/api.md and docs/web.md).
// This module is the page's state machine: it wires the others together and runs the turns.
import { api, logout } from "./api.js";
import { audioContext, beep, player, resumeOnGesture } from "./audio.js";
import { jarvis, stats } from "./jarvis.js";
import { addMsg, appendAnswer, assistantEl, bindLog, currentTurn, finishTurn, fmtSeconds, newTurn, setUserText, showLatency } from "./log.js";
import { bindMemoryEditor, loadMemory } from "./memory.js";
import { micOpen, startMic, stopMic } from "./mic.js";
import { createOrb } from "./orb.js";
import { applySettingsUi, bindSettingsUi, saveSettings, settings, showWake } from "./settings.js";
import { connect, pipelineData, send, sendAudio } from "./socket.js";
import { $, ICONS, bindDrawers, openDrawer, toast } from "./ui.js";

const STATE_TEXT = {
  connecting: ["Connecting…", "Reaching the Jarvis server"],
  "server-down": ["Server down", "Retrying…"],
  unauthorized: ["Not allowed", "The hub refused this web server's token"],
  idle: ["Ready", "Hold the button to talk, or type a question"],
  wake: ["Listening for “Hey Jarvis”", "Always listening is on"],
  listening: ["Listening", "Go ahead, I'm listening"],
  thinking: ["Thinking", ""],
  speaking: ["Speaking", ""],
  error: ["Something went wrong", ""],
};
const LEVEL = { connecting: "warn", "server-down": "warn", unauthorized: "bad", error: "bad", idle: "ok", wake: "ok", listening: "busy", thinking: "busy", speaking: "busy" };

let hubReady = false;
let streaming = false; // sending mic frames to the hub
let mode = "idle"; // idle | ptt | wake | text
// A new turn while the hub may still be in one (the wake word, the button, a typed question):
// stop the answer's audio here at once; the hub cancels its turn, whose metrics then still arrive.
let staleMetrics = false;
// Seconds the hub will listen for the reply to the answer being played (jarvis-follow-up), or 0.
let followUpS = 0;

const orb = createOrb($("orb"));

function setState(state, sub) {
  jarvis.state = state;
  const [label, defSub] = STATE_TEXT[state] || [state, ""];
  $("state-label").textContent = label;
  $("state-sub").textContent = sub !== undefined ? sub : defSub;
  $("status").dataset.level = LEVEL[state] || "warn";
  $("status-text").textContent = label;
  orb.setMode(state);
}
// The state between turns; with always-listening on, (re)start the hub-side wake word stream.
function restingState() {
  if (!hubReady) return;
  if (settings.wake && mode === "idle" && !streaming) {
    startWakeMode().catch(micError);
    return;
  }
  setState(mode === "wake" ? "wake" : "idle");
}
function micError(err) {
  setState("error", `Microphone unavailable: ${err.message || err}`);
  settings.wake = false;
  showWake(false);
}

// ---------------------------------------------------------------- the hub's events
function onEvent(type, data) {
  switch (type) {
    case "state":
      if (data.state === "ready") {
        hubReady = true;
        jarvis.hubSession = data;
        mode = "idle";
        streaming = false;
        restingState();
      } else {
        hubReady = false;
        streaming = false;
        mode = "idle";
        if (data.state === "server-down") setState("server-down", `Jarvis's server is not reachable. Retrying${data.retry_in_s ? ` in ${data.retry_in_s} s` : ""}…`);
        else setState(data.state);
      }
      break;
    case "run-start":
      break;
    case "detection":
      // Barge-in: the wake word while Jarvis is speaking stops playback at once.
      bargeIn();
      setState("listening", "Heard “Hey Jarvis”, go ahead");
      break;
    case "voice-started":
      setState("listening");
      break;
    case "voice-stopped":
      if (mode === "ptt") stopPtt(true);
      setState("thinking");
      break;
    case "transcript-chunk":
      if (data.text) setUserText(data.text, true);
      break;
    case "transcript":
      if (mode === "ptt") stopPtt(true);
      if (data.text) setUserText(data.text, false);
      setState("thinking");
      break;
    case "synthesize":
      stats.sentences++;
      if (data.text) appendAnswer(data.text);
      break;
    case "audio-start":
      player.begin(data);
      assistantEl();
      setState("speaking");
      break;
    case "audio-format":
      player.format = { rate: data.rate, width: data.width, channels: data.channels };
      break;
    case "audio-stop":
      // (An audio-stop for an answer already cut off locally, by a barge-in, needs nothing.)
      if (!player.open) break;
      player.onDone = () => {
        send("played");
        finishTurn();
        // A spoken question gets a spoken reply; after a typed one the microphone stays closed.
        const replyS = mode === "text" ? 0 : followUpS;
        followUpS = 0;
        if (replyS && mode === "wake" && streaming) {
          // The hub hears for this page: it listens for the reply itself, no wake word needed.
          setState("listening", `Listening ${replyS} s for your reply`);
          return;
        }
        // After a push-to-talk or typed turn, go back to idle (or restart always-listening).
        if (mode === "ptt" || mode === "text") mode = "idle";
        if (replyS) {
          startFollowUp(replyS).catch(micError);
          return;
        }
        restingState();
      };
      player.end();
      break;
    case "jarvis-follow-up":
      // The answer asks something: once it has played, listen for the reply (docs/web.md).
      followUpS = Number(data.seconds) || 0;
      break;
    case "jarvis-turn-metrics": {
      if (staleMetrics) {
        staleMetrics = false; // the metrics of the turn a barge-in cancelled
        break;
      }
      const t = currentTurn();
      stats.lastTurnMetrics = data;
      if (t) {
        t.turnId = data.turn_id || t.turnId;
        t.metrics = data;
        showLatency(t);
      }
      // The turn is over. If it had no spoken answer (nothing heard, nothing to say), return to
      // the resting state now; otherwise that happens when the answer has finished playing.
      if (!player.open && !stats.playing && !player.onDone) {
        if (mode === "ptt") stopPtt(true);
        finishTurn();
        if (mode === "ptt" || mode === "text") mode = "idle";
        restingState();
      }
      break;
    }
    case "error": {
      addMsg("error", data.text || data.code || "error");
      if (mode === "ptt") stopPtt(true);
      if (mode === "ptt" || mode === "text") mode = "idle";
      if (currentTurn()) finishTurn();
      setState("error", data.text || "");
      setTimeout(restingState, 2500);
      break;
    }
    case "timer-started":
      addMsg("system", `Timer set${data.name ? ` (${data.name})` : ""}: ${fmtSeconds(data.total_seconds)}`, ICONS.timer);
      break;
    case "timer-cancelled":
      addMsg("system", "Timer cancelled", ICONS.timer);
      break;
    case "timer-finished":
      addMsg("system", `Timer done${data.name ? `: ${data.name}` : ""}`, ICONS.timer);
      toast("Timer done");
      beep();
      break;
    default:
      break;
  }
}
const socketHandlers = {
  onEvent,
  onAudio: (buf) => player.push(buf),
  onClose: () => {
    hubReady = false;
    streaming = false;
    mode = "idle";
  },
  onDown: () => setState("server-down", "Connection to the web server lost. Retrying…"),
};

// ---------------------------------------------------------------- talking
function onMicFrame(buf) {
  if (!streaming || !sendAudio(buf)) return;
  stats.micBytesSent += buf.byteLength;
  stats.micFramesSent++;
}
function closeMic() {
  streaming = false;
  stopMic();
}
function bargeIn() {
  followUpS = 0; // the question of the answer cut off here opens no window
  const turn = currentTurn();
  const busy = ["listening", "thinking", "speaking"].includes(jarvis.state);
  if (busy && turn && !turn.done && !turn.metrics) staleMetrics = true;
  player.stop();
  finishTurn();
  newTurn();
}
async function startWakeMode() {
  if (!hubReady) return;
  await startMic(onMicFrame);
  mode = "wake";
  send("run-pipeline", pipelineData("wake", { restart_on_end: true }));
  send("audio-start");
  streaming = true;
  setState("wake");
}
function stopWakeMode() {
  if (mode === "wake" && streaming) send("audio-stop");
  streaming = false;
  mode = "idle";
  closeMic();
  restingState();
}
async function startPtt() {
  if (!hubReady) { toast("Not connected to the server yet"); return; }
  audioContext();
  try { await startMic(onMicFrame); } catch (err) { micError(err); return; }
  if (streaming) send("audio-stop"); // leave wake mode's stream; the new run barges in
  bargeIn();
  mode = "ptt";
  send("run-pipeline", pipelineData("asr"));
  send("audio-start");
  streaming = true;
  $("ptt").classList.add("held");
  setState("listening");
}
// The reply to a question, without the wake word or the button: like push-to-talk, but the hub
// ends it (after the reply, or after `seconds` of silence with the outcome no-reply).
async function startFollowUp(seconds) {
  if (!hubReady) return;
  await startMic(onMicFrame);
  mode = "ptt";
  send("run-pipeline", pipelineData("asr", { follow_up: true }));
  send("audio-start");
  streaming = true;
  setState("listening", `Listening ${seconds} s for your reply`);
}
function stopPtt(byServer) {
  $("ptt").classList.remove("held");
  if (mode !== "ptt" || !streaming) return;
  streaming = false;
  send("audio-stop");
  if (!byServer) setState("thinking");
}
function askText(text) {
  text = text.trim();
  if (!text) return;
  if (!hubReady) { toast("Not connected to the server yet"); return; }
  audioContext();
  if (streaming) { send("audio-stop"); streaming = false; } // wake mode's stream, or a follow-up's
  bargeIn();
  mode = "text";
  setUserText(text, false);
  send("run-pipeline", pipelineData("handle"));
  send("transcript", { text, language: settings.language });
  setState("thinking");
}
function regenerate(question) {
  if (question) askText(question);
}
jarvis.ask = askText;
jarvis.startWakeMode = startWakeMode;

function setWake(on) {
  settings.wake = on;
  saveSettings();
  showWake(on);
  if (on) { audioContext(); startWakeMode().catch(micError); } else stopWakeMode();
}
// A new microphone: reopen it, and the wake word stream with it.
function onMicChange() {
  if (!micOpen()) return;
  const wasWake = mode === "wake";
  if (wasWake) stopWakeMode(); else closeMic();
  if (wasWake) startWakeMode().catch(micError);
}

// ---------------------------------------------------------------- controls
resumeOnGesture();
bindDrawers();
bindLog({ regenerate });
bindMemoryEditor();
bindSettingsUi({ onMicChange, onWake: setWake, onLogout: logout });
$("btn-pair").addEventListener("click", () => {
  $("qr").src = "/api/pairing.svg?ts=" + Date.now();
  openDrawer("drawer-pair");
});
const ptt = $("ptt");
ptt.addEventListener("pointerdown", (e) => { e.preventDefault(); ptt.setPointerCapture?.(e.pointerId); startPtt(); });
ptt.addEventListener("pointerup", () => stopPtt(false));
ptt.addEventListener("pointercancel", () => stopPtt(false));
ptt.addEventListener("keydown", (e) => { if ((e.key === " " || e.key === "Enter") && !e.repeat) { e.preventDefault(); startPtt(); } });
ptt.addEventListener("keyup", (e) => { if (e.key === " " || e.key === "Enter") stopPtt(false); });
$("text-form").addEventListener("submit", (e) => {
  e.preventDefault();
  askText($("text-input").value);
  $("text-input").value = "";
});

// ---------------------------------------------------------------- start
setState("connecting");
api("GET", "/api/session")
  .then((r) => r.json())
  .then((session) => {
    jarvis.session = session;
    $("user-chip").textContent = session.user_id;
    $("pair-url").textContent = session.pairing_url;
    $("pair-warning").classList.toggle("hidden", session.pairing_reachable !== false);
    applySettingsUi(session);
    connect(socketHandlers);
    return loadMemory();
  })
  .then((mem) => {
    if (mem && mem.onboarding.needed) {
      addMsg("system", mem.onboarding.question + " (Answer out loud, or in the Memory menu.)", ICONS.hello);
    }
  })
  .catch((err) => setState("error", err.message));
