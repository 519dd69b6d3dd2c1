// Audio in: the microphone through the AudioWorklet (/static/mic-worklet.js), which posts 16 kHz
// 16-bit mono frames; each goes to onFrame (the page sends it to the hub while a stream is open).
import { analysers, audioContext } from "./audio.js";
import { listDevices, settings } from "./settings.js";

let micStream = null;
let micNode = null;
let micSource = null;

export const micOpen = () => micStream !== null;

export async function startMic(onFrame) {
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
  micNode.port.onmessage = (ev) => onFrame(ev.data);
  micSource.connect(micNode);
  micSource.connect(analysers().mic);
  listDevices();
}

export function stopMic() {
  if (micSource) micSource.disconnect();
  if (micNode) micNode.port.onmessage = null;
  if (micStream) micStream.getTracks().forEach((t) => t.stop());
  micStream = micNode = micSource = null;
}
