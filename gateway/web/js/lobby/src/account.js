// The player's account in the header: name, rating, games, their user id (to be invited by), and
// log out. Rating changes arrive live (`rating.changed`); the rest is re-read after each game.
import { byTestId, fill, h, show } from "./dom.js";
import { showError, showNote } from "./messages.js";
export function rating(value) {
    return String(Math.round(value));
}
export function delta(value) {
    const rounded = Math.round(value * 10) / 10;
    return rounded > 0 ? `+${rounded}` : rounded < 0 ? `−${Math.abs(rounded)}` : "±0";
}
export function copy(text, what) {
    // No clipboard outside a secure context (a page over plain http from another host).
    const write = async () => {
        if (navigator.clipboard === undefined)
            throw new Error("the clipboard is not available here: select the text and copy it");
        await navigator.clipboard.writeText(text);
    };
    write().then(() => showNote(`${what} copied.`), (error) => showError(error, `Copying the ${what.toLowerCase()}`));
}
export function mountAccount(app, logOut) {
    const panel = byTestId("account");
    app.onChange(() => {
        const account = app.account;
        show(panel, app.client !== null);
        if (app.client === null)
            return;
        fill(panel, h("div", { class: "who" }, h("strong", { testid: "account-name" }, account?.display_name ?? "…"), h("span", { class: "muted" }, "rating ", h("strong", { testid: "account-rating", "data-rating": account?.rating }, account ? rating(account.rating) : "…"), " · ", h("span", { testid: "account-games", "data-played": account?.games_played, "data-won": account?.games_won }, account ? `${account.games_played} played, ${account.games_won} won` : ""))), h("div", { class: "id" }, h("span", { class: "muted" }, "Your id "), h("code", { testid: "account-user-id" }, app.userId), h("button", {
            type: "button",
            class: "small",
            testid: "copy-user-id",
            onclick: () => copy(app.userId, "User id"),
        }, "Copy")), h("button", { type: "button", testid: "logout", onclick: logOut }, "Log out"));
    });
}
