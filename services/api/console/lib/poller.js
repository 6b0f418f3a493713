// Repeats a task every few seconds while the tab is visible; stops when the
// page is left. A slow answer never overlaps the next call.

/** Calls `task` now and then every `intervalMs`; returns a stop function. */
export function poll(task, intervalMs) {
  let timer = null;
  let stopped = false;
  let running = false;

  async function tick() {
    timer = null;
    if (stopped || running) return;
    if (document.hidden) return; // resumed by visibilitychange
    running = true;
    try {
      await task();
    } catch (err) {
      if (err?.status !== 401) console.warn('refresh failed:', err?.message || err);
    } finally {
      running = false;
      if (!stopped) timer = setTimeout(tick, intervalMs);
    }
  }

  function onVisibility() {
    if (!document.hidden && !timer && !running && !stopped) tick();
  }

  document.addEventListener('visibilitychange', onVisibility);
  tick();
  return () => {
    stopped = true;
    if (timer) clearTimeout(timer);
    document.removeEventListener('visibilitychange', onVisibility);
  };
}
