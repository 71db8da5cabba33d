// Picking another state shows that state's cities: clear the old city and reload the form.
// Kept out of the templates so that the Content-Security-Policy can forbid inline script.
document.addEventListener("DOMContentLoaded", function () {
  var state = document.getElementById("state");
  if (!state || !state.form) {
    return;
  }
  state.addEventListener("change", function () {
    var city = state.form.elements.namedItem("city");
    if (city) {
      city.value = "";
    }
    state.form.submit();
  });
});
