// The server's events, applied to the page's state. Every event is logged (type and seq) and its
// seq saved, so a reload resumes right after it.
import { showConnection } from "./connection.js";
import { logEvent } from "./eventlog.js";
import { showNote } from "./messages.js";
import { saved } from "./storage.js";
export function wire(app, client) {
    client.onAny((type, _data, meta) => {
        logEvent(meta.seq, type);
        saved.setLastSeq(Math.max(meta.seq, client.lastSeq));
    });
    client.on("state", (state) => showConnection(state));
    client.on("tokens", (tokens) => saved.setTokens(tokens));
    client.on("resync", () => {
        showNote("Some events were missed while offline: reading the state again.");
        void app.reread();
    });
    client.on("room.updated", (room) => app.applyRoom(room));
    client.on("room.closed", (closed) => {
        const mine = app.room?.room_id === closed.room_id || app.privateRoom?.room_id === closed.room_id;
        app.roomGone(closed.room_id);
        if (mine && closed.reason === "closed")
            showNote("The room was closed by its owner.");
        if (mine && closed.reason === "expired")
            showNote("The private room expired.");
    });
    client.on("private_room.invited", (invited) => {
        app.invitations = app.invitations.filter((known) => known.room_id !== invited.room_id);
        app.invitations.unshift(invited);
        app.changed();
    });
    client.on("matchmaker.cancelled", (ended) => {
        if (app.search === null || (app.search.ticketId !== null && app.search.ticketId !== ended.ticket_id))
            return;
        app.search = null;
        app.changed();
        showNote(ended.reason === "disconnected" ? "Search cancelled: you were disconnected." : "Search cancelled.");
    });
    client.on("matchmaker.expired", (ended) => {
        if (app.search === null || (app.search.ticketId !== null && app.search.ticketId !== ended.ticket_id))
            return;
        app.search = null;
        app.changed();
        showNote("No match found in time: the search expired.");
    });
    client.on("match.found", (found) => {
        showNote("Match found!");
        app.openGame(found.session_id, found.mode, found.players);
    });
    client.on("session.started", (started) => app.openGame(started.session_id, started.game, started.players));
    client.on("session.state", (changed) => {
        if (app.game?.sessionId === changed.session_id)
            app.applyState(changed.state, changed.version);
    });
    client.on("session.player_left", (left) => {
        const game = app.game;
        if (game?.sessionId !== left.session_id)
            return;
        if (!game.left.includes(left.user_id))
            game.left.push(left.user_id);
        if (left.user_id !== app.userId)
            showNote(`${app.name(left.user_id)} left the game.`);
        app.changed();
    });
    client.on("session.finished", (finished) => app.finishGame(finished.session_id, finished.winner ?? null));
    client.on("rating.changed", (change) => {
        if (app.account !== null)
            app.account = { ...app.account, rating: change.rating };
        if (app.game?.sessionId === change.session_id)
            app.game.rating = change;
        app.changed();
    });
}
