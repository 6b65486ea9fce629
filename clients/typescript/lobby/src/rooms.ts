// Public rooms: the open rooms of a mode (refreshed by hand, when the mode changes, after each
// change of your own room, and every few seconds while you look: no event announces other
// players' rooms), create, join; and the room you are in, from `room.updated`: its players, who
// is ready, your ready toggle, leave.

import type { App } from "./app.js";
import { fill, h, select, show } from "./dom.js";
import { MODES, type Room } from "./types.js";

const REFRESH_MS = 5_000;

export function roomsCard(app: App, visible: () => boolean): HTMLElement {
  let rooms: Room[] = [];
  let loading = false;

  const listMode = select("rooms-mode", MODES, "tic-tac-toe");
  const refreshButton = h("button", { type: "button", class: "small", testid: "rooms-refresh" }, "Refresh");
  const list = h("ul", { class: "list", testid: "rooms-list" });

  const refresh = async (): Promise<void> => {
    if (loading || app.client === null) return;
    loading = true;
    refreshButton.disabled = true;
    const found = await app.run(
      () => app.api.rooms.list({ mode: listMode.value, limit: 50 }),
      "Listing rooms",
    );
    loading = false;
    refreshButton.disabled = false;
    if (found !== undefined) rooms = found;
    renderList();
  };
  refreshButton.addEventListener("click", () => void refresh());
  listMode.addEventListener("change", () => void refresh());
  setInterval(() => {
    if (visible() && app.client?.state === "open" && app.room === null) void refresh();
  }, REFRESH_MS);

  const join = (room: Room): void => {
    void app
      .run(() => app.api.rooms.join({ room_id: room.room_id }), "Joining the room")
      .then((joined) => {
        if (joined !== undefined) app.applyRoom(joined);
        void refresh();
      });
  };

  const renderList = (): void => {
    const busy = app.room !== null || app.privateRoom !== null || app.search !== null;
    fill(
      list,
      rooms.length === 0
        ? h("li", { class: "muted" }, `No open ${listMode.value} rooms. Create one!`)
        : rooms.map((room) =>
            h(
              "li",
              { testid: "room-item", "data-room-id": room.room_id },
              h(
                "span",
                { class: "grow" },
                h("strong", {}, room.name ?? "Unnamed room"),
                " ",
                h("span", { class: "muted" }, `by ${app.name(room.owner)}`),
              ),
              h("span", { class: "muted" }, `${room.players.length}/${room.max_players}`),
              h(
                "button",
                {
                  type: "button",
                  class: "small",
                  testid: "room-join",
                  disabled: busy,
                  onclick: () => join(room),
                },
                "Join",
              ),
            ),
          ),
    );
  };

  // Creating a room.
  const createMode = select("create-mode", MODES, "tic-tac-toe");
  const size = h("input", { testid: "create-size", type: "number", min: 2, max: 16, value: 2 });
  const name = h("input", { testid: "create-name", maxlength: 64, placeholder: "optional" });
  const create = h("button", { type: "submit", testid: "create-room" }, "Create room");
  const createForm = h(
    "form",
    { class: "row", testid: "create-room-form" },
    h("label", {}, "Mode", createMode),
    h("label", { class: "narrow" }, "Size", size),
    h("label", { class: "grow" }, "Name", name),
    create,
  );
  createMode.addEventListener("change", () => {
    if (createMode.value === "tic-tac-toe") size.value = "2";
  });
  createForm.addEventListener("submit", (event) => {
    event.preventDefault();
    const params: { mode: string; max_players: number; name?: string } = {
      mode: createMode.value,
      max_players: size.valueAsNumber,
    };
    if (name.value.trim() !== "") params.name = name.value.trim();
    void app
      .run(() => app.api.rooms.create(params), "Creating the room")
      .then((room) => {
        if (room === undefined) return;
        name.value = "";
        app.applyRoom(room);
      });
  });

  // The room you are in.
  const panel = h("div", { class: "room", testid: "room-panel" });
  const renderPanel = (room: Room): void => {
    const me = room.players.find((player) => player.user_id === app.userId);
    const ready = me?.ready ?? false;
    fill(
      panel,
      h(
        "div",
        { class: "room-head" },
        h("h3", { testid: "room-name" }, room.name ?? "Your room"),
        h("span", { class: "badge" }, room.mode),
        h(
          "span",
          { class: "muted", testid: "room-status", "data-status": room.status },
          room.status === "starting" ? "starting…" : `${room.free_seats} free seat(s)`,
        ),
      ),
      h(
        "ul",
        { class: "players", testid: "room-players" },
        room.players.map((player) =>
          h(
            "li",
            { testid: "room-player", "data-user-id": player.user_id, "data-ready": String(player.ready) },
            h(
              "span",
              { class: "grow" },
              app.name(player.user_id),
              player.user_id === app.userId ? " (you)" : "",
              player.user_id === room.owner ? h("span", { class: "badge" }, "owner") : null,
            ),
            h(
              "span",
              { class: player.ready ? "ready yes" : "ready no" },
              player.ready ? "ready" : "not ready",
            ),
          ),
        ),
      ),
      h(
        "div",
        { class: "row" },
        h(
          "button",
          {
            type: "button",
            class: ready ? "" : "primary",
            testid: "room-ready",
            "data-ready": String(ready),
            disabled: room.status === "starting",
            onclick: () =>
              void app
                .run(() => app.api.rooms.ready({ room_id: room.room_id, ready: !ready }), "Changing ready")
                .then((updated) => {
                  if (updated !== undefined) app.applyRoom(updated);
                }),
          },
          ready ? "Not ready" : "I'm ready",
        ),
        h(
          "button",
          {
            type: "button",
            testid: "room-leave",
            onclick: () =>
              void app
                .run(() => app.api.rooms.leave({ room_id: room.room_id }), "Leaving the room")
                .then((left) => {
                  if (left === undefined) return;
                  app.roomGone(room.room_id);
                  void refresh();
                }),
          },
          "Leave room",
        ),
      ),
    );
  };

  const browse = h(
    "div",
    { testid: "rooms-browse" },
    h("div", { class: "row" }, h("label", {}, "Mode", listMode), refreshButton),
    list,
    h("h3", {}, "New room"),
    createForm,
  );

  let wasIn = false;
  let hadClient = false;
  app.onChange(() => {
    if (app.client !== null && !hadClient) queueMicrotask(() => void refresh());
    hadClient = app.client !== null;
    const room = app.room;
    show(panel, room !== null);
    show(browse, room === null);
    if (room !== null) renderPanel(room);
    create.disabled = app.privateRoom !== null || app.search !== null;
    renderList();
    if (wasIn && room === null && visible()) void refresh();
    wasIn = room !== null;
  });

  return h("div", { class: "card", testid: "rooms-card" }, h("h2", {}, "Public rooms"), panel, browse);
}
