// Behaviour kept out of the templates so that the Content-Security-Policy can forbid inline script.
document.addEventListener("DOMContentLoaded", function () {
  // Picking another state shows that state's cities: clear the old city and reload the form.
  var state = document.getElementById("state");
  if (state && state.form) {
    state.addEventListener("change", function () {
      var city = state.form.elements.namedItem("city");
      if (city) {
        city.value = "";
      }
      // Land on the city list, the next thing to pick, not at the top of the page.
      state.form.action = state.form.action.split("#")[0] + "#city";
      state.form.submit();
    });
  }
  // Work that may take more than a second says so: a form with data-busy shows its message
  // (an element of class "working" inside it) and cannot be sent twice.
  document.querySelectorAll("form[data-busy]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (form.classList.contains("busy")) {
        event.preventDefault();
        return;
      }
      form.classList.add("busy");
      var working = form.querySelector(".working");
      if (working) {
        working.textContent = form.getAttribute("data-busy");
        working.setAttribute("role", "status");
      }
    });
  });
});

// Picking "next N days" drops dates of one's own; typing a date drops the "next N days" choice.
document.addEventListener("DOMContentLoaded", function () {
  var days = document.getElementById("days");
  var from = document.getElementById("from");
  var to = document.getElementById("to");
  if (!days || !from || !to) {
    return;
  }
  days.addEventListener("change", function () {
    if (days.value) {
      from.value = "";
      to.value = "";
    }
  });
});
