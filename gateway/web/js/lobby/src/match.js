// Quick match: pick a mode and a region, search with a visible timer, cancel. A match opens the
// game view (events.ts, on `match.found` / `session.started`).
import { fill, h, select, show } from "./dom.js";
import { showNote } from "./messages.js";
import { DEFAULT_REGION, MODES } from "./types.js";
export function matchCard(app) {
    const mode = select("match-mode", MODES, "tic-tac-toe");
    const region = h("input", {
        testid: "match-region",
        value: DEFAULT_REGION,
        required: true,
        pattern: "[a-z0-9\\-]{1,32}",
        title: "1 to 32 characters of a-z, 0-9 and -",
    });
    const players = h("input", { testid: "match-players", type: "number", min: 2, max: 16, value: 2 });
    const playersLabel = h("label", {}, "Players", players);
    const start = h("button", { type: "submit", class: "primary", testid: "match-start" }, "Find a match");
    const form = h("form", { testid: "match-form" }, h("div", { class: "row" }, h("label", {}, "Mode", mode), h("label", {}, "Region", region), playersLabel), start);
    const timer = h("span", { class: "timer", testid: "match-timer", "data-seconds": 0 });
    const what = h("span", {});
    const cancel = h("button", { type: "button", testid: "match-cancel" }, "Cancel");
    const searching = h("div", { class: "searching", testid: "match-searching" }, h("span", { class: "spinner", "aria-hidden": "true" }), h("div", {}, what, h("div", {}, "Searching… ", timer)), cancel);
    form.addEventListener("submit", (event) => {
        event.preventDefault();
        const search = {
            ticketId: null,
            mode: mode.value,
            region: region.value.trim(),
            startedAt: Date.now(),
            state: "starting",
        };
        const params = {
            mode: search.mode,
            region: search.region,
        };
        if (search.mode === "relay")
            params.players_per_match = players.valueAsNumber;
        app.search = search;
        app.changed();
        void app
            .run(() => app.api.matchmaker.start(params), "Starting a search")
            .then((started) => {
            if (app.search !== search)
                return; // matched, or cancelled, before the answer came
            if (started === undefined) {
                app.search = null;
            }
            else {
                search.ticketId = started.ticket_id;
                search.state = "searching";
            }
            app.changed();
        });
    });
    cancel.addEventListener("click", () => {
        const search = app.search;
        cancel.disabled = true;
        void app
            .run(() => app.api.matchmaker.cancel(), "Cancelling the search")
            .then((done) => {
            cancel.disabled = false;
            if (done !== undefined && app.search === search) {
                app.search = null;
                app.changed();
                showNote("Search cancelled.");
            }
        });
    });
    const tick = () => {
        const search = app.search;
        if (search === null)
            return;
        const seconds = Math.max(0, Math.floor((Date.now() - search.startedAt) / 1000));
        timer.textContent = `${seconds} s`;
        timer.dataset["seconds"] = String(seconds);
    };
    setInterval(tick, 1000);
    mode.addEventListener("change", () => show(playersLabel, mode.value === "relay"));
    show(playersLabel, false);
    app.onChange(() => {
        const search = app.search;
        show(form, search === null);
        show(searching, search !== null);
        start.disabled = app.room !== null || app.privateRoom !== null;
        start.title = start.disabled ? "Leave your room first" : "";
        if (search !== null) {
            fill(what, `${search.mode} in ${search.region}`, search.state === "matching" ? " (a match is being made)" : "");
            tick();
        }
    });
    return h("div", { class: "card", testid: "match-card" }, h("h2", {}, "Quick match"), form, searching);
}
