// Behaviour the templates ask for with data attributes. The Content-Security-Policy refuses
// inline scripts, event-handler attributes and htmx's evaluated code (hx-on, trigger filters).

// <button data-print>: print the page, or save it as PDF.
document.addEventListener("click", (event) => {
  if (event.target.closest("[data-print]")) window.print();
});

// <form data-custom-range> with a "range" select and date inputs: picking a day means a custom
// range, and picking a named range forgets the days. Captured, so before htmx reads the form.
document.addEventListener("change", (event) => {
  const field = event.target;
  const form = field.form;
  if (!form || !form.matches("[data-custom-range]")) return;
  if (field.matches("input[type=date]")) {
    form.elements.namedItem("range").value = "custom";
    // Both days given: the range applies at once, like every other filter.
    const days = [...form.querySelectorAll("input[type=date]")];
    if (days.every((input) => input.value)) form.dispatchEvent(new Event("range-chosen"));
  } else if (field.name === "range" && field.value !== "custom") {
    form.querySelectorAll("input[type=date]").forEach((input) => { input.value = ""; });
  }
}, true);

// Choosing "custom" waits for the days before asking htmx to filter.
document.addEventListener("htmx:confirm", (event) => {
  const trigger = event.detail.triggeringEvent;
  const field = trigger && trigger.target;
  if (field && field.name === "range" && field.value === "custom" && field.form
      && field.form.matches("[data-custom-range]")) {
    event.preventDefault();
  }
});

// The rule editor's live check swaps in each row's errors: mark the field they are about.
document.addEventListener("htmx:afterSettle", () => {
  document.querySelectorAll("[data-errors-for]").forEach((errors) => {
    const field = document.getElementById(errors.dataset.errorsFor);
    if (!field) return;
    if (errors.children.length) field.setAttribute("aria-invalid", "true");
    else field.removeAttribute("aria-invalid");
  });
});

// <details data-print-open>: printed open (their tables belong on paper), then closed again.
window.addEventListener("beforeprint", () => {
  document.querySelectorAll("details[data-print-open]:not([open])").forEach((details) => {
    details.open = true;
    details.dataset.printOpened = "";
  });
});
window.addEventListener("afterprint", () => {
  document.querySelectorAll("details[data-print-opened]").forEach((details) => {
    details.open = false;
    delete details.dataset.printOpened;
  });
});
