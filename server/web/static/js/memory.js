// The memory editor (the Memory drawer): profile, dynamic memory and facts, through /api/memory.
import { api } from "./api.js";
import { jarvis } from "./jarvis.js";
import { $, openDrawer, toast } from "./ui.js";

const FIELD_LABELS = { name: "Name", age: "Age", interests: "Interests", what_matters: "What matters to you", notes: "Notes" };

export async function loadMemory() {
  const mem = await (await api("GET", "/api/memory")).json();
  jarvis.memory = mem;
  renderMemory(mem);
  return mem;
}

function renderMemory(mem) {
  $("onboarding").classList.toggle("hidden", !mem.onboarding.needed);
  $("onboarding-question").textContent = mem.onboarding.question;
  const form = $("profile-form");
  form.replaceChildren();
  for (const key of mem.profile_fields) {
    const f = document.createElement("div");
    f.className = "field";
    const l = document.createElement("label");
    l.textContent = FIELD_LABELS[key] || key;
    l.htmlFor = "profile-" + key;
    const input = key === "notes" || key === "what_matters" ? document.createElement("textarea") : document.createElement("input");
    input.id = "profile-" + key;
    input.name = key;
    input.value = mem.profile[key] || "";
    f.append(l, input);
    form.appendChild(f);
  }
  const save = document.createElement("button");
  save.className = "primary";
  save.type = "submit";
  save.textContent = "Save profile";
  form.appendChild(save);
  $("dynamic").value = mem.dynamic.summary || "";
  $("dynamic-version").textContent = mem.dynamic.version ? `(version ${mem.dynamic.version})` : "";
  const list = $("facts");
  list.replaceChildren();
  for (const fact of mem.facts) {
    const li = document.createElement("li");
    const s = document.createElement("span");
    s.textContent = fact.fact;
    const del = document.createElement("button");
    del.className = "chip-btn";
    del.textContent = "Forget";
    del.addEventListener("click", async () => {
      renderMemory(await (await api("DELETE", `/api/memory/facts/${fact.id}`)).json());
      toast("Forgotten");
    });
    li.append(s, del);
    list.appendChild(li);
  }
  if (!mem.facts.length) {
    const li = document.createElement("li");
    li.className = "hint";
    li.textContent = "No facts yet. Say “remember that…” or add one here.";
    list.appendChild(li);
  }
}

export function bindMemoryEditor() {
  $("profile-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const body = {};
    for (const el of e.target.querySelectorAll("input, textarea")) body[el.name] = el.value;
    try {
      renderMemory(await (await api("PUT", "/api/memory/profile", body)).json());
      toast("Profile saved");
    } catch (err) { toast("Could not save: " + err.message); }
  });
  $("save-dynamic").addEventListener("click", async () => {
    try {
      renderMemory(await (await api("PUT", "/api/memory/dynamic", { summary: $("dynamic").value })).json());
      toast("Memory saved");
    } catch (err) { toast("Could not save: " + err.message); }
  });
  $("fact-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const text = $("fact-input").value.trim();
    if (!text) return;
    try {
      renderMemory(await (await api("POST", "/api/memory/facts", { text })).json());
      $("fact-input").value = "";
    } catch (err) { toast("Could not add: " + err.message); }
  });
  $("btn-memory").addEventListener("click", () => { openDrawer("drawer-memory"); loadMemory().catch((e) => toast(e.message)); });
}
