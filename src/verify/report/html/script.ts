/**
 * The page's only script, small and optional (the page reads the same without it): a filter box
 * over the findings, and every <details> opened for printing (a closed one prints only its
 * summary). Allowed by its hash in the page's Content-Security-Policy, so no other script runs.
 */
export const SCRIPT = `(function(){
var row=document.querySelector('.filter-row');var box=document.getElementById('filter');
if(row&&box){row.hidden=false;box.addEventListener('input',function(){
var q=box.value.toLowerCase();
document.querySelectorAll('details.finding').forEach(function(d){
var hit=q===''||d.textContent.toLowerCase().indexOf(q)>=0||(d.getAttribute('data-rule')||'').indexOf(q)>=0;
d.parentElement.classList.toggle('hidden-by-filter',!hit);if(hit&&q!=='')d.closest('details.rule-group').open=true;});});}
var opened=[];
window.addEventListener('beforeprint',function(){document.querySelectorAll('details:not([open])').forEach(function(d){d.open=true;opened.push(d);});});
window.addEventListener('afterprint',function(){opened.forEach(function(d){d.open=false;});opened=[];});
})();`;
