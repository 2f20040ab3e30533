// Draw a digit: plain JavaScript, no framework, nothing fetched but the model's REST API.
// The page sends the raw canvas (uint8 grey, white ink on black) to the `canvas` signature
// of TF Serving's REST API; the model crops, scales and centres it itself.
"use strict";

const MODEL_URL = "/v1/models/mnist:predict";
const canvas = document.getElementById("canvas");
const ctx = canvas.getContext("2d", { willReadFrequently: true });
const prediction = document.getElementById("prediction");
const message = document.getElementById("message");
const bars = document.getElementById("probabilities");
const preview = document.getElementById("preview");

function clear() {
  ctx.fillStyle = "#000";
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  prediction.textContent = "–";
  message.textContent = "";
  showProbabilities(null);
  preview.getContext("2d").clearRect(0, 0, preview.width, preview.height);
}

function showProbabilities(probabilities) {
  bars.replaceChildren();
  const top = probabilities ? probabilities.indexOf(Math.max(...probabilities)) : -1;
  for (let digit = 0; digit < 10; digit++) {
    const p = probabilities ? probabilities[digit] : 0;
    const label = document.createElement("span");
    label.textContent = String(digit);
    const bar = document.createElement("div");
    bar.className = digit === top ? "bar top" : "bar";
    bar.style.width = `${Math.round(200 * p)}px`;
    bar.dataset.digit = String(digit);
    const value = document.createElement("span");
    value.textContent = probabilities ? `${(100 * p).toFixed(1)}%` : "";
    bars.append(label, bar, value);
  }
}

function showPreview(image) {
  const pixels = preview.getContext("2d").createImageData(28, 28);
  image.flat().forEach((v, i) => {
    pixels.data.set([v, v, v, 255], 4 * i);
  });
  preview.getContext("2d").putImageData(pixels, 0, 0);
}

// the canvas as rows of 0-255 grey values (the red channel of white-on-black ink)
function canvasRows() {
  const { data, width, height } = ctx.getImageData(0, 0, canvas.width, canvas.height);
  const rows = [];
  for (let y = 0; y < height; y++) {
    const row = new Array(width);
    for (let x = 0; x < width; x++) row[x] = data[4 * (y * width + x)];
    rows.push(row);
  }
  return rows;
}

let pending = 0; // only the answer to the latest drawing is shown
async function predict() {
  const ticket = ++pending;
  message.textContent = "asking the model…";
  let reply;
  try {
    const response = await fetch(MODEL_URL, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ signature_name: "canvas", instances: [canvasRows()] }),
    });
    reply = await response.json();
    if (!response.ok) throw new Error(reply.error || `HTTP ${response.status}`);
  } catch (error) {
    if (ticket === pending) {
      prediction.textContent = "–";
      message.textContent = `The model refused: ${error.message}`;
    }
    return;
  }
  if (ticket !== pending) return;
  const { probabilities, image } = reply.predictions[0];
  const best = probabilities.indexOf(Math.max(...probabilities));
  prediction.textContent = String(best);
  message.textContent = "";
  showProbabilities(probabilities);
  showPreview(image);
}

// pointer events cover mouse, touch and pen alike
let drawing = false;
function point(event) {
  const box = canvas.getBoundingClientRect();
  return [(event.clientX - box.left) * canvas.width / box.width,
          (event.clientY - box.top) * canvas.height / box.height];
}
canvas.addEventListener("pointerdown", (event) => {
  drawing = true;
  canvas.setPointerCapture(event.pointerId);
  ctx.strokeStyle = "#fff";
  ctx.fillStyle = "#fff";
  ctx.lineWidth = 20;
  ctx.lineCap = "round";
  ctx.lineJoin = "round";
  const [x, y] = point(event);
  ctx.beginPath();
  ctx.arc(x, y, ctx.lineWidth / 2, 0, 2 * Math.PI);
  ctx.fill();
  ctx.beginPath();
  ctx.moveTo(x, y);
});
canvas.addEventListener("pointermove", (event) => {
  if (!drawing) return;
  const [x, y] = point(event);
  ctx.lineTo(x, y);
  ctx.stroke();
  ctx.beginPath();
  ctx.moveTo(x, y);
});
function strokeEnds() {
  if (!drawing) return;
  drawing = false;
  predict();
}
canvas.addEventListener("pointerup", strokeEnds);
canvas.addEventListener("pointercancel", strokeEnds);
document.getElementById("clear").addEventListener("click", clear);
clear();
