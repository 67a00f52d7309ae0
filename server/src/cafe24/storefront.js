/* paybridge storefront payment button. The button itself (a small WASM bundle) arrives
   with the external checkout; until then this script only marks the page. */
(function () {
  if (window.top !== window.self) return;
  document.documentElement.setAttribute("data-paybridge", "loaded");
})();
