// Audio out: the page's one AudioContext, gap-free playback of the answer's chunks, the timer beep.
import { jarvis, stats } from "./jarvis.js";

let ctx = null;
let outGain = null;
let outAnalyser = null;
let micAnalyser = null;

// Made on first use (a user gesture, for the browsers that need one): output gain -> analyser -> speakers.
export function audioContext() {
  if (!ctx) {
    ctx = new AudioContext({ latencyHint: "interactive" });
    outAnalyser = ctx.createAnalyser();
    outAnalyser.fftSize = 512;
    outGain = ctx.createGain();
    outGain.connect(outAnalyser);
    outAnalyser.connect(ctx.destination);
    micAnalyser = ctx.createAnalyser();
    micAnalyser.fftSize = 512;
    jarvis.audioContext = ctx;
  }
  if (ctx.state === "suspended") ctx.resume();
  return ctx;
}

// The output and microphone analysers the orb follows (null before the first audioContext()).
export const analysers = () => ({ out: outAnalyser, mic: micAnalyser });

// Browsers (Safari above all) start audio only from a user gesture: any tap resumes it.
export function resumeOnGesture() {
  document.addEventListener("pointerdown", () => { if (ctx && ctx.state === "suspended") ctx.resume(); }, { capture: true });
}

// Gap-free playback: every chunk becomes an AudioBuffer scheduled right after the previous one.
export const player = {
  format: { rate: 22050, width: 2, channels: 1 },
  nextTime: 0,
  lead: 0.08, // seconds of jitter buffer before a stream starts (adapts after an underrun)
  sources: new Set(),
  open: false, // between audio-start and audio-stop
  onDone: null,
  begin(fmt) {
    if (fmt && fmt.rate) this.format = { rate: fmt.rate, width: fmt.width || 2, channels: fmt.channels || 1 };
    this.open = true;
    this.nextTime = 0;
    stats.audioStreams++;
  },
  push(buf) {
    const c = audioContext();
    const { rate, width, channels } = this.format;
    if (width !== 2) return;
    const pcm = new Int16Array(buf, 0, Math.floor(buf.byteLength / 2));
    const frames = Math.floor(pcm.length / channels);
    if (!frames) return;
    const audio = c.createBuffer(channels, frames, rate);
    for (let ch = 0; ch < channels; ch++) {
      const data = audio.getChannelData(ch);
      for (let i = 0; i < frames; i++) data[i] = pcm[i * channels + ch] / 32768;
    }
    const src = c.createBufferSource();
    src.buffer = audio;
    src.connect(outGain);
    const now = c.currentTime;
    let at = this.nextTime;
    if (at < now + 0.01) {
      // The first chunk of a stream starts after a small jitter buffer. Later, this means the
      // audio arrived slower than real time (an underrun): count it and buffer more from now on.
      if (this.nextTime > 0) {
        stats.gaps++;
        stats.gapSeconds += now - this.nextTime;
        this.lead = Math.min(this.lead * 2, 0.64);
      }
      at = now + this.lead;
    }
    src.start(at);
    this.nextTime = at + audio.duration;
    stats.scheduledSeconds += audio.duration;
    stats.audioChunksScheduled++;
    this.sources.add(src);
    stats.playing = true;
    src.onended = () => {
      this.sources.delete(src);
      this.checkDone();
    };
  },
  end() {
    this.open = false;
    this.checkDone();
  },
  checkDone() {
    if (this.open || this.sources.size) return;
    if (stats.playing) stats.playedStreams++;
    stats.playing = false;
    const cb = this.onDone;
    this.onDone = null;
    if (cb) cb();
  },
  stop() {
    this.open = false;
    for (const s of this.sources) {
      try { s.stop(); } catch (e) { /* already stopped */ }
    }
    this.sources.clear();
    stats.playing = false;
    this.nextTime = 0;
    this.onDone = null;
  },
};

export function beep() {
  const c = audioContext();
  const t = c.currentTime;
  [0, 0.35, 0.7].forEach((d) => {
    const o = c.createOscillator();
    const g = c.createGain();
    o.frequency.value = 880;
    g.gain.setValueAtTime(0.0001, t + d);
    g.gain.exponentialRampToValueAtTime(0.3, t + d + 0.02);
    g.gain.exponentialRampToValueAtTime(0.0001, t + d + 0.25);
    o.connect(g).connect(outGain);
    o.start(t + d);
    o.stop(t + d + 0.3);
  });
}
