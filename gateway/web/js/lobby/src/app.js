// The page's state and the actions on it. Views read the state and call the actions; every
// change ends with `changed()`, which re-renders the views. Events from the server land here too
// (see events.ts), so a view never talks to the client by itself except through `run`.
import { WarrenError } from "../../src/index.js";
import { showError, showNote } from "./messages.js";
import { saved } from "./storage.js";
export class App {
    warren;
    client = null;
    account = null;
    room = null;
    privateRoom = null;
    search = null;
    game = null;
    invitations = [];
    names = new Map();
    asked = new Set();
    renderers = [];
    constructor(warren) {
        this.warren = warren;
    }
    get userId() {
        return this.client?.userId ?? "";
    }
    /** The connected client; actions are only offered while there is one. */
    get api() {
        if (this.client === null)
            throw new WarrenError("closed", "not logged in");
        return this.client;
    }
    onChange(render) {
        this.renderers.push(render);
    }
    changed() {
        this.savePlace();
        for (const render of this.renderers)
            render();
    }
    /** Runs a call; a refusal is shown in the message area and gives `undefined`. */
    async run(call, context) {
        try {
            return await call();
        }
        catch (error) {
            showError(error, context);
            return undefined;
        }
    }
    /** A player's display name: "you" for the caller, read once with `accounts.get` otherwise. */
    name(userId) {
        if (userId === this.userId && this.account !== null)
            return this.account.display_name;
        const known = this.names.get(userId);
        if (known !== undefined)
            return known;
        if (!this.asked.has(userId) && this.client !== null) {
            this.asked.add(userId);
            this.client.accounts.get({ user_id: userId }).then((account) => {
                this.names.set(userId, account.display_name);
                this.changed();
            }, (error) => {
                this.asked.delete(userId);
                showError(error, "reading a player's name");
            });
        }
        return `player ${userId.slice(0, 8)}`;
    }
    setAccount(account) {
        this.account = account;
        this.names.set(account.user_id, account.display_name);
        this.changed();
    }
    async readAccount() {
        const account = await this.run(() => this.api.accounts.me(), "reading your account");
        if (account !== undefined)
            this.setAccount(account);
    }
    // ---- rooms ----
    /** A room (public or private) from a call's answer or `room.updated`: the newest version wins. */
    applyRoom(room) {
        // A late answer about a room whose game has started: the game is where the player is now.
        if (this.game?.status === "running")
            return;
        if ("code" in room) {
            if (this.privateRoom?.room_id === room.room_id && this.privateRoom.version > room.version)
                return;
            this.privateRoom = room;
        }
        else {
            if (this.room?.room_id === room.room_id && this.room.version > room.version)
                return;
            this.room = room;
        }
        this.changed();
    }
    roomGone(roomId) {
        if (this.room?.room_id === roomId)
            this.room = null;
        if (this.privateRoom?.room_id === roomId)
            this.privateRoom = null;
        this.changed();
    }
    // ---- games ----
    /** Opens the game view for a session (from `session.started`, `match.found` or a re-read). */
    openGame(sessionId, mode = "", players = []) {
        if (this.game?.sessionId === sessionId)
            return;
        this.game = {
            sessionId,
            mode,
            players,
            state: null,
            version: -1,
            status: "running",
            winner: null,
            rating: null,
            left: [],
            chat: [],
            moveError: null,
        };
        this.room = null;
        this.privateRoom = null;
        this.search = null;
        this.changed();
        void this.readGame();
    }
    /** `sessions.join`: the session's state now (also after a reconnect that lost events). */
    async readGame() {
        const game = this.game;
        if (game === null)
            return;
        try {
            const session = await this.api.sessions.join({ session_id: game.sessionId });
            this.applySession(session);
        }
        catch (error) {
            showError(error, "reading the game");
            if (error instanceof WarrenError && (error.code === "not_found" || error.code === "forbidden")) {
                if (this.game === game)
                    this.closeGame();
            }
        }
    }
    applySession(session) {
        const game = this.game;
        if (game === null || game.sessionId !== session.session_id)
            return;
        game.mode = session.game;
        game.players = session.players;
        this.applyState(session.state, session.version);
        if (session.status === "finished" && game.status !== "finished") {
            game.status = "finished";
            game.winner = session.winner ?? null;
        }
        this.changed();
    }
    /** A state with its version: kept only if newer than the one shown. */
    applyState(state, version) {
        const game = this.game;
        if (game === null || version <= game.version)
            return;
        game.state = state;
        game.version = version;
        game.moveError = null;
        const relay = state;
        if (game.mode === "relay" && typeof relay?.from === "string") {
            const text = relay.command?.chat;
            if (typeof text === "string" && !game.chat.some((line) => line.version === version)) {
                game.chat.push({ version, from: relay.from, text });
            }
        }
        this.changed();
    }
    finishGame(sessionId, winner) {
        const game = this.game;
        if (game?.sessionId !== sessionId)
            return;
        game.status = "finished";
        game.winner = winner;
        this.changed();
        void this.readAccount();
    }
    closeGame() {
        this.game = null;
        this.changed();
    }
    // ---- resync ----
    /**
     * Reads everything again: after a reload and when a reconnect could not replay the events it
     * missed (`resync`). The game, the search, the room, the account.
     */
    async reread(place = saved.place()) {
        await this.readAccount();
        if (this.game === null && place.sessionId !== undefined)
            this.openGame(place.sessionId);
        else if (this.game !== null)
            await this.readGame();
        const ticket = await this.run(() => this.api.matchmaker.status(), "reading your search");
        if (ticket === null) {
            if (this.search !== null)
                showNote("Your search has ended.");
            this.search = null;
        }
        else if (ticket !== undefined) {
            if (ticket.state === "matched" && typeof ticket.session_id === "string") {
                this.openGame(ticket.session_id, ticket.mode);
            }
            else {
                this.search = {
                    ticketId: ticket.ticket_id,
                    mode: ticket.mode,
                    region: ticket.region,
                    startedAt: ticket.created_at,
                    state: ticket.state ?? "searching",
                };
            }
        }
        const roomId = this.room?.room_id ?? (place.code === undefined ? place.roomId : undefined);
        if (roomId !== undefined && this.game === null) {
            try {
                this.applyRoom(await this.api.rooms.join({ room_id: roomId }));
            }
            catch (error) {
                this.room = null;
                if (!(error instanceof WarrenError && error.code === "not_found"))
                    showError(error, "reading your room");
                else
                    showNote("Your room is gone.");
            }
        }
        const code = this.privateRoom?.code ?? place.code;
        if (code !== undefined && this.game === null) {
            try {
                this.applyRoom(await this.api.privateRooms.join({ code }));
            }
            catch (error) {
                this.privateRoom = null;
                if (!(error instanceof WarrenError && error.code === "not_found"))
                    showError(error, "reading your private room");
                else
                    showNote("Your private room is gone.");
            }
        }
        this.changed();
    }
    savePlace() {
        if (this.client === null)
            return;
        const place = {};
        // A finished game is not gone back to after a reload: the lobby is where the player is.
        if (this.game !== null && this.game.status === "running")
            place.sessionId = this.game.sessionId;
        if (this.room !== null)
            place.roomId = this.room.room_id;
        if (this.privateRoom !== null) {
            place.roomId = this.privateRoom.room_id;
            place.code = this.privateRoom.code;
        }
        saved.setPlace(place);
    }
    reset() {
        this.client = null;
        this.account = null;
        this.room = null;
        this.privateRoom = null;
        this.search = null;
        this.game = null;
        this.invitations = [];
        this.names.clear();
        this.asked.clear();
        this.changed();
    }
}
