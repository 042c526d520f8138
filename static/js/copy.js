// Copy buttons: <button data-copy="#input-id" hidden>. Shown only where the clipboard API exists.
document.querySelectorAll("button[data-copy]").forEach((button) => {
  const source = document.querySelector(button.dataset.copy);
  if (!source || !navigator.clipboard) return;
  button.hidden = false;
  button.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(source.value);
      button.textContent = "Copied";
    } catch {
      source.select();
      button.textContent = "Press Ctrl+C to copy";
    }
    setTimeout(() => { button.textContent = "Copy"; }, 2000);
  });
});
