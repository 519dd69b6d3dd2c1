// The REST client (docs/api.md): JSON bodies, errors as exceptions, a 401 back to the login page.

export async function api(method, path, body) {
  const resp = await fetch(path, {
    method,
    credentials: "same-origin",
    headers: body ? { "Content-Type": "application/json" } : {},
    body: body ? JSON.stringify(body) : undefined,
  });
  if (resp.status === 401) {
    location.replace("/login");
    throw new Error("signed out");
  }
  if (!resp.ok) {
    const data = await resp.json().catch(() => ({}));
    throw new Error(data.message || `HTTP ${resp.status}`);
  }
  return resp;
}

export async function logout() {
  await fetch("/api/logout", { method: "POST", credentials: "same-origin" });
  location.replace("/login");
}
