// The page's observable state, as window.jarvis: the browser tests read it, and so can the console.
import { satelliteId, settings } from "./settings.js";

export const stats = {
  wsMessages: 0, audioBytesReceived: 0, audioChunksReceived: 0, audioChunksScheduled: 0, audioStreams: 0,
  playing: false, playedStreams: 0, scheduledSeconds: 0, gaps: 0, gapSeconds: 0, sentences: 0,
  micBytesSent: 0, micFramesSent: 0, turns: 0, lastTurnMetrics: null, reconnects: 0,
};
export const jarvis = { state: "connecting", stats, satelliteId, log: [], settings };
window.jarvis = jarvis;
