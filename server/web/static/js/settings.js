// Settings kept in this browser (localStorage), this browser's satellite id, and the Settings drawer.
import { $, openDrawer } from "./ui.js";

export const settings = Object.assign(
  { mic: "", wake: false, voice: "", language: "en" },
  JSON.parse(localStorage.getItem("jarvis.settings") || "{}"),
);
export const saveSettings = () => localStorage.setItem("jarvis.settings", JSON.stringify(settings));

export const satelliteId = (() => {
  let id = localStorage.getItem("jarvis.satellite_id");
  if (!id) {
    const rnd = crypto.getRandomValues(new Uint8Array(6));
    id = "web-" + Array.from(rnd, (b) => b.toString(16).padStart(2, "0")).join("");
    localStorage.setItem("jarvis.satellite_id", id);
  }
  return id;
})();

export async function listDevices() {
  if (!navigator.mediaDevices?.enumerateDevices) return;
  const devices = await navigator.mediaDevices.enumerateDevices();
  const sel = $("mic-select");
  const keep = settings.mic;
  sel.replaceChildren(new Option("System default", ""));
  devices.filter((d) => d.kind === "audioinput" && d.deviceId && d.deviceId !== "default").forEach((d, i) => sel.add(new Option(d.label || `Microphone ${i + 1}`, d.deviceId)));
  sel.value = keep;
}

// The languages and voices the server offers (from /api/session), and the stored choices.
export function applySettingsUi(session) {
  const lang = $("lang-select");
  lang.replaceChildren();
  const names = { en: "English", fr: "Français", de: "Deutsch", es: "Español", it: "Italiano" };
  (session.languages || ["en"]).forEach((l) => lang.add(new Option(names[l] || l, l)));
  lang.value = settings.language;
  const voice = $("voice-select");
  voice.replaceChildren(new Option("Server default", ""));
  (session.voices || []).forEach((v) => voice.add(new Option(v, v)));
  voice.value = settings.voice;
  showWake(settings.wake);
}

// Both always-listening switches (the footer's and the drawer's) show the same setting.
export function showWake(on) {
  $("wake-setting").checked = $("wake-toggle").checked = on;
}

// onMicChange: the microphone choice changed (stored already); onWake(on): a switch was flipped.
export function bindSettingsUi({ onMicChange, onWake, onLogout }) {
  $("mic-select").addEventListener("change", (e) => {
    settings.mic = e.target.value;
    saveSettings();
    onMicChange();
  });
  $("voice-select").addEventListener("change", (e) => { settings.voice = e.target.value; saveSettings(); });
  $("lang-select").addEventListener("change", (e) => { settings.language = e.target.value; saveSettings(); });
  $("wake-toggle").addEventListener("change", (e) => onWake(e.target.checked));
  $("wake-setting").addEventListener("change", (e) => onWake(e.target.checked));
  $("btn-settings").addEventListener("click", () => { openDrawer("drawer-settings"); listDevices(); });
  $("btn-logout").addEventListener("click", onLogout);
}
