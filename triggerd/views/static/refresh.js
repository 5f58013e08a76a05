// triggerd's pages: reload every 30 s while "refresh" is ticked (remembered for this tab), not
// while the tab is hidden. The pages work without it; nothing here talks to the server.
(function () {
  "use strict";
  var box = document.getElementById("refresh");
  if (!box) {
    return;
  }
  var key = "triggerd.refresh";
  var every = 30000;
  var timer = null;
  function arm() {
    clearTimeout(timer);
    if (box.checked && !document.hidden) {
      timer = setTimeout(function () { window.location.reload(); }, every);
    }
  }
  box.checked = window.sessionStorage.getItem(key) === "on";
  box.parentElement.hidden = false;
  box.addEventListener("change", function () {
    window.sessionStorage.setItem(key, box.checked ? "on" : "off");
    arm();
  });
  document.addEventListener("visibilitychange", arm);
  arm();
}());
