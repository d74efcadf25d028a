// Channel set-up: show only the settings of the transport chosen in the list.
// Without this script every transport's fields show; the server reads the chosen one's.
document.addEventListener("DOMContentLoaded", () => {
  const select = document.querySelector("select[name=transport]");
  if (!select) return;
  const show = () => {
    for (const group of document.querySelectorAll("fieldset[data-transport]")) {
      group.hidden = group.dataset.transport !== select.value;
    }
  };
  select.addEventListener("change", show);
  show();
});
