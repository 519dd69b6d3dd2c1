// The orb: a canvas sphere whose colour follows the page's state and whose size follows the sound
// (the answer's while speaking, the microphone's while listening).
import { analysers } from "./audio.js";
import { jarvis } from "./jarvis.js";

export function createOrb(canvas) {
  const g = canvas.getContext("2d");
  const wave = new Uint8Array(512);
  let current = "connecting";
  let level = 0;
  // Per state: [hue of the light side, saturation, hue of the shadow side]. Colours are blended
  // in RGB between states, so a change never sweeps through unrelated hues.
  const palette = {
    connecting: [215, 0.25, 240], "server-down": [40, 0.75, 15], unauthorized: [350, 0.7, 330],
    error: [350, 0.7, 330], idle: [205, 0.55, 245], wake: [195, 0.6, 235], listening: [190, 0.85, 230],
    thinking: [262, 0.8, 290], speaking: [172, 0.8, 212],
  };
  function hsl(h, s, l) {
    h = ((h % 360) + 360) % 360;
    const a = s * Math.min(l, 1 - l);
    const f = (n) => {
      const k = (n + h / 30) % 12;
      return 255 * (l - a * Math.max(-1, Math.min(k - 3, 9 - k, 1)));
    };
    return [f(0), f(8), f(4)];
  }
  function scheme([h, s, h2]) {
    return {
      hi: hsl(h - 10, 0.9, 0.92), light: hsl(h, s, 0.66), mid: hsl(h2, s * 0.9, 0.36),
      dark: hsl(h2 + 20, s * 0.8, 0.14), glow: hsl((h + h2) / 2, s, 0.6), rim: hsl(h, s, 0.8),
      spark: hsl(h, 1, 0.85),
    };
  }
  const schemes = Object.fromEntries(Object.entries(palette).map(([k, v]) => [k, scheme(v)]));
  const col = JSON.parse(JSON.stringify(schemes.connecting));
  const rgba = (c, a) => `rgba(${c[0] | 0}, ${c[1] | 0}, ${c[2] | 0}, ${a})`;
  function analyserLevel(an) {
    if (!an) return 0;
    an.getByteTimeDomainData(wave);
    let sum = 0;
    for (let i = 0; i < wave.length; i++) { const v = (wave[i] - 128) / 128; sum += v * v; }
    return Math.min(1, Math.sqrt(sum / wave.length) * 4.5);
  }
  function draw(ts) {
    const t = ts / 1000;
    const w = canvas.width, h = canvas.height, cx = w / 2, cy = h / 2;
    let target = 0;
    const { out, mic } = analysers();
    if (current === "speaking") target = analyserLevel(out);
    else if (current === "listening" || current === "wake") target = analyserLevel(mic) * (current === "wake" ? 0.6 : 1);
    level += (target - level) * (target > level ? 0.35 : 0.08);
    const goal = schemes[current] || schemes.idle;
    for (const key in col) for (let i = 0; i < 3; i++) col[key][i] += (goal[key][i] - col[key][i]) * 0.06;
    const breathe = 0.5 + 0.5 * Math.sin(t * (current === "thinking" ? 3.2 : 1.3));
    const base = w * 0.27 * (1 + 0.025 * breathe + 0.16 * level);
    g.clearRect(0, 0, w, h);
    // halo
    const halo = g.createRadialGradient(cx, cy, base * 0.6, cx, cy, base * 1.9);
    halo.addColorStop(0, rgba(col.glow, 0.2 + 0.25 * level));
    halo.addColorStop(1, rgba(col.glow, 0));
    g.fillStyle = halo;
    g.fillRect(0, 0, w, h);
    // Two wobbling blobs: a translucent aura that swells with the sound, and the sphere itself.
    const blob = (r0, amp, speed, phase) => {
      g.beginPath();
      const n = 120;
      for (let i = 0; i <= n; i++) {
        const a = (i / n) * Math.PI * 2;
        const wob =
          Math.sin(a * 3 + t * speed + phase) * 0.5 +
          Math.sin(a * 5 - t * speed * 1.4 + phase * 2) * 0.3 +
          Math.sin(a * 2 + t * speed * 0.5) * 0.2;
        const r = r0 * (1 + amp * wob);
        const x = cx + Math.cos(a) * r, y = cy + Math.sin(a) * r;
        if (i === 0) g.moveTo(x, y); else g.lineTo(x, y);
      }
      g.closePath();
    };
    blob(base * (1.1 + 0.12 * level), 0.035 + 0.09 * level, 0.9, 1.3);
    const aura = g.createRadialGradient(cx, cy, base * 0.8, cx, cy, base * 1.3);
    aura.addColorStop(0, rgba(col.glow, 0.22 + 0.3 * level));
    aura.addColorStop(1, rgba(col.glow, 0));
    g.fillStyle = aura;
    g.fill();
    blob(base, 0.012 + 0.05 * level, 1.3, 0);
    const body = g.createRadialGradient(cx - base * 0.35, cy - base * 0.4, base * 0.05, cx, cy, base * 1.05);
    body.addColorStop(0, rgba(col.hi, 1));
    body.addColorStop(0.28, rgba(col.light, 1));
    body.addColorStop(0.72, rgba(col.mid, 1));
    body.addColorStop(1, rgba(col.dark, 1));
    g.fillStyle = body;
    g.fill();
    // rim light
    g.strokeStyle = rgba(col.rim, 0.12 + 0.25 * level);
    g.lineWidth = 1.5;
    g.stroke();
    // thinking: an orbiting spark
    if (current === "thinking" || current === "connecting" || current === "server-down") {
      const a = t * 2.4;
      const x = cx + Math.cos(a) * base * 1.22, y = cy + Math.sin(a) * base * 1.22;
      const s = g.createRadialGradient(x, y, 0, x, y, w * 0.03);
      s.addColorStop(0, rgba(col.spark, 0.9));
      s.addColorStop(1, rgba(col.spark, 0));
      g.fillStyle = s;
      g.fillRect(x - w * 0.03, y - w * 0.03, w * 0.06, w * 0.06);
    }
    // gloss
    const gloss = g.createRadialGradient(cx - base * 0.38, cy - base * 0.45, 0, cx - base * 0.38, cy - base * 0.45, base * 0.55);
    gloss.addColorStop(0, "rgba(255,255,255,0.35)");
    gloss.addColorStop(1, "rgba(255,255,255,0)");
    g.fillStyle = gloss;
    g.beginPath();
    g.arc(cx, cy, base * 0.98, 0, Math.PI * 2);
    g.fill();
    jarvis.orbLevel = level;
    requestAnimationFrame(draw);
  }
  requestAnimationFrame(draw);
  return { setMode: (m) => { current = m; } };
}
