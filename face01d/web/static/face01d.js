// The page's only script: photo uploads (sent as image/* to POST /gallery/{name} with the CSRF header,
// one photo per request, as the API takes them) and a confirmation before removing a person.
"use strict";
const csrf = () => document.querySelector('meta[name="csrf-token"]').content;

async function upload(form, event) {
  event.preventDefault();
  const name = form.elements.name.value.trim();
  const state = form.querySelector(".upload-state");
  for (const file of form.elements.photos.files) {
    state.textContent = `sending ${file.name}…`;
    const answer = await fetch(form.dataset.action + encodeURIComponent(name), {
      method: "POST", body: file, credentials: "same-origin",
      headers: {"Content-Type": file.type || "image/jpeg", "X-CSRF-Token": csrf()}});
    if (!answer.ok) {
      state.textContent = `${file.name}: ${(await answer.json()).error}`;
      return;
    }
  }
  location.assign("/gallery?msg=" + encodeURIComponent(`Added ${form.elements.photos.files.length} photo(s) to ${name}.`));
}

document.addEventListener("DOMContentLoaded", () => {
  const form = document.getElementById("upload");
  if (form) form.addEventListener("submit", (event) => upload(form, event));
  for (const remove of document.querySelectorAll("form[data-confirm]")) {
    remove.addEventListener("submit", (event) => { if (!confirm(remove.dataset.confirm)) event.preventDefault(); });
  }
});
