/**
 * The portal's one script, served at /portal.js (the CSP allows scripts from 'self' only). Every page
 * works without it; with it, the Book page redraws the chosen pool's availability as the form changes
 * (GET /book/availability returns the panel's HTML) and sets the GPUs stepper to the chosen pool's
 * whole-node step.
 */
export const PORTAL_JS = `
(function () {
  'use strict';
  var form = document.querySelector('form[data-availability]');
  if (!form) return;
  var target = document.getElementById(form.getAttribute('data-availability'));
  var pools = [];
  try { pools = JSON.parse(form.getAttribute('data-pools') || '[]'); } catch (e) { pools = []; }
  var field = function (name) { return form.elements.namedItem(name); };
  var timer = null;
  var seq = 0;
  function stepper() {
    var site = field('site').value, gpuType = field('gpuType').value, gpus = field('gpus');
    for (var i = 0; i < pools.length; i++) {
      if (pools[i].site === site && pools[i].gpuType === gpuType) {
        gpus.step = String(pools[i].step); gpus.min = String(pools[i].min); gpus.max = String(pools[i].max);
        if (!gpus.value) gpus.value = String(pools[i].min);
        return;
      }
    }
  }
  function redraw() {
    var q = new URLSearchParams();
    ['site', 'gpuType', 'gpus', 'start', 'end'].forEach(function (n) { q.set(n, field(n).value); });
    var mine = ++seq;
    target.setAttribute('aria-busy', 'true');
    fetch('/book/availability?' + q.toString(), { credentials: 'same-origin', headers: { accept: 'text/html' } })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) { if (html !== null && mine === seq) target.innerHTML = html; })
      .catch(function () {})
      .then(function () { if (mine === seq) target.removeAttribute('aria-busy'); });
  }
  form.addEventListener('change', function (e) {
    var name = e.target && e.target.name;
    if (name === 'site' || name === 'gpuType') stepper();
    if (timer) clearTimeout(timer);
    timer = setTimeout(redraw, 150);
  });
  if (field('start') && field('end')) {
    field('start').addEventListener('change', function () {
      var end = field('end');
      if (field('start').value) end.min = field('start').value;
    });
  }
})();
`;
