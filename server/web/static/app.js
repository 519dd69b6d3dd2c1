"use strict";
// Jarvis in the browser: a satellite over a WebSocket (see docs/api.md).
(() => {
  const $ = (id) => document.getElementById(id);
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

  // ---------------------------------------------------------------- settings
  const settings = Object.assign(
    { mic: "", wake: false, voice: "", language: "en" },
    JSON.parse(localStorage.getItem("jarvis.settings") || "{}"),
  );
  const saveSettings = () => localStorage.setItem("jarvis.settings", JSON.stringify(settings));
  let satelliteId = localStorage.getItem("jarvis.satellite_id");
  if (!satelliteId) {
    const rnd = crypto.getRandomValues(new Uint8Array(6));
    satelliteId = "web-" + Array.from(rnd, (b) => b.toString(16).padStart(2, "0")).join("");
    localStorage.setItem("jarvis.satellite_id", satelliteId);
  }

  // ---------------------------------------------------------------- shared state
  const stats = {
    wsMessages: 0, audioBytesReceived: 0, audioChunksReceived: 0, audioChunksScheduled: 0, audioStreams: 0,
    playing: false, playedStreams: 0, scheduledSeconds: 0, gaps: 0, gapSeconds: 0, sentences: 0,
    micBytesSent: 0, micFramesSent: 0, turns: 0, lastTurnMetrics: null, reconnects: 0,
  };
  const jarvis = { state: "connecting", stats, satelliteId, log: [], settings };
  window.jarvis = jarvis;

  let ws = null;
  let hubReady = false;
  let streaming = false; // sending mic frames to the hub
  let mode = "idle"; // idle | ptt | wake | text
  let turn = null; // {userEl, assistantEl, question, answer, turnId}

  // ---------------------------------------------------------------- UI helpers
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
  let toastTimer = null;
  function toast(text, ms = 3500) {
    const el = $("toast");
    el.textContent = text;
    el.classList.remove("hidden");
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => el.classList.add("hidden"), ms);
  }
  function scrollLog() {
    const log = $("log");
    log.scrollTop = log.scrollHeight;
  }
  function addMsg(kind, text, icon) {
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
  function newTurn() {
    turn = { userEl: null, assistantEl: null, question: "", answer: "", turnId: null, done: false };
    stats.turns++;
    return turn;
  }
  function ensureTurn() {
    return turn && !turn.done ? turn : newTurn();
  }
  function setUserText(text, partial) {
    const t = ensureTurn();
    if (!t.userEl) t.userEl = addMsg("user", "");
    t.userEl.querySelector(".text").textContent = text;
    t.userEl.classList.toggle("partial", !!partial);
    if (!partial) t.question = text;
    scrollLog();
  }
  function assistantEl() {
    const t = ensureTurn();
    if (!t.assistantEl) {
      t.assistantEl = addMsg("assistant", "");
      t.assistantEl.dataset.question = t.question;
    }
    return t.assistantEl;
  }
  function appendAnswer(text) {
    const el = assistantEl();
    const t = turn;
    t.answer = t.answer ? t.answer + " " + text : text;
    el.querySelector(".text").textContent = t.answer;
    scrollLog();
  }
  function finishTurn() {
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
  function showLatency(t) {
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

  // Icons as SVG paths (emoji fonts are missing on some systems).
  const ICONS = {
    up: "M7 10v11M7 10l4-7c1.3 0 2.5 1.1 2.2 2.6L12.6 9H19a2 2 0 0 1 2 2.3l-1.3 7.4A2 2 0 0 1 17.7 21H7M3 10h4v11H3z",
    down: "M17 14V3M17 14l-4 7c-1.3 0-2.5-1.1-2.2-2.6l.6-3.4H5a2 2 0 0 1-2-2.3l1.3-7.4A2 2 0 0 1 6.3 3H17M21 14h-4V3h4z",
    again: "M20 11a8 8 0 1 0-2.3 5.7M20 4v7h-7",
    timer: "M12 8v5l3 2M9 2h6M12 22a8 8 0 1 0 0-16 8 8 0 0 0 0 16z",
    hello: "M12 21a9 9 0 1 0 0-18 9 9 0 0 0 0 18zM8 14s1.5 2 4 2 4-2 4-2M9 9h.01M15 9h.01",
  };
  function svgIcon(d) {
    const ns = "http://www.w3.org/2000/svg";
    const svg = document.createElementNS(ns, "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("class", "ico");
    const p = document.createElementNS(ns, "path");
    p.setAttribute("d", d);
    svg.appendChild(p);
    return svg;
  }

  // ---------------------------------------------------------------- REST
  async function api(method, path, body) {
    const resp = await fetch(path, {
      method,
      credentials: "same-origin",
      headers: body ? { "Content-Type": "application/json" } : {},
      body: body ? JSON.stringify(body) : undefined,
    });
    if (resp.status === 401) {
      location.replace("/login");
      throw new Error("signed out");
    }
    if (!resp.ok) {
      const data = await resp.json().catch(() => ({}));
      throw new Error(data.message || `HTTP ${resp.status}`);
    }
    return resp;
  }

  // ---------------------------------------------------------------- audio
  let ctx = null;
  let outGain = null;
  let outAnalyser = null;
  let micAnalyser = null;
  let micStream = null;
  let micNode = null;
  let micSource = null;

  function audioContext() {
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

  // Browsers (Safari above all) start audio only from a user gesture: any tap resumes it.
  document.addEventListener("pointerdown", () => { if (ctx && ctx.state === "suspended") ctx.resume(); }, { capture: true });

  async function startMic() {
    const c = audioContext();
    if (micStream) return;
    const constraints = {
      audio: {
        channelCount: 1, echoCancellation: true, noiseSuppression: true, autoGainControl: true,
        ...(settings.mic ? { deviceId: { exact: settings.mic } } : {}),
      },
    };
    micStream = await navigator.mediaDevices.getUserMedia(constraints);
    await c.audioWorklet.addModule("/static/mic-worklet.js");
    micSource = c.createMediaStreamSource(micStream);
    micNode = new AudioWorkletNode(c, "jarvis-mic", { numberOfInputs: 1, numberOfOutputs: 0, channelCount: 1 });
    micNode.port.onmessage = (ev) => {
      if (!streaming || !ws || ws.readyState !== WebSocket.OPEN) return;
      ws.send(ev.data);
      stats.micBytesSent += ev.data.byteLength;
      stats.micFramesSent++;
    };
    micSource.connect(micNode);
    micSource.connect(micAnalyser);
    listDevices();
  }
  function stopMic() {
    streaming = false;
    if (micSource) micSource.disconnect();
    if (micNode) micNode.port.onmessage = null;
    if (micStream) micStream.getTracks().forEach((t) => t.stop());
    micStream = micNode = micSource = null;
  }

  // Gap-free playback: every chunk becomes an AudioBuffer scheduled right after the previous one.
  const player = {
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

  function beep() {
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

  // ---------------------------------------------------------------- WebSocket
  function send(type, data) {
    if (!ws || ws.readyState !== WebSocket.OPEN) return false;
    ws.send(JSON.stringify({ type, data: data || {} }));
    return true;
  }
  jarvis.send = send;
  function pipelineData(start, extra) {
    const d = { start_stage: start, end_stage: "tts", language: settings.language, ...(extra || {}) };
    if (settings.voice) d.voice = settings.voice;
    return d;
  }

  let wsBackoff = 500;
  function connect() {
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
        player.push(ev.data);
        return;
      }
      let msg;
      try { msg = JSON.parse(ev.data); } catch (e) { return; }
      onEvent(msg.type, msg.data || {});
    };
    ws.onclose = (ev) => {
      hubReady = false;
      streaming = false;
      mode = "idle";
      if (ev.code === 4401 || ev.code === 1008) { location.replace("/login"); return; }
      setState("server-down", "Connection to the web server lost. Retrying…");
      stats.reconnects++;
      setTimeout(connect, wsBackoff);
      wsBackoff = Math.min(wsBackoff * 2, 8000);
    };
  }

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
          // After a push-to-talk or typed turn, go back to idle (or restart always-listening).
          if (mode === "ptt" || mode === "text") mode = "idle";
          restingState();
        };
        player.end();
        break;
      case "jarvis-turn-metrics": {
        if (staleMetrics) {
          staleMetrics = false; // the metrics of the turn a barge-in cancelled
          break;
        }
        const t = turn;
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
        if (turn) finishTurn();
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
  function fmtSeconds(s) {
    s = Math.round(Number(s) || 0);
    const m = Math.floor(s / 60);
    return m ? `${m} min${s % 60 ? ` ${s % 60} s` : ""}` : `${s} s`;
  }
  function micError(err) {
    setState("error", `Microphone unavailable: ${err.message || err}`);
    settings.wake = false;
    $("wake-toggle").checked = $("wake-setting").checked = false;
  }

  // ---------------------------------------------------------------- talking
  // A new turn while the hub may still be in one (the wake word, the button, a typed question):
  // stop the answer's audio here at once; the hub cancels its turn, whose metrics then still arrive.
  let staleMetrics = false;
  function bargeIn() {
    const busy = ["listening", "thinking", "speaking"].includes(jarvis.state);
    if (busy && turn && !turn.done && !turn.metrics) staleMetrics = true;
    player.stop();
    finishTurn();
    newTurn();
  }
  async function startWakeMode() {
    if (!hubReady) return;
    await startMic();
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
    stopMic();
    restingState();
  }
  async function startPtt() {
    if (!hubReady) { toast("Not connected to the server yet"); return; }
    audioContext();
    try { await startMic(); } catch (err) { micError(err); return; }
    if (streaming) send("audio-stop"); // leave wake mode's stream; the new run barges in
    bargeIn();
    mode = "ptt";
    send("run-pipeline", pipelineData("asr"));
    send("audio-start");
    streaming = true;
    $("ptt").classList.add("held");
    setState("listening");
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
    if (mode === "wake" && streaming) { send("audio-stop"); streaming = false; }
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

  // ---------------------------------------------------------------- orb
  const orb = (() => {
    const canvas = $("orb");
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
      if (current === "speaking") target = analyserLevel(outAnalyser);
      else if (current === "listening" || current === "wake") target = analyserLevel(micAnalyser) * (current === "wake" ? 0.6 : 1);
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
  })();

  // ---------------------------------------------------------------- drawers
  function openDrawer(id) {
    document.querySelectorAll(".drawer").forEach((d) => d.classList.add("hidden"));
    $(id).classList.remove("hidden");
    $("scrim").classList.remove("hidden");
  }
  function closeDrawers() {
    document.querySelectorAll(".drawer").forEach((d) => d.classList.add("hidden"));
    $("scrim").classList.add("hidden");
  }
  $("scrim").addEventListener("click", closeDrawers);
  document.querySelectorAll("[data-close]").forEach((b) => b.addEventListener("click", closeDrawers));
  document.addEventListener("keydown", (e) => { if (e.key === "Escape") closeDrawers(); });

  // memory
  const FIELD_LABELS = { name: "Name", age: "Age", interests: "Interests", what_matters: "What matters to you", notes: "Notes" };
  async function loadMemory() {
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

  // settings
  async function listDevices() {
    if (!navigator.mediaDevices?.enumerateDevices) return;
    const devices = await navigator.mediaDevices.enumerateDevices();
    const sel = $("mic-select");
    const keep = settings.mic;
    sel.replaceChildren(new Option("System default", ""));
    devices.filter((d) => d.kind === "audioinput" && d.deviceId && d.deviceId !== "default").forEach((d, i) => sel.add(new Option(d.label || `Microphone ${i + 1}`, d.deviceId)));
    sel.value = keep;
  }
  function applySettingsUi(session) {
    const lang = $("lang-select");
    lang.replaceChildren();
    const names = { en: "English", fr: "Français", de: "Deutsch", es: "Español", it: "Italiano" };
    (session.languages || ["en"]).forEach((l) => lang.add(new Option(names[l] || l, l)));
    lang.value = settings.language;
    const voice = $("voice-select");
    voice.replaceChildren(new Option("Server default", ""));
    (session.voices || []).forEach((v) => voice.add(new Option(v, v)));
    voice.value = settings.voice;
    $("wake-setting").checked = $("wake-toggle").checked = settings.wake;
  }
  $("mic-select").addEventListener("change", (e) => {
    settings.mic = e.target.value;
    saveSettings();
    if (micStream) { const wasWake = mode === "wake"; if (wasWake) stopWakeMode(); else stopMic(); if (wasWake) startWakeMode().catch(micError); }
  });
  $("voice-select").addEventListener("change", (e) => { settings.voice = e.target.value; saveSettings(); });
  $("lang-select").addEventListener("change", (e) => { settings.language = e.target.value; saveSettings(); });
  function setWake(on) {
    settings.wake = on;
    saveSettings();
    $("wake-setting").checked = $("wake-toggle").checked = on;
    if (on) { audioContext(); startWakeMode().catch(micError); } else stopWakeMode();
  }
  $("wake-toggle").addEventListener("change", (e) => setWake(e.target.checked));
  $("wake-setting").addEventListener("change", (e) => setWake(e.target.checked));
  $("btn-settings").addEventListener("click", () => { openDrawer("drawer-settings"); listDevices(); });
  $("btn-logout").addEventListener("click", async () => {
    await fetch("/api/logout", { method: "POST", credentials: "same-origin" });
    location.replace("/login");
  });

  // pairing
  $("btn-pair").addEventListener("click", () => {
    $("qr").src = "/api/pairing.svg?ts=" + Date.now();
    openDrawer("drawer-pair");
  });

  // talk controls
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
      connect();
      return loadMemory();
    })
    .then((mem) => {
      if (mem && mem.onboarding.needed) {
        addMsg("system", mem.onboarding.question + " (Answer out loud, or in the Memory menu.)", ICONS.hello);
      }
    })
    .catch((err) => setState("error", err.message));
})();
