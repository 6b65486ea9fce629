// The login view: one form, two buttons (Register makes the account, then logs in).

import type { Client, Warren } from "../../src/index.js";
import { byTestId, fill, h } from "./dom.js";
import { showError } from "./messages.js";

export function mountAuth(warren: Warren, loggedIn: (client: Client) => void): void {
  const username = h("input", {
    testid: "username",
    name: "username",
    autocomplete: "username",
    required: true,
    minlength: 3,
    maxlength: 32,
    pattern: "[A-Za-z0-9_\\-]{3,32}",
    title: "3 to 32 letters, digits, _ or -",
  });
  const password = h("input", {
    testid: "password",
    name: "password",
    type: "password",
    autocomplete: "current-password",
    required: true,
    minlength: 8,
    maxlength: 256,
  });
  const login = h("button", { type: "submit", class: "primary", testid: "login", value: "login" }, "Log in");
  const register = h("button", { type: "submit", testid: "register", value: "register" }, "Register");

  const form = h(
    "form",
    { class: "card auth", testid: "auth-form" },
    h("h2", {}, "Play on Warren"),
    h("p", { class: "muted" }, "Log in, or register a new player. Each browser tab is its own player."),
    h("label", {}, "Username", username),
    h("label", {}, "Password", password),
    h("div", { class: "row" }, login, register),
  );

  form.addEventListener("submit", (event: SubmitEvent) => {
    event.preventDefault();
    const action = (event.submitter as HTMLButtonElement | null)?.value ?? "login";
    const [name, secret] = [username.value.trim(), password.value];
    login.disabled = register.disabled = true;
    const go = async (): Promise<Client> => {
      if (action === "register") await warren.register(name, secret);
      return warren.login(name, secret);
    };
    go()
      .then(
        (client) => {
          password.value = "";
          loggedIn(client);
        },
        (error: unknown) => showError(error, action === "register" ? "Registering" : "Logging in"),
      )
      .finally(() => {
        login.disabled = register.disabled = false;
      });
  });

  fill(byTestId("auth-view"), form);
}
