// Private rooms: create one and show its code, join by code, invite a player by user id (the
// protocol invites by id: each player's id is in the header with a Copy button), and the
// invitations you get (`private_room.invited`), each with a Join button.

import { copy } from "./account.js";
import type { App } from "./app.js";
import { fill, h, select, show } from "./dom.js";
import { showNote } from "./messages.js";
import { MODES, type Invited, type PrivateRoom } from "./types.js";

/** `K7PMR4XQ2H` → `K7PMR-4XQ2H`, whatever form the server sends it in. */
export function formatCode(code: string): string {
  const symbols = code.replace(/[\s-]/g, "").toUpperCase();
  return symbols.length === 10 ? `${symbols.slice(0, 5)}-${symbols.slice(5)}` : code;
}

export function privateCard(app: App): HTMLElement {
  const join = (code: string): void => {
    void app
      .run(() => app.api.privateRooms.join({ code }), "Joining by code")
      .then((room) => {
        if (room === undefined) return;
        app.invitations = app.invitations.filter((invited) => invited.room_id !== room.room_id);
        app.applyRoom(room);
      });
  };

  // Create, or join by code.
  const mode = select("private-mode", MODES, "tic-tac-toe");
  const size = h("input", { testid: "private-size", type: "number", min: 2, max: 16, value: 2 });
  const create = h("button", { type: "submit", testid: "private-create" }, "Create private room");
  const createForm = h(
    "form",
    { class: "row", testid: "private-create-form" },
    h("label", {}, "Mode", mode),
    h("label", { class: "narrow" }, "Size", size),
    create,
  );
  mode.addEventListener("change", () => {
    if (mode.value === "tic-tac-toe") size.value = "2";
  });
  createForm.addEventListener("submit", (event) => {
    event.preventDefault();
    void app
      .run(
        () => app.api.privateRooms.create({ mode: mode.value, max_players: size.valueAsNumber }),
        "Creating the private room",
      )
      .then((room) => {
        if (room !== undefined) app.applyRoom(room);
      });
  });
  const code = h("input", {
    testid: "join-code",
    placeholder: "K7PMR-4XQ2H",
    required: true,
    maxlength: 32,
    autocomplete: "off",
  });
  const joinButton = h("button", { type: "submit", testid: "private-join" }, "Join");
  const joinForm = h(
    "form",
    { class: "row", testid: "private-join-form" },
    h("label", { class: "grow" }, "Invite code", code),
    joinButton,
  );
  joinForm.addEventListener("submit", (event) => {
    event.preventDefault();
    join(code.value);
  });
  const outside = h("div", { testid: "private-outside" }, createForm, joinForm);

  // The private room you are in.
  const invitee = h("input", {
    testid: "invite-user-id",
    placeholder: "a player's user id",
    required: true,
    autocomplete: "off",
  });
  const inviteForm = h(
    "form",
    { class: "row", testid: "invite-form" },
    h("label", { class: "grow" }, "Invite by user id", invitee),
    h("button", { type: "submit", testid: "invite-send" }, "Invite"),
  );
  let current: PrivateRoom | null = null;
  inviteForm.addEventListener("submit", (event) => {
    event.preventDefault();
    const room = current;
    const userId = invitee.value.trim();
    if (room === null) return;
    void app
      .run(() => app.api.privateRooms.invite({ room_id: room.room_id, user_id: userId }), "Inviting")
      .then((done) => {
        if (done === undefined) return;
        invitee.value = "";
        showNote(`Invitation sent to ${app.name(userId)}.`);
      });
  });
  const details = h("div", {});
  const actions = h("div", { class: "row" });
  const inside = h("div", { class: "room", testid: "private-panel" }, details, inviteForm, actions);
  const renderInside = (room: PrivateRoom): void => {
    const owner = room.owner === app.userId;
    fill(
      details,
      h(
        "div",
        { class: "code-box" },
        h("span", { class: "muted" }, "Invite code"),
        h("strong", { class: "code", testid: "private-code", "data-code": room.code }, formatCode(room.code)),
        h(
          "button",
          {
            type: "button",
            class: "small",
            testid: "copy-code",
            onclick: () => copy(formatCode(room.code), "Code"),
          },
          "Copy",
        ),
      ),
      h(
        "p",
        { class: "muted" },
        `${room.mode}, ${room.players.length}/${room.max_players} players: it starts when full. Expires at `,
        new Date(room.expires_at).toLocaleTimeString(),
        ".",
      ),
      h(
        "ul",
        { class: "players", testid: "private-players" },
        room.players.map((player) =>
          h(
            "li",
            { testid: "private-player", "data-user-id": player.user_id },
            h(
              "span",
              { class: "grow" },
              app.name(player.user_id),
              player.user_id === app.userId ? " (you)" : "",
            ),
            player.user_id === room.owner ? h("span", { class: "badge" }, "owner") : null,
          ),
        ),
      ),
    );
    fill(
      actions,
      h(
        "button",
        {
          type: "button",
          testid: "private-leave",
          onclick: () =>
            void app
              .run(() => app.api.privateRooms.leave({ room_id: room.room_id }), "Leaving the private room")
              .then((done) => {
                if (done !== undefined) app.roomGone(room.room_id);
              }),
        },
        "Leave",
      ),
      owner
        ? h(
            "button",
            {
              type: "button",
              class: "danger",
              testid: "private-close",
              onclick: () =>
                void app
                  .run(
                    () => app.api.privateRooms.close({ room_id: room.room_id }),
                    "Closing the private room",
                  )
                  .then((done) => {
                    if (done !== undefined) app.roomGone(room.room_id);
                  }),
            },
            "Close room",
          )
        : null,
    );
    show(inviteForm, owner);
  };

  app.onChange(() => {
    current = app.privateRoom;
    show(inside, current !== null);
    show(outside, current === null);
    if (current !== null) renderInside(current);
    create.disabled = joinButton.disabled = app.room !== null || app.search !== null;
  });

  return h("div", { class: "card", testid: "private-card" }, h("h2", {}, "Private room"), inside, outside);
}

/** The invitations received, newest first, each with Join and Dismiss. */
export function invitationsBar(app: App): HTMLElement {
  const bar = h("div", { class: "invitations", testid: "invitations" });
  const dismiss = (invited: Invited): void => {
    app.invitations = app.invitations.filter((known) => known !== invited);
    app.changed();
  };
  app.onChange(() => {
    show(bar, app.invitations.length > 0);
    fill(
      bar,
      app.invitations.map((invited) =>
        h(
          "div",
          { class: "invitation", testid: "invitation", "data-room-id": invited.room_id },
          h(
            "span",
            { class: "grow" },
            h("strong", {}, app.name(invited.from)),
            ` invites you to a private ${invited.mode} room for ${invited.max_players}.`,
          ),
          h(
            "button",
            {
              type: "button",
              class: "primary small",
              testid: "invitation-join",
              onclick: () =>
                void app
                  .run(() => app.api.privateRooms.join({ code: invited.code }), "Joining the invitation")
                  .then((room) => {
                    if (room === undefined) return;
                    dismiss(invited);
                    app.applyRoom(room);
                  }),
            },
            "Join",
          ),
          h(
            "button",
            { type: "button", class: "small", testid: "invitation-dismiss", onclick: () => dismiss(invited) },
            "Dismiss",
          ),
        ),
      ),
    );
  });
  return bar;
}
