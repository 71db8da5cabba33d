// Listening stats: wide charts open at their recent end; days count in the browser's timezone.
(function () {
  "use strict";
  // A year of days or weeks scrolls sideways on a phone: show today first, on the right.
  var boxes = document.querySelectorAll(".chart-scroll");
  for (var index = 0; index < boxes.length; index += 1) {
    boxes[index].scrollLeft = boxes[index].scrollWidth;
  }
})();

// Count days in the browser's timezone unless the person already chose one.
(function () {
  "use strict";
  var page = document.querySelector("[data-tz-chosen]");
  if (!page || page.getAttribute("data-tz-chosen") !== "0") {
    return;
  }
  var zone = "";
  try {
    zone = Intl.DateTimeFormat().resolvedOptions().timeZone || "";
  } catch (error) {
    return;
  }
  var url = new URL(window.location.href);
  // Once only: with ?tz= already there, the server did not know the name; reloading would loop.
  if (!zone || url.searchParams.has("tz")) {
    return;
  }
  url.searchParams.set("tz", zone);
  window.location.replace(url.toString());
})();
