// The web lobby's entry point: the views, the login, and reconnecting a reloaded tab with the
// tokens and last seq it saved.
import { Warren, WarrenError } from "../../src/index.js";
import { mountAccount } from "./account.js";
import { App } from "./app.js";
import { mountAuth } from "./auth.js";
import { showConnection, watchNetwork } from "./connection.js";
import { byTestId, h, show } from "./dom.js";
import { clearEventLog, initEventLog } from "./eventlog.js";
import { wire } from "./events.js";
import { mountGame } from "./game.js";
import { mountLobby } from "./lobby.js";
import { clearMessages, showError, showNote } from "./messages.js";
import { invitationsBar } from "./private.js";
import { saved } from "./storage.js";
const warren = new Warren({ url: location.origin });
const app = new App(warren);
/** Set while this page ends its own connection, so its `closed` event is expected. */
let leaving = false;
function start(client, fresh) {
    // Where a reloaded tab was: read before the first render saves the (still empty) state over it.
    const place = fresh ? {} : saved.place();
    if (fresh) {
        clearEventLog();
        saved.setPlace({});
    }
    app.client = client;
    saved.setTokens(client.tokens);
    saved.setLastSeq(client.lastSeq);
    wire(app, client);
    client.on("closed", ({ code, reason }) => {
        if (leaving || app.client !== client)
            return;
        if (code === 4003) {
            saved.clear();
            clearEventLog();
            showError(new WarrenError("unauthorized", "Your login ended (logged out, or used elsewhere): log in again."));
        }
        else if (code === 4008) {
            showNote("This tab was disconnected: the same player opened a newer connection. Continue to take over again.");
        }
        else {
            showError(new WarrenError("closed", `The connection closed for good (${code}${reason ? `: ${reason}` : ""}).`));
        }
        app.reset();
        showConnection("closed");
    });
    showConnection(client.state);
    app.changed();
    void app.reread(place);
}
function resume() {
    const tokens = saved.tokens();
    if (tokens === undefined)
        return;
    showConnection("connecting");
    warren.connect(tokens, { lastSeq: saved.lastSeq() }).then((client) => start(client, false), (error) => {
        showError(error, "Reconnecting");
        if (error instanceof WarrenError && error.code === "unauthorized")
            saved.clear();
        showConnection("none");
        app.changed();
    });
}
function logOut() {
    const client = app.client;
    if (client === null)
        return;
    leaving = true;
    client
        .logout()
        .then(() => {
        saved.clear();
        clearEventLog();
        clearMessages();
        app.reset();
        showConnection("none");
        showNote("Logged out.");
    }, (error) => showError(error, "Logging out"))
        .finally(() => {
        leaving = false;
    });
}
// The views. Which one shows: the game while there is one, the lobby while logged in, else login.
initEventLog();
watchNetwork();
mountAuth(warren, (client) => start(client, true));
const resumeButton = h("button", { type: "button", class: "primary", testid: "resume", onclick: resume }, "Continue as before");
const resumeBox = h("div", { class: "card resume" }, h("p", {}, "This tab has a saved login."), resumeButton);
byTestId("auth-view").prepend(resumeBox);
mountAccount(app, logOut);
mountLobby(app);
mountGame(app);
byTestId("lobby-view").before(invitationsBar(app));
app.onChange(() => {
    const loggedIn = app.client !== null;
    show(byTestId("auth-view"), !loggedIn);
    show(byTestId("lobby-view"), loggedIn && app.game === null);
    show(byTestId("game-view"), loggedIn && app.game !== null);
    show(resumeBox, !loggedIn && saved.tokens() !== undefined);
    document.body.dataset["view"] = !loggedIn ? "auth" : app.game === null ? "lobby" : "game";
});
showConnection("none");
app.changed();
resume();
