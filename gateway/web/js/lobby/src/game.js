// The game view: opened by `session.started` / `match.found`, filled by `sessions.join` and kept
// current by `session.state`. Tic-tac-toe gets its board; relay shows its state and carries the
// chat. Tic-tac-toe takes only `{"cell": n}` (anything else is refused with invalid_params), so
// the chat panel exists in relay sessions only: each chat line is a relay command `{"chat": text}`.
import { delta, rating } from "./account.js";
import { byTestId, fill, h, show } from "./dom.js";
import { describe, showError, showNote } from "./messages.js";
export function mountGame(app) {
    const title = h("h2", { testid: "game-title" });
    const players = h("ul", { class: "players inline", testid: "game-players" });
    const status = h("p", { class: "game-status", testid: "game-status" });
    const result = h("p", { class: "game-result", testid: "game-result" });
    const ratingLine = h("p", { class: "rating-change", testid: "rating-change" });
    const board = h("div", { class: "board", testid: "board", role: "grid" });
    const moveError = h("p", { class: "move-error", testid: "move-error", role: "alert" });
    const relayState = h("div", { class: "relay-state", testid: "relay-state" });
    const chatLog = h("ol", { class: "chat-log", testid: "chat-log" });
    const chatInput = h("input", {
        testid: "chat-input",
        maxlength: 500,
        placeholder: "Say something",
        autocomplete: "off",
        required: true,
    });
    const chatForm = h("form", { class: "row" }, chatInput, h("button", { type: "submit", testid: "chat-send" }, "Send"));
    const chat = h("div", { class: "card chat", testid: "chat" }, h("h3", {}, "Chat"), chatLog, chatForm);
    const info = h("dl", { class: "facts", testid: "game-info" });
    const about = h("div", { class: "card", testid: "game-about" }, h("h3", {}, "This game"), info, h("p", { class: "muted", testid: "no-chat" }, "Tic-tac-toe takes only moves, so there is no chat in it: chat comes with relay games."));
    const leave = h("button", { type: "button", class: "danger", testid: "game-leave" }, "Leave game");
    const back = h("button", { type: "button", class: "primary", testid: "game-close" }, "Back to lobby");
    const cells = Array.from({ length: 9 }, (_, cell) => h("button", {
        type: "button",
        class: "cell",
        testid: `cell-${cell}`,
        "data-cell": cell,
        "aria-label": `cell ${cell + 1}`,
    }));
    board.append(...cells);
    const command = (game, payload, what) => app.api.sessions.command({ session_id: game.sessionId, command: payload }).catch((error) => {
        showError(error, what);
        if (app.game === game) {
            const [text, code] = describe(error);
            game.moveError = code === undefined ? text : `${text} (${code})`;
            app.changed();
        }
        throw error;
    });
    cells.forEach((button, cell) => button.addEventListener("click", () => {
        const game = app.game;
        if (game !== null)
            command(game, { cell }, "Move refused").catch(() => undefined);
    }));
    chatForm.addEventListener("submit", (event) => {
        event.preventDefault();
        const game = app.game;
        const text = chatInput.value.trim();
        if (game === null || text === "")
            return;
        command(game, { chat: text }, "Message not sent").then(() => {
            chatInput.value = "";
        }, () => undefined);
    });
    leave.addEventListener("click", () => {
        const game = app.game;
        if (game === null)
            return;
        void app
            .run(() => app.api.sessions.leave({ session_id: game.sessionId }), "Leaving the game")
            .then((done) => {
            if (done === undefined || app.game !== game)
                return;
            showNote(game.mode === "tic-tac-toe" ? "You left the game (a forfeit)." : "You left the game.");
            app.closeGame();
            void app.readAccount();
        });
    });
    back.addEventListener("click", () => app.closeGame());
    const view = byTestId("game-view");
    fill(view, h("div", { class: "columns game" }, h("div", { class: "column" }, h("div", { class: "card" }, title, players, status, board, relayState, moveError, result, ratingLine, h("div", { class: "row" }, leave, back))), h("div", { class: "column" }, chat, about)));
    app.onChange(() => {
        const game = app.game;
        if (game === null)
            return;
        const me = app.userId;
        const finished = game.status === "finished";
        const ttt = game.mode === "tic-tac-toe";
        view.dataset["sessionId"] = game.sessionId;
        view.dataset["status"] = game.status;
        view.dataset["version"] = String(game.version);
        title.textContent = ttt ? "Tic-tac-toe" : game.mode === "relay" ? "Relay" : game.mode || "Game";
        const state = game.state;
        const marks = ttt && Array.isArray(state?.players) ? state.players : [];
        fill(players, game.players.map((user) => h("li", { class: user === me ? "me" : "", "data-user-id": user }, marks[0] === user
            ? h("span", { class: "mark x" }, "X")
            : marks[1] === user
                ? h("span", { class: "mark o" }, "O")
                : null, app.name(user), user === me ? " (you)" : "", game.left.includes(user) ? h("span", { class: "muted" }, " left") : null)));
        show(board, ttt);
        show(relayState, !ttt);
        show(chat, game.mode === "relay");
        show(byTestId("no-chat", about), ttt);
        fill(info, h("dt", {}, "Session"), h("dd", {}, h("code", {}, game.sessionId)), h("dt", {}, "Version"), h("dd", { testid: "game-version" }, game.version < 0 ? "…" : String(game.version)), h("dt", {}, "Status"), h("dd", {}, game.status));
        show(leave, !finished);
        show(back, finished);
        // Whose turn, or the result.
        const winner = game.winner ?? (typeof state?.winner === "string" ? state.winner : null);
        const over = finished || (ttt && (winner !== null || state?.draw === true));
        let statusText = "Loading the game…";
        if (game.version >= 0) {
            if (over)
                statusText = "Game over";
            else if (ttt && typeof state?.turn === "string") {
                statusText = state.turn === me ? "Your turn" : `Waiting for ${app.name(state.turn)}`;
            }
            else if (!ttt)
                statusText = "Every command goes to every player";
        }
        status.textContent = statusText;
        status.dataset["turn"] =
            ttt && typeof state?.turn === "string" && !over ? (state.turn === me ? "me" : "other") : "";
        let resultText = "";
        if (over)
            resultText = winner === me ? "You won" : winner !== null ? "You lost" : ttt ? "Draw" : "Game over";
        result.textContent = resultText;
        result.dataset["result"] = !over ? "" : winner === me ? "won" : winner !== null ? "lost" : "draw";
        show(result, over);
        const change = game.rating;
        if (change !== null) {
            fill(ratingLine, "Rating ", h("strong", {}, rating(change.rating)), " ", h("span", { class: change.delta >= 0 ? "up" : "down", testid: "rating-delta" }, `(${delta(change.delta)})`));
            ratingLine.dataset["delta"] = String(change.delta);
            ratingLine.dataset["rating"] = String(change.rating);
        }
        else {
            ratingLine.textContent = "Rating: updating…";
            delete ratingLine.dataset["delta"];
        }
        show(ratingLine, over && game.mode === "tic-tac-toe");
        moveError.textContent = game.moveError ?? "";
        show(moveError, game.moveError !== null);
        if (ttt) {
            const cellsNow = Array.isArray(state?.board) ? state.board : [];
            cells.forEach((button, cell) => {
                const mark = cellsNow[cell] ?? "";
                button.textContent = mark;
                button.dataset["mark"] = mark;
                button.disabled = over || game.version < 0;
                button.classList.toggle("taken", mark !== "");
                button.classList.toggle("mine", marks[0] === me ? mark === "X" : mark === "O");
            });
            board.classList.toggle("my-turn", !over && state?.turn === me);
        }
        else {
            fill(relayState, h("p", {}, "Still in: ", (state?.players ?? []).map((user) => app.name(user)).join(", ") || "nobody"), h("p", {}, "Last command: ", typeof state?.from === "string" ? `from ${app.name(state.from)}` : "none yet", state?.over === true ? " · over" : ""), typeof state?.from === "string"
                ? h("pre", { testid: "relay-command" }, JSON.stringify(state.command, null, 2))
                : null);
            fill(chatLog, game.chat.length === 0
                ? h("li", { class: "muted" }, "No messages yet.")
                : game.chat.map((line) => h("li", { testid: "chat-line", "data-version": line.version }, h("strong", {}, app.name(line.from)), ": ", line.text)));
            chatLog.scrollTop = chatLog.scrollHeight;
        }
    });
}
