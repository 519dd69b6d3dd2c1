// The conversation log: a user and an assistant message per turn, the answer's latency, and the
// feedback buttons (good, bad, regenerate) once the turn is over.
import { api } from "./api.js";
import { jarvis, stats } from "./jarvis.js";
import { $, ICONS, svgIcon, toast } from "./ui.js";

let turn = null; // {userEl, assistantEl, question, answer, turnId, done, metrics, ...}
let regenerate = () => {};

export const currentTurn = () => turn;

// regenerate(question): what "Regenerate" does (ask the same question again).
export function bindLog(handlers) {
  regenerate = handlers.regenerate;
}

function scrollLog() {
  const log = $("log");
  log.scrollTop = log.scrollHeight;
}
export function addMsg(kind, text, icon) {
  $("empty-log")?.remove();
  const el = document.createElement("div");
  el.className = "msg " + kind;
  if (icon) el.appendChild(svgIcon(icon));
  const t = document.createElement("div");
  t.className = "text";
  t.textContent = text || "";
  el.appendChild(t);
  $("log").appendChild(el);
  jarvis.log.push({ kind, el });
  scrollLog();
  return el;
}
export function newTurn() {
  turn = { userEl: null, assistantEl: null, question: "", answer: "", turnId: null, done: false };
  stats.turns++;
  return turn;
}
function ensureTurn() {
  return turn && !turn.done ? turn : newTurn();
}
export function setUserText(text, partial) {
  const t = ensureTurn();
  if (!t.userEl) t.userEl = addMsg("user", "");
  t.userEl.querySelector(".text").textContent = text;
  t.userEl.classList.toggle("partial", !!partial);
  if (!partial) t.question = text;
  scrollLog();
}
export function assistantEl() {
  const t = ensureTurn();
  if (!t.assistantEl) {
    t.assistantEl = addMsg("assistant", "");
    t.assistantEl.dataset.question = t.question;
  }
  return t.assistantEl;
}
export function appendAnswer(text) {
  const el = assistantEl();
  const t = turn;
  t.answer = t.answer ? t.answer + " " + text : text;
  el.querySelector(".text").textContent = t.answer;
  scrollLog();
}
export function finishTurn() {
  if (!turn || turn.done) return;
  const t = turn;
  t.done = true;
  if (t.assistantEl && t.answer) addFeedback(t);
}
function addFeedback(t) {
  const meta = document.createElement("div");
  meta.className = "meta";
  const lat = document.createElement("span");
  lat.className = "latency";
  meta.appendChild(lat);
  t.latencyEl = lat;
  if (t.metrics) showLatency(t);
  const mk = (icon, title, fn, label) => {
    const b = document.createElement("button");
    b.className = "chip-btn";
    b.append(svgIcon(icon));
    if (label) b.append(document.createTextNode(label));
    b.title = title;
    b.setAttribute("aria-label", title);
    b.addEventListener("click", () => fn(b));
    meta.appendChild(b);
    return b;
  };
  const up = mk(ICONS.up, "Good answer", (b) => sendFeedback(t, 1, b, down));
  const down = mk(ICONS.down, "Bad answer", (b) => sendFeedback(t, -1, b, up));
  mk(ICONS.again, "Ask the same question again", () => regenerate(t.question), "Regenerate");
  t.assistantEl.appendChild(meta);
  scrollLog();
}
export function showLatency(t) {
  if (!t.latencyEl || !t.metrics) return;
  const s = t.metrics.stages_ms || {};
  const keys = Object.keys(s);
  if (!keys.length) return;
  // Time to the first word of the answer, from the end of the question (speech or text).
  const from = s.speech_end ?? s.endpoint ?? s.transcript ?? 0;
  if (s.first_audio !== undefined) t.latencyEl.textContent = `answered in ${((s.first_audio - from) / 1000).toFixed(2)} s`;
  t.latencyEl.title = keys.map((k) => `${k}: ${Math.round(s[k])} ms`).join("\n");
}
async function sendFeedback(t, rating, btn, other) {
  const turnId = t.turnId || (t.turnId = "web-" + Date.now().toString(36));
  try {
    const resp = await api("POST", "/api/feedback", { turn_id: turnId, rating, question: t.question, answer: t.answer });
    btn.classList.add("chosen");
    other.classList.remove("chosen");
    t.feedback = await resp.json();
    toast(rating > 0 ? "Thanks! Noted." : "Noted. I'll try to do better.");
  } catch (err) {
    toast("Could not save feedback: " + err.message);
  }
}

export function fmtSeconds(s) {
  s = Math.round(Number(s) || 0);
  const m = Math.floor(s / 60);
  return m ? `${m} min${s % 60 ? ` ${s % 60} s` : ""}` : `${s} s`;
}
