// The search page writes its results after MathJax has typeset the page, and the summaries quote
// the pages' TeX (\(S\), ...): typeset the results as they arrive.
document.addEventListener("DOMContentLoaded", () => {
  const results = document.getElementById("search-results");
  if (!results) return;
  let timer = null;
  new MutationObserver(() => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      if (window.MathJax && MathJax.typesetPromise) MathJax.typesetPromise([results]);
    }, 100);
  }).observe(results, { childList: true, subtree: true });
});
