// plait dashboard: refresh the page's main block in place, keep selections,
// ask before destructive actions. Everything works without this script too.
(() => {
  "use strict";
  const main = document.getElementById("main");
  const select = document.getElementById("refresh");
  const updated = document.getElementById("updated");
  const KEY = "plait-dashboard-refresh";
  let timer = null;

  function busy() {
    // Never pull the page from under a reader who is choosing or typing.
    const active = document.activeElement;
    if (active && main.contains(active) && /^(INPUT|SELECT|TEXTAREA|BUTTON)$/.test(active.tagName)) return true;
    return main.querySelector("input[type=checkbox]:checked") !== null;
  }

  async function refresh() {
    const url = main.dataset.fragment;
    if (!url || document.hidden || busy()) return;
    try {
      const response = await fetch(url, { credentials: "same-origin", headers: { "Accept": "text/html" } });
      if (!response.ok) { updated.textContent = "refresh failed (" + response.status + ")"; return; }
      const html = await response.text();
      if (busy()) return;
      main.innerHTML = html;
      bind();
      loadCounts();
      updated.textContent = "updated " + new Date().toLocaleTimeString();
      main.dispatchEvent(new CustomEvent("plait:refreshed", { bubbles: true }));
    } catch (error) {
      updated.textContent = "refresh failed (offline?)";
    }
  }

  async function loadCounts() {
    // The jobs list comes without its tabs' counts (they cost the overview's
    // query); fetch them once the list is shown.
    const tabs = main.querySelector("nav.tabs[data-counts]");
    if (!tabs) return;
    try {
      const response = await fetch(tabs.dataset.counts, { credentials: "same-origin" });
      if (response.ok && tabs.isConnected) tabs.outerHTML = await response.text();
    } catch (error) {
      // The tabs still work without their counts.
    }
  }

  function schedule() {
    if (timer !== null) clearInterval(timer);
    timer = null;
    const seconds = parseFloat(select.value);
    if (seconds > 0) timer = setInterval(refresh, seconds * 1000);
  }

  function bind() {
    const all = main.querySelector("[data-select-all]");
    const boxes = () => Array.from(main.querySelectorAll("input[name=ids]"));
    const counter = main.querySelector("[data-selected-count]");
    const update = () => {
      const n = boxes().filter((b) => b.checked).length;
      if (counter) counter.textContent = n ? n + " selected" : "none selected";
      main.querySelectorAll("[data-needs-selection]").forEach((b) => { b.disabled = n === 0; });
    };
    if (all) all.addEventListener("change", () => { boxes().forEach((b) => { b.checked = all.checked; }); update(); });
    boxes().forEach((b) => b.addEventListener("change", update));
    update();
  }

  document.addEventListener("submit", (event) => {
    const button = event.submitter;
    const question = button && button.dataset.confirm;
    if (question && !window.confirm(question)) event.preventDefault();
  });

  if (select && main.dataset.fragment) {
    select.closest("label").hidden = false;
    const saved = localStorage.getItem(KEY);
    select.value = saved !== null ? saved : select.dataset.default;
    if (!select.value) select.value = "0";
    select.addEventListener("change", () => { localStorage.setItem(KEY, select.value); schedule(); });
    document.addEventListener("visibilitychange", () => { if (!document.hidden) refresh(); });
    schedule();
  }
  bind();
  loadCounts();
})();
