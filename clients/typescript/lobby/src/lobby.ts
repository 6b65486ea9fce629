// The lobby view: quick match, public rooms, private rooms.

import type { App } from "./app.js";
import { byTestId, fill, h } from "./dom.js";
import { matchCard } from "./match.js";
import { privateCard } from "./private.js";
import { roomsCard } from "./rooms.js";

export function mountLobby(app: App): void {
  const view = byTestId("lobby-view");
  const visible = (): boolean => !view.hidden;
  fill(
    view,
    h(
      "div",
      { class: "columns" },
      h("div", { class: "column" }, matchCard(app), privateCard(app)),
      h("div", { class: "column" }, roomsCard(app, visible)),
    ),
  );
}
