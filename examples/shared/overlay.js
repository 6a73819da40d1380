// Drawing the assist overlay over a <video>, whatever its size and letterboxing.
// Coordinates on the wire are normalised 0..1 to the shared surface (the video's content).

/** The rectangle (in element pixels) where the video content is drawn (object-fit: contain). */
export function contentRect(video) {
  const ew = video.clientWidth;
  const eh = video.clientHeight;
  const vw = video.videoWidth || ew;
  const vh = video.videoHeight || eh;
  const scale = Math.min(ew / vw, eh / vh);
  const w = vw * scale;
  const h = vh * scale;
  return { x: (ew - w) / 2, y: (eh - h) / 2, w, h };
}

/** A pointer event → normalised coordinates, or null outside the content (the black bars). */
export function toNormalised(video, event) {
  const box = video.getBoundingClientRect();
  const c = contentRect(video);
  const x = (event.clientX - box.left - c.x) / c.w;
  const y = (event.clientY - box.top - c.y) / c.h;
  if (!(x >= 0 && x <= 1 && y >= 0 && y <= 1)) return null;
  return { x, y };
}

/** Sizes a canvas's drawing buffer to the video box it covers (CSS places it over the video). */
export function fitCanvas(canvas, video) {
  const ratio = window.devicePixelRatio || 1;
  const w = Math.round(video.clientWidth * ratio);
  const h = Math.round(video.clientHeight * ratio);
  if (canvas.width !== w || canvas.height !== h) {
    canvas.width = w;
    canvas.height = h;
  }
  return ratio;
}


/** Draws shapes and cursors of an overlay view (see `OverlayView` in the SDK types). */
export function drawOverlay(canvas, video, view, { pending } = {}) {
  const ratio = fitCanvas(canvas, video);
  const ctx = canvas.getContext('2d');
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  if (!view) return;
  const c = contentRect(video);
  const px = (p) => ({ x: c.x + p.x * c.w, y: c.y + p.y * c.h });
  const shapes = pending ? [...view.shapes, pending] : view.shapes;
  for (const s of shapes) {
    ctx.strokeStyle = s.color;
    ctx.fillStyle = s.color;
    ctx.lineWidth = 4;
    if (s.kind === 'highlight') {
      const a = px(s.rect);
      ctx.globalAlpha = 0.25;
      ctx.fillRect(a.x, a.y, s.rect.w * c.w, s.rect.h * c.h);
      ctx.globalAlpha = 1;
      ctx.strokeRect(a.x, a.y, s.rect.w * c.w, s.rect.h * c.h);
    } else if (s.kind === 'arrow') {
      const a = px(s.from);
      const b = px(s.to);
      ctx.beginPath();
      ctx.moveTo(a.x, a.y);
      ctx.lineTo(b.x, b.y);
      ctx.stroke();
      const angle = Math.atan2(b.y - a.y, b.x - a.x);
      ctx.beginPath();
      ctx.moveTo(b.x, b.y);
      ctx.lineTo(b.x - 16 * Math.cos(angle - 0.4), b.y - 16 * Math.sin(angle - 0.4));
      ctx.lineTo(b.x - 16 * Math.cos(angle + 0.4), b.y - 16 * Math.sin(angle + 0.4));
      ctx.closePath();
      ctx.fill();
    }
  }
  for (const cur of view.cursors) {
    const p = px(cur);
    ctx.fillStyle = '#ffbe0b';
    ctx.strokeStyle = '#000';
    ctx.lineWidth = 1.5;
    ctx.beginPath();
    ctx.moveTo(p.x, p.y);
    ctx.lineTo(p.x + 14, p.y + 18);
    ctx.lineTo(p.x + 5, p.y + 17);
    ctx.lineTo(p.x, p.y + 24);
    ctx.closePath();
    ctx.fill();
    ctx.stroke();
  }
}

/** Shows the current script step in an element. */
export function showStep(el, step) {
  el.textContent = step ? `Ticket ${step.ticket} — step ${step.step} of ${step.total}: ${step.title}` : 'No script step yet';
}
