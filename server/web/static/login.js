"use strict";
(() => {
  const form = document.getElementById("login-form");
  const error = document.getElementById("login-error");
  const reason = new URLSearchParams(location.search).get("error");
  if (reason === "token") error.textContent = "That pairing link's token is not valid for this server.";
  if (reason === "user") error.textContent = "That user name is not valid.";
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    error.textContent = "";
    const body = { token: form.token.value.trim() };
    if (form.user.value.trim()) body.user = form.user.value.trim();
    try {
      const resp = await fetch("/api/login", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(body),
        credentials: "same-origin",
      });
      if (resp.ok) {
        location.replace("/");
        return;
      }
      const data = await resp.json().catch(() => ({}));
      error.textContent = data.message || `Sign-in failed (${resp.status})`;
    } catch (err) {
      error.textContent = "The server cannot be reached.";
    }
  });
})();
