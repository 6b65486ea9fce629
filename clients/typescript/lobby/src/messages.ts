// The message area under the header: every error the page meets (a WarrenError's message and
// code), and short notes about what happened (a search that expired, a room that closed).
// Errors stay until dismissed; notes go after a few seconds. Nothing is swallowed: an error that
// is not a WarrenError is shown with its text too.

import { WarrenError } from "../../src/index.js";
import { byTestId, h } from "./dom.js";

const NOTE_MS = 6_000;
const KEEP = 5;

export function showError(error: unknown, context?: string): void {
  const [text, code] = describe(error);
  add("error", context === undefined ? text : `${context}: ${text}`, code);
}

export function showNote(text: string): void {
  add("note", text);
}

export function clearMessages(): void {
  byTestId("messages").replaceChildren();
}

/** The message and the code to show for an error. */
export function describe(error: unknown): [string, string | undefined] {
  if (error instanceof WarrenError) return [error.message, error.code];
  if (error instanceof Error) return [error.message || error.name, undefined];
  return [String(error), undefined];
}

function add(kind: "error" | "note", text: string, code?: string): void {
  const area = byTestId("messages");
  const item = h(
    "div",
    {
      class: `message ${kind}`,
      testid: "message",
      "data-kind": kind,
      "data-code": code,
      role: kind === "error" ? "alert" : "status",
    },
    h("span", { class: "message-text" }, text),
    code === undefined ? null : h("code", { class: "message-code" }, code),
    h(
      "button",
      { class: "link", type: "button", "aria-label": "Dismiss", onclick: () => item.remove() },
      "×",
    ),
  );
  area.prepend(item);
  while (area.children.length > KEEP) area.lastElementChild?.remove();
  if (kind === "note") setTimeout(() => item.remove(), NOTE_MS);
}
