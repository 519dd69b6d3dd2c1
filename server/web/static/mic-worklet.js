"use strict";
// Microphone capture: downsample whatever rate the AudioContext runs at (usually 48 kHz) to
// 16 kHz / 16-bit / mono and post 40 ms frames (640 samples = 1280 bytes) to the page.
// Anti-aliasing: a windowed-sinc low-pass (Blackman, cutoff 0.45 * 16 kHz) before a fractional
// resampler (linear interpolation between filtered samples).

const OUT_RATE = 16000;
const FRAME = 640;

function lowpassTaps(ratio) {
  if (ratio <= 1.0001) return new Float32Array([1]);
  const fc = (0.45 * OUT_RATE) / sampleRate; // cycles per input sample
  const n = Math.max(15, Math.ceil(8 * ratio) | 1);
  const m = (n - 1) / 2;
  const taps = new Float32Array(n);
  let sum = 0;
  for (let i = 0; i < n; i++) {
    const x = i - m;
    const sinc = x === 0 ? 2 * fc : Math.sin(2 * Math.PI * fc * x) / (Math.PI * x);
    const w = 0.42 - 0.5 * Math.cos((2 * Math.PI * i) / (n - 1)) + 0.08 * Math.cos((4 * Math.PI * i) / (n - 1));
    taps[i] = sinc * w;
    sum += taps[i];
  }
  for (let i = 0; i < n; i++) taps[i] /= sum;
  return taps;
}

class MicProcessor extends AudioWorkletProcessor {
  constructor() {
    super();
    this.ratio = sampleRate / OUT_RATE;
    this.taps = lowpassTaps(this.ratio);
    this.hist = new Float32Array(this.taps.length);
    this.hi = 0;
    this.n = 0; // index of the current filtered input sample
    this.pos = 0; // position (in input samples) of the next output sample
    this.prev = 0;
    this.out = new Int16Array(FRAME);
    this.outLen = 0;
  }

  emit(v) {
    const s = v < -1 ? -1 : v > 1 ? 1 : v;
    this.out[this.outLen++] = s < 0 ? s * 0x8000 : s * 0x7fff;
    if (this.outLen === FRAME) {
      const frame = this.out;
      this.port.postMessage(frame.buffer, [frame.buffer]);
      this.out = new Int16Array(FRAME);
      this.outLen = 0;
    }
  }

  process(inputs) {
    const input = inputs[0];
    if (!input || input.length === 0) return true;
    const ch0 = input[0];
    const ch1 = input.length > 1 ? input[1] : null;
    const taps = this.taps;
    const hist = this.hist;
    const len = hist.length;
    for (let i = 0; i < ch0.length; i++) {
      hist[this.hi] = ch1 ? 0.5 * (ch0[i] + ch1[i]) : ch0[i];
      let acc = 0;
      let k = this.hi;
      for (let t = 0; t < taps.length; t++) {
        acc += taps[t] * hist[k];
        k = k === 0 ? len - 1 : k - 1;
      }
      this.hi = this.hi + 1 === len ? 0 : this.hi + 1;
      while (this.pos <= this.n) {
        const frac = this.pos - (this.n - 1);
        this.emit(this.prev + (acc - this.prev) * frac);
        this.pos += this.ratio;
      }
      this.prev = acc;
      this.n++;
    }
    // Keep the counters small (exact for integer and fractional ratios alike).
    if (this.n > 1e6) {
      this.pos -= this.n;
      this.n = 0;
    }
    return true;
  }
}

registerProcessor("jarvis-mic", MicProcessor);
