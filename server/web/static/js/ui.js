// Page helpers the other modules share: element lookup, the toast, icons and the drawers.

export const $ = (id) => document.getElementById(id);

let toastTimer = null;
export function toast(text, ms = 3500) {
  const el = $("toast");
  el.textContent = text;
  el.classList.remove("hidden");
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => el.classList.add("hidden"), ms);
}

// Icons as SVG paths (emoji fonts are missing on some systems).
export const ICONS = {
  up: "M7 10v11M7 10l4-7c1.3 0 2.5 1.1 2.2 2.6L12.6 9H19a2 2 0 0 1 2 2.3l-1.3 7.4A2 2 0 0 1 17.7 21H7M3 10h4v11H3z",
  down: "M17 14V3M17 14l-4 7c-1.3 0-2.5-1.1-2.2-2.6l.6-3.4H5a2 2 0 0 1-2-2.3l1.3-7.4A2 2 0 0 1 6.3 3H17M21 14h-4V3h4z",
  again: "M20 11a8 8 0 1 0-2.3 5.7M20 4v7h-7",
  timer: "M12 8v5l3 2M9 2h6M12 22a8 8 0 1 0 0-16 8 8 0 0 0 0 16z",
  hello: "M12 21a9 9 0 1 0 0-18 9 9 0 0 0 0 18zM8 14s1.5 2 4 2 4-2 4-2M9 9h.01M15 9h.01",
};
export function svgIcon(d) {
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("class", "ico");
  const p = document.createElementNS(ns, "path");
  p.setAttribute("d", d);
  svg.appendChild(p);
  return svg;
}

// ---------------------------------------------------------------- drawers
export function openDrawer(id) {
  document.querySelectorAll(".drawer").forEach((d) => d.classList.add("hidden"));
  $(id).classList.remove("hidden");
  $("scrim").classList.remove("hidden");
}
export function closeDrawers() {
  document.querySelectorAll(".drawer").forEach((d) => d.classList.add("hidden"));
  $("scrim").classList.add("hidden");
}
export function bindDrawers() {
  $("scrim").addEventListener("click", closeDrawers);
  document.querySelectorAll("[data-close]").forEach((b) => b.addEventListener("click", closeDrawers));
  document.addEventListener("keydown", (e) => { if (e.key === "Escape") closeDrawers(); });
}
